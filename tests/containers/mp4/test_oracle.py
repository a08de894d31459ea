"""Oracle: the samples table equals, row by row, what PyAV's demuxer reports.

For every fixture video (moov at head and tail, B-frames, audio + video,
audio first, long and short GOPs, HEVC/AV1/VP9/MPEG-4, QuickTime, negative
composition offsets, empty edits, no edit list, 64-bit chunk offsets) the
file is indexed the way the torrent path does it (only the ranges asked
for) and compared with ``packet.pos/size/pts/dts/is_keyframe`` per stream.
"""

from __future__ import annotations

from pathlib import Path

import av
import pandas as pd
import pytest

from torframes.containers.base import SAMPLE_DTYPES, TRACK_DTYPES
from torframes.containers.local import index_file

ORACLE = [
    "h264_tail",
    "h264_head",
    "h264_bframes",
    "h264_bframes_head",
    "av_audio",
    "audio_first",
    "gop48",
    "gop250",
    "gop1",
    "gop2",
    "gop3",
    "hevc",
    "av1",
    "vp9",
    "mpeg4",
    "mov",
    "mov_head",
    "negative_cts",
    "empty_edit",
    "no_editlist",
    "hevc_open_gop",
]


@pytest.mark.parametrize("name", ORACLE)
def test_samples_match_pyav(name, video, demux, assert_matches_pyav):
    path = video(name)
    local = index_file(path)
    assert_matches_pyav(local.samples, demux(path))
    assert local.samples.dtypes.astype(str).to_dict() == SAMPLE_DTYPES
    assert local.tracks.dtypes.astype(str).to_dict() == TRACK_DTYPES


@pytest.mark.parametrize(
    ("codec", "fourcc", "name"),
    [
        ("pcm_s16le", "sowt", "pcm_s16le"),
        ("pcm_s24le", "in24", "pcm_s24le"),
        ("pcm_u8", "raw ", "pcm_u8"),
    ],
)
def test_pcm_audio_matches_pyav(codec, fourcc, name, pcm_video, demux, assert_matches_pyav):
    path = pcm_video(codec)
    local = index_file(path)
    assert_matches_pyav(local.samples, demux(path))
    audio = local.tracks.set_index("track_id").loc[2]
    assert (audio.codec, audio.codec_name) == (fourcc, name)
    rows = local.samples[local.samples.track_id == 2]
    assert audio.samples == len(rows) < 48000 / 1024 + 24  # packets, not PCM frames
    assert rows["sample"].tolist()[:3] == [0, 1024, 2000]  # first PCM frame of each packet


@pytest.mark.parametrize("name", ["h264_bframes_head", "av_audio"])
@pytest.mark.parametrize("large_mdat", [False, True])
def test_co64_matches_pyav(
    name, large_mdat, video, demux, assert_matches_pyav, rewrite_co64, tmp_path
):
    data = rewrite_co64(Path(video(name)).read_bytes(), large_mdat=large_mdat)
    assert b"co64" in data
    assert b"stco" not in data
    path = tmp_path / "co64.mp4"
    path.write_bytes(data)
    local = index_file(path)
    assert_matches_pyav(local.samples, demux(path))
    original = index_file(video(name)).samples
    pd.testing.assert_series_equal(local.samples.pts, original.pts)
    layout = dict(local.index.layout)
    if "mdat" in layout:  # moov at the tail: the mdat header was walked
        mdat = layout["mdat"]
        assert data[mdat.start + 4 : mdat.start + 8] == b"mdat"
        assert layout["moov"].start == mdat.stop


def test_tracks_table(video):
    local = index_file(video("mov"))
    tracks = local.tracks.set_index("track_id")
    assert list(tracks.index) == [1, 2]
    video_row, audio_row = tracks.loc[1], tracks.loc[2]
    assert (video_row.kind, video_row.codec, video_row.codec_name) == ("video", "avc1", "h264")
    assert (video_row.width, video_row.height, video_row.timescale) == (320, 240, 12288)
    assert (video_row.samples, video_row.keyframes) == (48, 4)
    assert video_row.duration_s == pytest.approx(2.0)
    assert (audio_row.kind, audio_row.codec, audio_row.codec_name) == ("audio", "mp4a", "aac")
    assert pd.isna(audio_row.width)
    assert audio_row.timescale == 48000
    assert set(local.tracks.indexed_by) == {"moov"}
    assert pd.isna(video_row.language)  # QuickTime 0x7FFF: no language
    assert index_file(video("h264_tail")).tracks.language.tolist() == ["und"]


def test_samples_table_columns(video):
    samples = index_file(video("av_audio")).samples
    assert samples.track_id.is_monotonic_increasing
    for _, rows in samples.groupby("track_id"):
        assert rows["sample"].is_monotonic_increasing
        assert rows["sample"].iloc[0] == 0
        assert (rows.chunk.diff().dropna() >= 0).all()
    video_rows = samples[samples.track_id == 1]
    assert (video_rows.time == video_rows.pts / 12288).all()
    assert (video_rows.duration == 512).all()
    assert video_rows.pts.iloc[0] == 0
    assert video_rows.dts.iloc[0] < 0


@pytest.mark.parametrize(
    ("name", "codec_name"),
    [
        ("h264_tail", "h264"),
        ("hevc", "hevc"),
        ("av1", "av1"),
        ("mpeg4", "mpeg4"),
        ("av_audio", "aac"),
    ],
)
def test_extradata_is_what_ffmpeg_uses(name, codec_name, video):
    path = video(name)
    configs = index_file(path).index.decoder_configs
    with av.open(str(path)) as container:
        stream = container.streams[-1]
        config = configs[stream.id]
        assert config.codec_name == codec_name
        assert config.extradata == stream.codec_context.extradata
        if stream.type == "video":
            assert (config.width, config.height) == (320, 240)


def test_vp9_config_is_vpcc_payload(video):
    path = video("vp9")
    config = index_file(path).index.decoder_configs[1]
    data = Path(path).read_bytes()
    at = data.find(b"vpcC")
    size = int.from_bytes(data[at - 4 : at], "big")
    assert config.codec_name == "vp9"
    assert config.extradata == data[at + 4 : at - 4 + size]
