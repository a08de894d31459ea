"""Box headers (§4.2) byte by byte, and the edge cases of the top-level walk."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from torframes.containers.base import ByteRange, IndexLimits
from torframes.containers.mp4.boxes import Reader, iter_boxes, read_box_header
from torframes.errors import MalformedContainer, TruncatedContainer
from torframes.testing import mp4synth as synth


def test_plain_header():
    box = read_box_header(b"\0\0\0\x10free" + bytes(8), 0, 16, base=100)
    assert (box.type, box.start, box.size, box.header_size, box.end) == (b"free", 100, 16, 8, 116)
    assert box.payload_start == 108
    assert box.name == "free"


def test_size_zero_runs_to_the_end_of_the_parent():
    box = read_box_header(b"\0\0\0\0mdat" + bytes(50), 0, 58)
    assert box.size == 58


def test_size_one_reads_largesize():
    data = struct.pack(">I4sQ", 1, b"mdat", 40) + bytes(24)
    box = read_box_header(data, 0, len(data))
    assert (box.size, box.header_size) == (40, 16)


def test_largesize_below_16_is_malformed():
    data = struct.pack(">I4sQ", 1, b"mdat", 12) + bytes(24)
    with pytest.raises(MalformedContainer, match="largesize 12"):
        read_box_header(data, 0, len(data))


@pytest.mark.parametrize("size", [2, 3, 7])
def test_size_below_8_is_malformed(size):
    with pytest.raises(MalformedContainer, match=r"< 8.*at byte 5"):
        read_box_header(b"\0" * 5 + struct.pack(">I4s", size, b"free") + bytes(8), 5, 21)


def test_uuid_extended_type():
    usertype = bytes(range(16))
    data = struct.pack(">I4s", 28, b"uuid") + usertype + b"abcd"
    box = read_box_header(data, 0, len(data))
    assert (box.usertype, box.header_size, box.size) == (usertype, 24, 28)
    with pytest.raises(TruncatedContainer, match="extended type"):
        read_box_header(data[:20], 0, 20)
    with pytest.raises(MalformedContainer, match="uuid"):
        read_box_header(struct.pack(">I4s", 20, b"uuid") + usertype, 0, 24)


def test_size_past_the_parent_is_truncated():
    with pytest.raises(TruncatedContainer, match="runs past its parent"):
        read_box_header(struct.pack(">I4s", 100, b"trak") + bytes(10), 0, 18)


def test_header_cut_short():
    with pytest.raises(TruncatedContainer):
        read_box_header(b"\0\0\0", 0, 3)
    with pytest.raises(TruncatedContainer, match="largesize"):
        read_box_header(struct.pack(">I4s", 1, b"mdat") + b"\0\0", 0, 10)


def test_iter_boxes_ignores_a_short_tail():
    data = synth.box(b"free") + synth.box(b"skip", b"xy") + b"\0\0\0\0"
    assert [b.type for b in iter_boxes(data, 0, len(data))] == [b"free", b"skip"]


def test_reader_checks_counts_before_reading():
    payload = struct.pack(">I", 1_000_000) + bytes(12)
    r = Reader(payload, 0, len(payload), base=500, what="stco")
    with pytest.raises(
        MalformedContainer, match=r"says 1000000 chunks .* holds 12 bytes at byte 500"
    ):
        r.count(4, "chunks")


def test_reader_arrays_are_native():
    payload = np.arange(5, dtype=">u4").tobytes()
    r = Reader(payload, 0, len(payload), base=0, what="x")
    values = r.array(">u4", 5)
    assert values.dtype == np.dtype("u4")
    assert values.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(TruncatedContainer, match="'x'"):
        r.u8()


# -- the top-level walk, byte by byte ------------------------------------------


def _file(*boxes: bytes) -> bytes:
    return synth.box(b"ftyp", b"isom\0\0\0\0") + b"".join(boxes)


def _moov(first_offset: int) -> bytes:
    return synth.synthetic_moov(10, first_offset=first_offset, sample_size=10)


def test_moov_of_size_zero_at_the_end(parse_bytes):
    head = _file(synth.box(b"mdat", bytes(100)))
    moov = _moov(len(head) - 100)
    data = head + struct.pack(">I", 0) + moov[4:]
    index = parse_bytes(data)
    assert dict(index.layout)["moov"] == ByteRange(len(head), len(data))
    assert len(index.samples) == 10


def test_largesize_moov_and_mdat(drive):
    mdat = synth.box(b"mdat", bytes(100), large=True)
    head = _file(mdat)
    moov = _moov(len(head) - 100)
    data = head + synth.box(b"moov", moov[8:], large=True)
    index, _ = drive(data)
    layout = dict(index.layout)
    assert layout["mdat"] == ByteRange(16, 16 + 116)
    assert index.index_ranges[:2] == (ByteRange(0, 8), ByteRange(16, 32))
    assert layout["moov"].stop == len(data)
    assert len(index.samples) == 10


def test_uuid_free_skip_wide_are_walked(drive):
    uuid = synth.box(b"uuid", bytes(range(16)), b"payload")
    head = _file(
        uuid,
        synth.box(b"free", bytes(3)),
        synth.box(b"skip"),
        synth.box(b"wide"),
        synth.box(b"mdat", bytes(100)),
    )
    data = head + _moov(len(head) - 100)
    index, needs = drive(data)
    assert [kind for kind, _ in index.layout] == [
        "ftyp",
        "uuid",
        "free",
        "skip",
        "wide",
        "mdat",
        "moov",
    ]
    assert len(needs) == 1


def test_lying_size_inside_moov(parse_bytes):
    head = _file(synth.box(b"mdat", bytes(100)))
    moov = bytearray(_moov(len(head) - 100))
    at = moov.find(b"trak") - 4
    moov[at : at + 4] = struct.pack(">I", len(moov))  # trak runs past moov
    with pytest.raises(TruncatedContainer, match=r"'trak'.*runs past its parent"):
        parse_bytes(head + bytes(moov))


def test_truncated_file(drive):
    head = _file(synth.box(b"mdat", bytes(100)))
    data = head + _moov(len(head) - 100)
    moov_size, left = len(data) - len(head), len(data) - 40 - len(head)
    with pytest.raises(TruncatedContainer) as caught:
        drive(data[:-40])
    assert str(caught.value) == (
        "the file is truncated and no whole 'moov' lies before its end: "
        f"'moov' of {moov_size} bytes runs past it ({left} bytes left) at byte {len(head)}"
    )


def test_nesting_deeper_than_the_limit(parse_bytes):
    head = _file(synth.box(b"mdat", bytes(100)))
    data = head + _moov(len(head) - 100)
    with pytest.raises(MalformedContainer, match="nested deeper than 3"):
        parse_bytes(data, limits=IndexLimits(max_depth=3))


def test_short_tail_after_the_last_box_ends_the_chain(drive):
    head = _file(synth.box(b"mdat", bytes(100)))
    data = head + _moov(len(head) - 100)
    moov_at = len(head)
    index, _ = drive(data[:moov_at] + data[moov_at:])  # sanity
    assert len(index.samples) == 10
    with pytest.raises(MalformedContainer, match=r"no valid 'moov'.*at the end of the file"):
        drive(head + b"\0\0\0")
