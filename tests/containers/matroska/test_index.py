"""The Matroska index parser on files from PyAV's muxers and from the hand muxer.

Oracle: PyAV's demux of the complete file. A located keyframe's payload
starts where FFmpeg's ``packet.pos`` (the block's data) plus the block
header puts it, and holds exactly the packet's bytes.
"""

from __future__ import annotations

import av
import pytest

from torframes.containers.base import SAMPLE_DTYPES, TRACK_DTYPES, ByteRange, ContainerIndex
from torframes.containers.local import index_file
from torframes.containers.matroska import ClusterLocator, MatroskaIndexParser
from torframes.containers.matroska.index import HEAD_BYTES
from torframes.containers.sniff import AutoIndexParser, sniff
from torframes.errors import UnsupportedContainer
from torframes.testing.videos import read_frame_index

KiB = 1024

CASES = {
    "h264-mkv": dict(codec="h264", container="mkv"),
    "h264-bframes-audio": dict(codec="h264", container="mkv", bframes=2, audio=True),
    "h264-front": dict(codec="h264", container="mkv", muxer_options={"cues_to_front": "1"}),
    "hevc-mkv": dict(codec="hevc", container="mkv"),
    "vp9-webm-audio": dict(codec="vp9", container="webm", audio=True),
    "av1-webm": dict(codec="av1", container="webm"),
    "vp8-webm": dict(codec="vp8", container="webm"),
    "mpeg4-mkv": dict(codec="mpeg4", container="mkv", audio=True, audio_first=True),
    "vp9-mkv-no-crc": dict(codec="vp9", container="mkv", muxer_options={"write_crc32": "0"}),
}


def check_against_pyav(drive, data: bytes, index: ContainerIndex, track: int = 1) -> list:
    """Every row of ``track`` located matches a PyAV keyframe, and every PyAV keyframe is listed."""
    keyframes = drive.demux_keyframes(data, track - 1)
    located = drive.locate_all(data, index, track)
    assert len(located) == len(keyframes)
    for got, (pos, size, pts, payload) in zip(located, keyframes, strict=True):
        assert got.offset - pos == 4  # track number (1 octet), timecode (2), flags (1)
        assert (got.size, got.pts, got.is_keyframe) == (size, pts, True)
        assert data[got.offset : got.offset + got.size] == payload
    return located


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_cue_keyframes_match_pyav(videos, drive, case) -> None:
    path = videos(frames=48, gop=12, **case)
    data = path.read_bytes()
    run = drive.parse(data)
    index = run.index
    assert index.container == ("webm" if case["container"] == "webm" else "matroska")
    assert not index.complete
    assert dict(index.samples.dtypes.astype(str)) == SAMPLE_DTYPES
    assert dict(index.tracks.dtypes.astype(str)) == TRACK_DTYPES
    video = index.tracks[index.tracks["kind"] == "video"].iloc[0]
    assert (video["width"], video["height"], video["timescale"]) == (128, 64, 1000)
    assert set(index.tracks["indexed_by"]) == {"cues"}
    track = int(video["track_id"])
    rows = index.samples[index.samples["track_id"] == track]
    assert len(rows) == len(index.samples)  # FFmpeg cues video keyframes only
    assert rows["size"].isna().all()
    assert rows["sample"].isna().all()
    assert rows["is_keyframe"].all()
    assert (rows["time"] * 1000 == rows["pts"]).all()
    check_against_pyav(drive, data, index, track)
    with av.open(str(path)) as container:
        decoder = container.streams.video[0].codec_context.name
        assert video["codec_name"] == decoder.replace("libdav1d", "av1")


@pytest.mark.parametrize("codec", ["h264", "hevc", "vp9", "av1", "vp8", "mpeg4"])
def test_located_keyframes_decode_to_the_right_frames(videos, drive, codec) -> None:
    path = videos(
        codec=codec,
        container="webm" if codec in ("vp9", "av1", "vp8") else "mkv",
        frames=36,
        gop=12,
    )
    data = path.read_bytes()
    index = drive.parse(data).index
    config = index.decoder_configs[1]
    rows = index.samples[index.samples["track_id"] == 1]
    located = drive.locate_all(data, index, 1)
    assert len(located) == 3
    for (_, row), got in zip(rows.iterrows(), located, strict=True):
        frame = drive.decode(config, data[got.offset : got.offset + got.size])
        assert read_frame_index(frame) == round(row["time"] * 24)


@pytest.fixture(scope="module")
def big(videos):
    """A 3.7 MB file: noisy frames, 10 s, a keyframe and Cluster every 0.5 s, audio.

    Its Cues are far beyond the head.
    """
    return videos(
        codec="h264",
        container="mkv",
        frames=240,
        gop=12,
        noise=True,
        audio=True,
        width=320,
        height=240,
    )


def index_with_matroska_parser(path):
    return index_file(path, parser=MatroskaIndexParser(path.stat().st_size))


def test_back_cues_take_two_reads(big) -> None:
    result = index_with_matroska_parser(big)
    size = big.stat().st_size
    cues = dict(result.index.layout)["Cues"]
    assert cues.stop == size
    assert result.reads == (ByteRange(0, HEAD_BYTES), cues)  # the head, then Cues exactly
    assert len(result.samples) == 20
    assert result.bytes_read < HEAD_BYTES + 2 * KiB
    # Through the sniffing parser: its 64-byte signature read comes first.
    assert index_file(big).reads == (ByteRange(0, 64), ByteRange(64, HEAD_BYTES), cues)


def test_front_cues_take_one_read(big, mkv, tmp_path) -> None:
    front = mkv.remux(big, tmp_path / "front.mkv", options={"cues_to_front": "1"})
    result = index_with_matroska_parser(front)
    assert result.reads == (ByteRange(0, HEAD_BYTES),)
    layout = dict(result.index.layout)
    assert layout["Cues"].stop <= layout["Clusters"].start
    assert len(result.samples) == 20


def test_cues_past_the_head_and_not_last(big, mkv, tmp_path) -> None:
    """Front Cues larger than the head: the head shows their header; one exact read follows."""
    front = mkv.remux(big, tmp_path / "front.mkv", options={"cues_to_front": "1"})
    cues = dict(index_with_matroska_parser(front).index.layout)["Cues"]
    head = cues.start + 12
    result = index_file(front, parser=MatroskaIndexParser(front.stat().st_size, head_bytes=head))
    assert result.reads == (ByteRange(0, head), ByteRange(head, cues.stop))
    # Not even the header held: a 4 KiB peek (Clusters may follow before the next
    # element placed); these Cues fit in it.
    result = index_file(
        front, parser=MatroskaIndexParser(front.stat().st_size, head_bytes=cues.start)
    )
    peek = ByteRange(cues.start, cues.start + 4 * KiB)
    assert cues.stop <= peek.stop
    assert result.reads == (ByteRange(0, cues.start), peek)


def test_index_ranges_and_layout(big) -> None:
    index = index_file(big).index
    layout = dict(index.layout)
    for name in ("EBML", "Segment", "SeekHead", "Info", "Tracks", "Cues", "Clusters", "Tags"):
        assert name in layout
    wanted = {layout["EBML"], layout["SeekHead"], layout["Info"], layout["Tracks"], layout["Cues"]}
    covered = [r for r in index.index_ranges]
    for r in wanted:
        assert any(c.start <= r.start and r.stop <= c.stop for c in covered), r
    assert sum(r.length for r in index.index_ranges) < 2 * KiB
    assert layout["Clusters"] == ByteRange(index.samples["offset"].iloc[0], layout["Cues"].start)


def test_no_cues_probes_are_bounded(big, mkv, drive, tmp_path) -> None:
    """A file muxed as to a pipe: unknown Segment size, no Cues. Probes, never a linear read."""
    limits = {"cluster_size_limit": str(4 << 20), "cluster_time_limit": "5000"}  # a Cluster per GOP
    piped = mkv.remux(big, tmp_path / "piped.mkv", seekable=False, options=limits)
    data = piped.read_bytes()
    options = dict(probes=4, probe_window=48 * KiB, probe_widenings=2, probe_budget=len(data) // 4)
    rounds = len(drive.parse(data, **options).needs)
    assert rounds <= 1 + 1 + 2  # the head, then one Need per widening for all probes
    result = index_file(piped, parser=MatroskaIndexParser(len(data), **options))
    index = result.index
    assert "no Cues" in index.notes[0]
    assert result.bytes_read <= 64 * KiB + len(data) // 4
    rows = index.samples
    assert len(rows) == 4
    assert index.tracks["indexed_by"].iloc[0] == "probe"
    keyframes = {pos + 4: (size, pts) for pos, size, pts, _ in drive.demux_keyframes(data)}
    for _, row in rows.iterrows():
        assert keyframes[row["offset"]] == (row["size"], row["pts"])
    # Default settings: up to 64 probes, within a quarter of the file (or 1 MiB).
    default = drive.parse(data)
    assert len(default.needs) <= 1 + 1 + 3
    assert default.bytes_asked <= 64 * KiB + max(len(data) // 4, 1 << 20)
    assert len(default.index.samples) >= 4
    # Rows are exact: the locator answers without reading.
    located, needs = drive.locate(data, index.locator(rows.iloc[1]))
    assert not needs
    assert (located.offset, located.size) == (rows["offset"].iloc[1], rows["size"].iloc[1])


def test_live_muxer_without_cues(videos, drive) -> None:
    data = videos(
        codec="vp9", container="webm", frames=48, gop=12, muxer_options={"live": "1"}
    ).read_bytes()
    run = drive.parse(data, probes=4)
    assert run.index.tracks["indexed_by"].iloc[0] == "probe"
    assert len(run.index.samples) >= 2


def test_unknown_size_segment_and_clusters(videos, mkv, drive) -> None:
    original = videos(codec="h264", container="mkv", frames=48, gop=12, audio=True).read_bytes()
    data = mkv.unknown_sizes(original)
    run = drive.parse(data)
    assert "Cluster" not in dict(run.index.layout)
    assert len(run.needs) == 2  # the head, then the Cues the SeekHead points at
    check_against_pyav(drive, data, run.index)


def test_probes_through_clusters_of_unknown_size(videos, mkv, drive, tmp_path) -> None:
    """No Cues, no sizes at all: probes resync on Cluster IDs, Clusters end at the next one."""
    source = videos(codec="vp9", container="webm", frames=96, gop=12, audio=True)
    piped = mkv.remux(source, tmp_path / "piped.webm", fmt="webm", seekable=False)
    data = mkv.unknown_sizes(piped.read_bytes())
    index = drive.parse(data, probes=6, probe_window=4 * KiB).index
    assert index.tracks["indexed_by"].iloc[0] == "probe"
    keyframes = {pos + 4: (size, pts) for pos, size, pts, _ in drive.demux_keyframes(data)}
    assert len(index.samples) >= 3
    for _, row in index.samples.iterrows():
        assert keyframes[row["offset"]] == (row["size"], row["pts"])


def test_several_keyframes_per_cluster(videos, drive) -> None:
    """gop=1, tiny frames: FFmpeg puts many keyframes in a Cluster, with CueRelativePosition."""
    data = videos(codec="h264", container="mkv", frames=24, gop=1).read_bytes()
    index = drive.parse(data).index
    rows = index.samples
    assert rows["offset"].nunique() < len(rows)
    located = check_against_pyav(drive, data, index)
    # Without the relative position, the locator walks the Cluster to the block at CueTime.
    for (_, row), expected in zip(rows.iterrows(), located, strict=True):
        walker = ClusterLocator(len(data), int(row["offset"]), 1, len(data), target=int(row["pts"]))
        got, needs = drive.locate(data, walker)
        assert got == expected
        assert len(needs) == 1


@pytest.fixture(scope="module")
def h264_frames(videos, mkv):
    path = videos(codec="h264", container="mkv", frames=36, gop=6)
    with av.open(str(path)) as container:
        private = container.streams.video[0].codec_context.extradata
    return mkv.track_entry(1, "V_MPEG4/ISO/AVC", private=private), mkv.packets(path)


HAND_CASES = {
    "plain": {},
    "front-cues": dict(cues="front"),
    "no-relative": dict(relative=False),
    "block-groups-voids-crc": dict(block_groups=True, voids=True, crc=True),
    "second-seekhead": dict(second_seekhead=True),
    "unknown-sizes": dict(unknown_sizes=True),
    "ebml-lacing": dict(lace={1: ("ebml", 2)}),
    "xiph-lacing": dict(lace={1: ("xiph", 3)}),
}


@pytest.mark.parametrize("case", HAND_CASES.values(), ids=HAND_CASES.keys())
def test_hand_muxed_files(h264_frames, mkv, drive, case) -> None:
    entry, frames = h264_frames
    data = mkv.build([entry], frames, **case)
    run = drive.parse(data)
    assert len(run.needs) <= 3
    keyframes = drive.demux_keyframes(data)
    located = drive.locate_all(data, run.index, 1)
    assert len(located) == len(keyframes) == 6
    config = run.index.decoder_configs[1]
    for got, (pos, size, pts, payload) in zip(located, keyframes, strict=True):
        assert (got.size, got.pts) == (size, pts)
        assert data[got.offset : got.offset + got.size] == payload  # a laced block's first frame
        assert got.offset > pos
        assert read_frame_index(drive.decode(config, payload)) == round(pts * 24 / 1000)


def test_fixed_lacing_audio_beside_video(h264_frames, mkv, drive) -> None:
    entry, frames = h264_frames
    pcm = [mkv.Frame(2, f.pts, True, bytes([i % 256]) * 96) for i, f in enumerate(frames)]
    mixed = sorted(frames + pcm, key=lambda f: (f.pts, f.track))
    audio = mkv.track_entry(2, "A_PCM/INT/LIT", kind=2)
    data = mkv.build([entry, audio], mixed, lace={2: ("fixed", 4)})
    run = drive.parse(data)
    assert list(run.index.tracks["codec_name"]) == ["h264", "pcm_s16le"]
    check_against_pyav(drive, data, run.index)


def test_header_stripping_becomes_sample_prefix(videos, mkv, drive) -> None:
    path = videos(codec="mpeg4", container="mkv", frames=24, gop=6)
    with av.open(str(path)) as container:
        private = container.streams.video[0].codec_context.extradata
    frames = mkv.packets(path)
    prefix = b"\x00\x00\x01"  # start codes: GOV (keyframes) or VOP
    assert all(f.data.startswith(prefix) for f in frames)
    entry = mkv.track_entry(
        1, "V_MPEG4/ISO/ASP", private=private, extra=mkv.header_stripping(prefix)
    )
    data = mkv.build([entry], frames, strip={1: prefix})
    index = drive.parse(data).index
    config = index.decoder_configs[1]
    assert config.sample_prefix == prefix
    keyframes = drive.demux_keyframes(data)
    for got, (_, size, pts, payload) in zip(
        drive.locate_all(data, index, 1), keyframes, strict=True
    ):
        sample = data[got.offset : got.offset + got.size]
        assert prefix + sample == payload
        assert got.size == size - len(prefix)
        assert read_frame_index(drive.decode(config, sample)) == round(pts * 24 / 1000)


def test_pieces_fed_whole(big) -> None:
    """A driver feeding whole 256 KiB pieces gets the same index in no more rounds."""
    data = big.read_bytes()
    parser = AutoIndexParser(len(data))
    piece, rounds = 256 * KiB, 0
    while not isinstance(step := parser.step(), ContainerIndex):
        rounds += 1
        for wanted in step.ranges:
            for start in range(wanted.start // piece * piece, wanted.stop, piece):
                parser.feed(start, data[start : start + piece])
    assert rounds == 2
    assert step.samples["offset"].tolist() == index_file(big).samples["offset"].tolist()


def test_sniffing_names_webm_and_matroska(videos, mkv) -> None:
    webm = videos(codec="vp8", container="webm", frames=12, gop=6)
    assert sniff(webm.read_bytes()[:64]) == "webm"
    assert sniff(mkv.ebml_header("matroska")) == "matroska"
    assert index_file(webm).index.container == "webm"
    with pytest.raises(UnsupportedContainer, match="'dvb'"):
        sniff(mkv.ebml_header("dvb"))


def test_second_seekhead_at_the_end(h264_frames, mkv, drive) -> None:
    """The first SeekHead places Info and a second SeekHead, which places Tracks and Cues."""
    entry, frames = h264_frames
    data = mkv.build([entry], frames, second_seekhead=True)
    run = drive.parse(data, head_bytes=200)
    assert len(run.needs) == 3  # the head; the second SeekHead (and Info, Tracks); the Cues
    layout = dict(run.index.layout)
    assert run.needs[-1].ranges == (layout["Cues"],)
    assert len(run.index.samples) == 6


def test_cues_without_the_video_track_fall_back_to_probes(h264_frames, mkv, drive) -> None:
    entry, frames = h264_frames
    audio = mkv.track_entry(2, "A_PCM/INT/LIT", kind=2)
    pcm = [mkv.Frame(2, f.pts, True, b"\0" * 64) for f in frames]
    data = mkv.build([entry, audio], sorted(frames + pcm, key=lambda f: (f.pts, f.track)))
    # Make every CueTrack name track 2 (CueTrack is F7 81 01 in this file's Cues).
    cues = dict(drive.parse(data).index.layout)["Cues"]
    data = data[: cues.start] + data[cues.start :].replace(b"\xf7\x81\x01", b"\xf7\x81\x02")
    index = drive.parse(data, probes=3).index
    assert list(index.tracks["indexed_by"]) == ["probe", "cues"]
    assert "Cues list no keyframe of track 1" in index.notes[-1]
    video = index.samples[index.samples["track_id"] == 1]
    assert len(video) == 3
    assert video["size"].notna().all()


def test_probing_disabled_and_cues_past_the_segment(h264_frames, mkv, drive) -> None:
    entry, frames = h264_frames
    index = drive.parse(mkv.build([entry], frames, cues=None), probes=0).index
    assert len(index.samples) == 0
    assert "probing disabled" in index.notes[-1]
    data = mkv.build([entry], frames)
    cues = dict(drive.parse(data).index.layout)["Cues"]
    # The last CuePoint's CueClusterPosition (8 octets, F1 88 ...) made huge.
    at = data.rindex(b"\xf1\x88")
    data = data[: at + 2] + b"\x01" + data[at + 3 :]
    assert at > cues.start
    index = drive.parse(data).index
    assert len(index.samples) == 5
    assert "1 cue points dropped" in index.notes[0]


def test_a_placed_cue_reads_only_the_headers(videos, drive) -> None:
    """With CueRelativePosition the locator reads the Cluster's head and the block's header,
    a few dozen bytes each: a wider read runs into pieces the frame does not touch."""
    data = videos(codec="vp9", container="webm", frames=48, gop=12, audio=True).read_bytes()
    index = drive.parse(data).index
    for _, row in index.samples[index.samples["track_id"] == 1].iterrows():
        located, needs = drive.locate(data, index.locator(row))
        asked = [r for need in needs for r in need.ranges]
        cluster = int(row["offset"])
        assert len(needs) == 1
        assert asked[0].start == cluster
        assert asked[0].length <= 64  # ID, size, CRC-32, Timestamp
        assert asked[-1].stop <= located.offset + 80  # the block's header, and a little
