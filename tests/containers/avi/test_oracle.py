"""AVI sample tables against FFmpeg's demux of the complete file (PyAV), and the reads they took.

Every row must be a packet FFmpeg demuxes, with its ``pos`` (the chunk's
data, after the 8-byte chunk header), size, dts and keyframe flag; pts too,
except where FFmpeg invents presentation times by parsing the frames (H.264,
MPEG-4 Part 2 with B-frames), which an index cannot do: there our pts is
FFmpeg's dts, and the index says so in its notes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from torframes.containers import index_file
from torframes.decode.decoder import decode_sample
from torframes.testing.videos import read_frame_index

from .conftest import FILES, check_rows

FPS = 24
#: Fixtures whose video pts FFmpeg derives by parsing frames (see module docstring).
PARSED_PTS = {"h264", "h264-pcm-absolute", "h264-pcm-odml-avix", "mpeg4-bframes"}


@pytest.mark.parametrize("name", list(FILES))
def test_rows_match_ffmpeg(avi_file: Callable[[str], Path], name: str) -> None:
    path = avi_file(name)
    samples = check_rows(path, parsed_pts=name in PARSED_PTS)
    local = index_file(path)
    tracks = local.tracks
    assert tracks["indexed_by"].unique().tolist() == ["indx" if "odml" in name else "idx1"]
    video = tracks[tracks["kind"] == "video"].iloc[0]
    assert video["codec_name"] == FILES[name]["codec"]
    assert (video["width"], video["height"]) == (320, 240)
    if FILES[name].get("audio"):
        audio = tracks[tracks["kind"] == "audio"].iloc[0]
        assert audio["codec_name"] == "pcm_s16le"
        assert audio["samples"] == (samples["track_id"] == audio["track_id"]).sum() > 0
    if name in PARSED_PTS:
        assert any("pts is the chunk's dts" in note for note in local.index.notes)


def test_a_file_written_by_mencoder(mencoder_file: Path) -> None:
    samples = check_rows(mencoder_file, parsed_pts=False)
    assert samples["is_keyframe"].sum() == 3  # keyint=8 over 24 frames


def test_xvid_with_packed_bframes(xvid_packed_file: Path) -> None:
    """Packed bitstream: a P-frame and the B-frame before it share a chunk, and a tiny
    N-VOP chunk holds the place, so chunk numbers follow presentation order."""
    samples = check_rows(xvid_packed_file, parsed_pts=True)
    assert (samples["size"] <= 8).sum() >= 4  # the placeholder N-VOPs
    index = index_file(xvid_packed_file).index
    assert index.tracks["codec"].tolist() == ["XVID"]
    data = xvid_packed_file.read_bytes()
    keyframes = samples[samples["is_keyframe"]]
    assert keyframes["sample"].tolist() == [0, 8, 16]
    for row in keyframes.itertuples():
        image = decode_sample(index.decoder_configs[0], data[row.offset : row.offset + row.size])
        assert read_frame_index(image) == round(row.time * FPS)


@pytest.mark.parametrize("name", ["mpeg4", "h264", "mjpeg", "mpeg4-odml", "h264-pcm-odml-avix"])
def test_every_keyframe_decodes_alone_to_its_frame(avi_file, name: str) -> None:
    local = index_file(avi_file(name))
    data = avi_file(name).read_bytes()
    video = local.tracks[local.tracks["kind"] == "video"].iloc[0]
    config = local.index.decoder_configs[int(video["track_id"])]
    rows = local.samples[(local.samples["track_id"] == video["track_id"])]
    keyframes = rows[rows["is_keyframe"]]
    assert len(keyframes) == (len(rows) // 12 if name != "mjpeg" else len(rows))
    for row in keyframes.itertuples():
        image = decode_sample(config, data[row.offset : row.offset + row.size])
        assert read_frame_index(image) == round(row.time * FPS)


def test_keyframes_of_a_bframe_stream_are_placed_by_decode_order(avi_file) -> None:
    """With B-frames, a keyframe's dts counts the frames decoded before it, not shown before it."""
    local = index_file(avi_file("mpeg4-bframes"))
    data = avi_file("mpeg4-bframes").read_bytes()
    config = local.index.decoder_configs[0]
    keyframes = local.samples[local.samples["is_keyframe"]]
    shown = [
        read_frame_index(decode_sample(config, data[r.offset : r.offset + r.size]))
        for r in keyframes.itertuples()
    ]
    decode_order = [round(t * FPS) for t in keyframes["time"]]
    assert shown[0] == decode_order[0] == 0
    assert all(0 <= s - d <= 2 for s, d in zip(shown, decode_order, strict=True))
