"""Hostile AVI bytes: only the project's container errors come out; memory stays bounded."""

from __future__ import annotations

import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torframes.containers.avi import AviIndexParser
from torframes.containers.base import ContainerIndex, IndexLimits
from torframes.errors import (
    ContainerError,
    IndexTooLarge,
    MalformedContainer,
    TruncatedContainer,
    UnsupportedContainer,
)
from torframes.testing.mutate import mutate

from .conftest import drive_bytes

MiB = 1024 * 1024


def chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)


def riff_list(form: bytes, data: bytes, fourcc: bytes = b"LIST") -> bytes:
    return fourcc + struct.pack("<I", 4 + len(data)) + form + data


STRH = struct.pack("<4s4sIHHIIIIIIII", b"vids", b"XVID", 0, 0, 0, 0, 1, 24, 0, 2, 0, 0, 0)
STRF = struct.pack("<IiiHH4sIiiII", 40, 320, 240, 1, 24, b"XVID", 0, 0, 0, 0, 0)
AVIH = struct.pack("<10I", 41666, 0, 0, 0x10, 2, 0, 1, 0, 320, 240) + bytes(16)


def avi(*, strl_extra: bytes = b"", movi: bytes = b"", tail: bytes = b"", hdrl_first=True) -> bytes:
    """A one-stream AVI: hdrl (with ``strl_extra`` in its strl), movi, then ``tail``."""
    strl = riff_list(b"strl", chunk(b"strh", STRH) + chunk(b"strf", STRF) + strl_extra)
    hdrl = riff_list(b"hdrl", chunk(b"avih", AVIH) + strl)
    movi_list = riff_list(b"movi", movi)
    body = hdrl + movi_list if hdrl_first else movi_list + hdrl
    return riff_list(b"AVI ", body + tail, fourcc=b"RIFF")


FRAMES = chunk(b"00dc", b"\x00\x00\x01\xb6" + bytes(96)) + chunk(b"00dc", bytes(50))


def idx1(*entries: tuple[bytes, int, int, int]) -> bytes:
    return chunk(b"idx1", b"".join(struct.pack("<4sIII", *e) for e in entries))


def superindex(*entries: tuple[int, int, int], count: int | None = None) -> bytes:
    n = len(entries) if count is None else count
    head = struct.pack("<HBBI4s12x", 4, 0, 0, n, b"00dc")
    return chunk(b"indx", head + b"".join(struct.pack("<QII", *e) for e in entries))


def test_a_hand_built_idx1_file_is_indexed() -> None:
    data = avi(movi=FRAMES, tail=idx1((b"00dc", 0x10, 4, 100), (b"00dc", 0, 112, 50)))
    index = drive_bytes(data).index
    first = data.index(b"00dc") + 8
    assert index.samples["offset"].tolist() == [first, first + 108]
    assert index.samples["is_keyframe"].tolist() == [True, False]


def test_tiny_and_foreign_files() -> None:
    with pytest.raises(TruncatedContainer):
        drive_bytes(b"RIFF\x04\x00")
    with pytest.raises(UnsupportedContainer, match="RIFF form 'WAVE'"):
        drive_bytes(riff_list(b"WAVE", chunk(b"fmt ", bytes(16)), fourcc=b"RIFF"))


def test_movi_before_hdrl() -> None:
    with pytest.raises(MalformedContainer, match="'movi' before 'hdrl'"):
        drive_bytes(avi(movi=FRAMES, hdrl_first=False))


def test_without_an_index() -> None:
    with pytest.raises(UnsupportedContainer, match="without an index"):
        drive_bytes(avi(movi=FRAMES))


def test_idx1_placing_data_outside_the_file() -> None:
    data = avi(movi=FRAMES, tail=idx1((b"00dc", 0x10, 4, 100), (b"00dc", 0, 2**31, 50)))
    with pytest.raises(MalformedContainer, match="outside the file"):
        drive_bytes(data)


def test_hdrl_over_the_cap_is_refused_unread() -> None:
    data = avi(strl_extra=chunk(b"JUNK", bytes(70_000)), movi=FRAMES)
    limits = IndexLimits(max_index_bytes=64 * 1024)
    parser = AviIndexParser(len(data), limits)
    asked = 0

    def run() -> None:
        nonlocal asked
        while not isinstance(step := parser.step(), ContainerIndex):
            for r in step.ranges:
                asked += r.length
                parser.feed(r.start, data[r.start : r.stop])

    with pytest.raises(IndexTooLarge, match="'hdrl'"):
        run()
    assert asked <= 64


def test_super_index_pointing_past_the_file_or_at_media() -> None:
    with pytest.raises(MalformedContainer, match="past the file"):
        drive_bytes(avi(strl_extra=superindex((10**9, 32, 1)), movi=FRAMES))
    data = avi(strl_extra=superindex((0, 32, 1)), movi=FRAMES)
    movi_chunk = data.index(b"00dc")
    data = avi(strl_extra=superindex((movi_chunk, 32, 1)), movi=FRAMES)
    with pytest.raises(MalformedContainer, match="not an index chunk"):
        drive_bytes(data)


def test_super_index_count_beyond_its_chunk() -> None:
    with pytest.raises(MalformedContainer, match="entries in room for 1"):
        drive_bytes(avi(strl_extra=superindex((0, 32, 1), count=100_000), movi=FRAMES))


def test_many_pointers_at_one_large_index_are_refused_before_allocating() -> None:
    """A super index may point at the same standard index again and again.

    Memory is bounded by ``max_samples`` entries (about 17 bytes each while
    read), not by what the pointers multiply to (here 40 million entries).
    """
    entries = 200_000
    standard = struct.pack("<HBBI4sQI", 2, 0, 1, entries, b"00dc", 0, 0) + bytes(8 * entries)
    ix = chunk(b"ix00", standard)
    probe = avi(strl_extra=superindex(*[(0, 0, 0)] * 200), movi=ix)
    at = probe.index(b"ix00")
    data = avi(strl_extra=superindex(*[(at, len(ix), entries)] * 200), movi=ix)
    assert data.index(b"ix00") == at
    tracemalloc.start()
    try:
        with pytest.raises(IndexTooLarge, match=r"over the \d+ still allowed"):
            drive_bytes(data, IndexLimits(max_samples=1_000_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * MiB, f"{peak} bytes at peak"


def test_odml_index_chunks_over_the_cap() -> None:
    standard = struct.pack("<HBBI4sQI", 2, 0, 1, 0, b"00dc", 0, 0) + bytes(40_000)
    ix = chunk(b"ix00", standard)
    probe = avi(strl_extra=superindex((0, 0, 0)), movi=ix)
    data = avi(strl_extra=superindex((probe.index(b"ix00"), len(ix), 0)), movi=ix)
    with pytest.raises(IndexTooLarge, match="OpenDML indexes over"):
        drive_bytes(data, IndexLimits(max_index_bytes=32 * 1024))


# -- fuzzing ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeds(avi_file) -> list[bytes]:
    """Small files of each layout: idx1 with audio, absolute idx1, OpenDML over AVIX lists."""
    names = ["mpeg4-pcm", "h264-pcm-absolute", "h264-pcm-odml-avix"]
    return [avi_file(name).read_bytes() for name in names]


def parse(data: bytes) -> None:
    """Index ``data``; only the project's errors may come out, none an internal one."""
    try:
        driven = drive_bytes(data, max_needs=128)
    except ContainerError as error:
        message = str(error)
    else:
        message = None
    if message is not None:
        assert "internal error" not in message, message
        return
    assert isinstance(driven.index, ContainerIndex)
    size = driven.index.samples["size"].astype("int64")
    assert ((driven.index.samples["offset"] + size) <= len(data)).all()


def _hot_spots(data: bytes) -> list[int]:
    """Where the structures the parser reads are: headers, hdrl, index chunks."""
    spots = [0, 12, 24, 100, 164]
    for tag in (b"idx1", b"ix00", b"ix01", b"indx", b"movi", b"AVIX"):
        at = data.find(tag)
        if at >= 0:
            spots += [at, at + 4, at + 8, at + 16, at + 24, at + 40]
    return [s for s in spots if s < len(data)]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_mutated_files(seeds, data) -> None:
    original = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed")]
    parse(mutate(data, original, _hot_spots(original)))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_truncated_files(seeds, data) -> None:
    original = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed")]
    parse(original[: data.draw(st.integers(0, len(original)))])
