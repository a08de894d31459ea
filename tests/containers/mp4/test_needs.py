"""Round trips: what the parser asks for, how often, and what it does when the chain breaks."""

from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd
import pytest

from torframes.containers.base import ByteRange, ContainerIndex, IndexLimits, Need
from torframes.containers.local import index_file
from torframes.containers.mp4 import Mp4IndexParser
from torframes.containers.mp4.index import HEAD_BYTES
from torframes.containers.sniff import AutoIndexParser
from torframes.errors import IndexTooLarge, MalformedContainer, UnsupportedContainer
from torframes.testing import mp4synth as synth


def _moov(data: bytes) -> ByteRange:
    at = data.find(b"moov") - 4
    return ByteRange(at, at + struct.unpack_from(">I", data, at)[0])


def test_moov_at_tail_takes_two_needs(video, drive):
    data = Path(video("large_tail")).read_bytes()
    moov = _moov(data)
    assert moov.stop == len(data)
    assert moov.start > HEAD_BYTES
    index, needs = drive(data)
    assert [n.ranges for n in needs] == [
        (ByteRange(0, HEAD_BYTES),),
        (ByteRange(moov.start, len(data)),),
    ]
    assert "after mdat" in needs[1].reason
    assert len(index.samples) > 48


def test_moov_at_head_takes_one_or_two_needs(video, drive, synthetic_file):
    data = Path(video("h264_head")).read_bytes()
    _, needs = drive(data)
    assert len(needs) == 1  # the head holds the whole (small) moov
    big = synthetic_file([{"sizes": [100] * 12000}], moov_first=True)
    moov = _moov(big)
    assert moov.stop > HEAD_BYTES
    index, needs = drive(big)
    assert [n.ranges for n in needs] == [
        (ByteRange(0, HEAD_BYTES),),
        (ByteRange(HEAD_BYTES, moov.stop),),
    ]
    assert len(index.samples) == 12000


@pytest.mark.parametrize("name", ["h264_head", "large_tail"])
def test_sniff_then_at_most_two_needs(name, video, drive):
    data = Path(video(name)).read_bytes()
    _, needs = drive(data, AutoIndexParser(len(data)))
    assert needs[0].ranges == (ByteRange(0, 64),)  # the container signature
    assert 2 <= len(needs) <= 3


def test_local_index_file_reads_head_and_moov_only(video):
    path = video("large_tail")
    data = Path(path).read_bytes()
    moov = _moov(data)
    local = index_file(path)
    assert local.reads == (ByteRange(0, 64), ByteRange(moov.start, len(data)))
    assert local.bytes_read == 64 + moov.length
    assert local.bytes_read < local.file_size / 20
    assert local.index.index_ranges == (
        ByteRange(0, 8),
        ByteRange(32, 48),  # free, mdat headers (adjacent, merged)
        moov,
    )
    assert [kind for kind, _ in local.index.layout] == ["ftyp", "free", "mdat", "moov"]


def test_local_index_file_accepts_open_files(video):
    path = video("h264_head")
    with open(path, "rb") as handle:
        local = index_file(handle)
    assert len(local.samples) == 48
    assert local.reads[0] == ByteRange(0, 64)


def test_speculation_keeps_walking_when_the_box_is_not_moov(synthetic_file, drive):
    data = synthetic_file([{"sizes": [50_000] * 3}])
    moov = _moov(data)
    # a 'free' box between mdat and moov: the speculative range covers both
    free = synth.box(b"free", bytes(100))
    data = data[: moov.start] + free + data[moov.start :]
    index, needs = drive(data)
    assert needs[1].ranges == (ByteRange(moov.start, len(data)),)
    assert len(needs) == 2
    assert [kind for kind, _ in index.layout] == ["ftyp", "mdat", "free", "moov"]


def test_no_speculation_when_the_tail_is_larger_than_the_cap(synthetic_file, drive):
    data = synthetic_file([{"sizes": [40_000] * 3}])
    moov = _moov(data)
    data = data[: moov.start] + synth.box(b"free", bytes(70_000)) + data[moov.start :]
    limits = IndexLimits(max_index_bytes=50_000)
    _, needs = drive(data, limits=limits)
    assert needs[1].ranges == (ByteRange(moov.start, moov.start + 16),)
    assert needs[2].ranges == (ByteRange(moov.start + 70_008, moov.start + 70_008 + 16),)


def test_feeding_more_than_asked_saves_needs(video):
    data = Path(video("h264_tail")).read_bytes()
    parser = Mp4IndexParser(len(data))
    parser.feed(0, data)  # a driver feeding whole pieces may feed everything
    assert isinstance(parser.step(), ContainerIndex)
    assert parser.needs == 0


def test_feeding_out_of_order_and_in_pieces(video):
    data = Path(video("av_audio")).read_bytes()
    expected = index_file(video("av_audio")).samples
    parser = Mp4IndexParser(len(data))
    step = parser.step()
    while isinstance(step, Need):
        for wanted in reversed(step.ranges):
            for start in range(wanted.stop - 100, wanted.start - 100, -100):
                start = max(start, wanted.start)
                parser.feed(start, data[start : min(start + 100, wanted.stop)])
        step = parser.step()
    pd.testing.assert_frame_equal(step.samples, expected)


# -- find and validate ------------------------------------------------------


def _patch_size(data: bytes, kind: bytes, size: int) -> bytes:
    at = data.find(kind) - 4
    return data[:at] + struct.pack(">I", size) + data[at + 4 :]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: _patch_size(d, b"mdat", 0), id="mdat-size-0-not-last"),
        pytest.param(lambda d: _patch_size(d, b"mdat", 0xFFFFFF00), id="mdat-past-eof"),
        pytest.param(lambda d: _patch_size(d, b"mdat", 3), id="mdat-size-below-8"),
        pytest.param(lambda d: d[:32] + b"\x00\x01\xfe\xff" * 2 + d[40:], id="garbage-header"),
    ],
)
def test_broken_chain_finds_moov_in_the_tail(damage, video, drive, demux, assert_matches_pyav):
    original = Path(video("av_audio")).read_bytes()
    data = damage(original)
    moov = _moov(data)
    index, needs = drive(data)
    assert any("search" in note for note in index.notes)
    assert needs[-1].ranges == (ByteRange(0, len(data)),) or needs[-1].ranges[-1].stop == len(data)
    assert_matches_pyav(index.samples, demux(original))
    assert dict(index.layout)["moov"] == moov


def test_search_steps_back_window_by_window(video, drive):
    data = _patch_size(Path(video("large_tail")).read_bytes(), b"mdat", 0)
    moov = _moov(data)
    limits = IndexLimits(tail_window=256)
    index, needs = drive(data, limits=limits)
    windows = [n for n in needs if "search" in n.reason]
    assert len(windows) == -(-(len(data) - moov.start) // 256)
    assert windows[0].ranges[-1].stop == len(data)
    assert len(index.samples) == 143


def test_search_asks_for_the_rest_of_a_moov_found_in_the_head(synthetic_file, drive):
    data = synthetic_file([{"sizes": [100] * 12000}], moov_first=True)
    data = b"\x00\x00\x00\x20" + b"\x01\x02\x03\x04" + data[8:]  # ftyp type garbled
    moov = _moov(data)
    index, needs = drive(data)
    assert needs[0].ranges == (ByteRange(0, HEAD_BYTES),)
    assert needs[1].ranges == (ByteRange(HEAD_BYTES, moov.stop),)
    assert "candidate" in needs[1].reason
    assert len(index.samples) == 12000


def test_false_moov_in_media_is_rejected(video, drive):
    original = Path(video("h264_tail")).read_bytes()
    mdat = original.find(b"mdat") + 4
    fake = struct.pack(">I", 200) + b"moov" + struct.pack(">I", 100) + b"trak" + bytes(100)
    data = original[: mdat + 2000] + fake + original[mdat + 2000 + len(fake) :]
    data = _patch_size(data, b"mdat", 0)
    index, _ = drive(data)
    assert dict(index.layout)["moov"] == _moov(original)


def test_no_moov_anywhere(drive):
    data = synth.box(b"ftyp", b"isom\0\0\0\0") + synth.box(b"mdat", bytes(5000))
    with pytest.raises(MalformedContainer, match="no valid 'moov'"):
        drive(data)
    with pytest.raises(MalformedContainer, match="no valid 'moov'"):
        drive(data[:20] + b"\xff" * 100)


def test_moov_over_the_cap(video, drive):
    data = Path(video("h264_tail")).read_bytes()
    with pytest.raises(IndexTooLarge, match="500-byte max_index_bytes limit"):
        drive(data, limits=IndexLimits(max_index_bytes=500))
    with pytest.raises(IndexTooLarge):
        drive(_patch_size(data, b"mdat", 0), limits=IndexLimits(max_index_bytes=500))


def test_moof_before_moov_is_unsupported(video, drive):
    """A media segment without its initialization segment: fragments, no ``moov`` first.

    (Fragmented files with their ``moov`` are indexed: ``test_fragmented.py``.)
    """
    data = Path(video("fragmented")).read_bytes()
    moof = data.find(b"moof") - 4
    with pytest.raises(UnsupportedContainer, match="moof"):
        drive(synth.box(b"ftyp", b"isom\0\0\0\0") + data[moof:])


def test_result_is_kept(video):
    data = Path(video("h264_head")).read_bytes()
    parser = Mp4IndexParser(len(data))
    parser.feed(0, data)
    first = parser.step()
    assert parser.step() is first


def test_memory_budget_keeps_only_what_was_asked(video):
    data = Path(video("large_tail")).read_bytes()
    moov = _moov(data)
    limits = IndexLimits(
        max_index_bytes=moov.length + 10, tail_window=0, max_buffer_bytes=moov.length + HEAD_BYTES
    )
    assert len(data) > 2 * limits.max_buffer_bytes
    parser = Mp4IndexParser(len(data), limits)
    step = parser.step()
    parser.feed(0, data)  # far over the budget: only the asked head is kept
    step = parser.step()
    assert step.ranges == (ByteRange(moov.start, len(data)),)
    parser.feed(0, data)
    assert isinstance(parser.step(), ContainerIndex)
