"""The transport stream index against FFmpeg's demux of the complete file (the oracle)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from torframes.containers.local import index_file
from torframes.containers.ts import TsIndexParser
from torframes.containers.ts.packets import M2TS, TS, detect_format
from torframes.containers.ts.scan import access_unit
from torframes.decode.decoder import decode_sample
from torframes.testing.oracle import demux_packets
from torframes.testing.ts import make_ts
from torframes.testing.videos import read_frame_index

from .conftest import FILES, WRAP, check_against_oracle, index_ts

FPS = 24


@pytest.mark.parametrize("name", sorted(FILES))
def test_searched_keyframes_match_ffmpeg(ts_file, name: str) -> None:
    path = ts_file(name)
    local = check_against_oracle(path, 6)
    index = local.index
    assert index.container == ("m2ts" if FILES[name].get("m2ts") else "mpegts")
    assert not index.complete
    assert local.bytes_read < path.stat().st_size  # never the whole file
    # every row decodes, alone, to the frame it says it is: the very picture FFmpeg
    # decodes there from the whole file
    config = index.decoder_configs[int(index.samples["track_id"].iloc[0])]
    data = path.read_bytes()
    pictures = decoded_pictures(path)
    for row in index.samples.itertuples():
        image = decode_sample(config, data[row.offset : row.offset + row.size])
        assert read_frame_index(image) == round(row.time * FPS)
        assert np.array_equal(np.asarray(image), pictures[row.pts % WRAP])


def decoded_pictures(path: Path) -> dict[int, np.ndarray]:
    """Every picture PyAV decodes from the complete file, by PTS modulo the wrap."""
    with av.open(str(path)) as container:
        return {
            frame.pts % WRAP: frame.to_ndarray(format="rgb24")
            for frame in container.decode(video=0)
        }


@pytest.mark.parametrize(
    ("codec", "width", "height"), [("h264", 320, 200), ("hevc", 400, 72), ("mpeg2video", 176, 120)]
)
def test_picture_size_from_the_parameter_sets(
    tmp_path: Path, codec: str, width: int, height: int
) -> None:
    """The SPS (with its cropping) or sequence header gives the size FFmpeg reports."""
    path = make_ts(tmp_path / "clip.ts", codec, frames=12, width=width, height=height)
    index = index_ts(path, 1).index
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        expected = (stream.codec_context.width, stream.codec_context.height)
    assert expected == (width, height)
    video = index.tracks[index.tracks["kind"] == "video"].iloc[0]
    assert (video["width"], video["height"]) == expected
    config = index.decoder_configs[int(video["track_id"])]
    assert (config.width, config.height) == expected


def test_a_row_spans_its_frame_and_nothing_of_the_next(ts_file) -> None:
    """``size`` runs to the next frame's first packet: its payload is FFmpeg's packet, whole."""
    path = ts_file("h264-b2")
    index = check_against_oracle(path, 4).index
    data = path.read_bytes()
    packets = demux_packets(path)
    video = packets[packets["kind"] == "video"].set_index("offset")
    pid = int(index.samples["track_id"].iloc[0])
    for row in index.samples.itertuples():
        payload = access_unit(data[row.offset : row.offset + row.size], TS, pid)
        assert len(payload) == video.loc[row.offset, "size"]
        following = video.index[video.index > row.offset].min()
        assert row.offset + row.size == following


def test_a_search_out_of_budget_gives_an_earlier_keyframe_and_reads_within_it(ts_file) -> None:
    path = ts_file("h264-b2")
    searches, reads, budget = 4, 2, 32 * 1024
    local = check_against_oracle(
        path, searches, exact=False, search_reads=reads, search_bytes=budget
    )
    # nothing found within so small a budget: the first keyframe answers every search,
    # and the searches read no more than they were allowed
    assert local.index.samples["time"].tolist() == [0.0]
    assert any("ran out of reads or bytes" in note for note in local.index.notes)
    edges = 2 * 64 * 1024
    spans = int(local.index.samples["size"].sum()) + 2 * 16 * 1024
    assert local.bytes_read <= edges + searches * budget + spans
    size = path.stat().st_size
    tight = TsIndexParser(size, searches=searches, search_reads=reads, search_bytes=budget)
    roomy = TsIndexParser(size, searches=searches)
    index_file(path, parser=tight)
    index_file(path, parser=roomy)
    assert tight.probe_result is not None
    assert roomy.probe_result is not None
    assert (tight.probe_result.failed, roomy.probe_result.failed) == (searches, 0)
    assert tight.probe_result.asked_bytes <= tight.probe_result.budget == searches * budget


def test_a_video_codec_whose_keyframes_are_not_searched_is_listed_and_said(
    tmp_path: Path,
) -> None:
    path = make_ts(tmp_path / "xvid.ts", "mpeg4", frames=24, audio=True)
    index = index_ts(path, 2).index
    video = index.tracks[index.tracks["kind"] == "video"]
    assert video[["codec", "codec_name"]].values.tolist() == [["0x10", "mpeg4"]]
    assert index.samples.empty
    assert any("(mpeg4) not searched" in note for note in index.notes)


def test_packet_formats_are_detected() -> None:
    packet = b"\x47" + bytes(187)
    assert detect_format(packet * 3) == TS
    assert detect_format((b"\0\0\0\0" + packet) * 3) == M2TS
    assert detect_format(packet * 2) is None
