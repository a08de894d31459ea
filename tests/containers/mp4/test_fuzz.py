"""Hostile bytes: only the project's container errors come out, allocation stays bounded."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torframes.containers.base import ContainerIndex, IndexLimits
from torframes.errors import (
    ContainerError,
    IndexTooLarge,
    MalformedContainer,
)
from torframes.testing import mp4synth as synth

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
INTERESTING = [0, 1, 2, 7, 8, 9, 16, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]


class _File(tuple):
    def __repr__(self) -> str:
        return f"<file of {len(self[0])} bytes, moov [{self[1]}, {self[2]})>"


@pytest.fixture(scope="module")
def sample_file(video) -> tuple[bytes, int, int]:
    """A real file (H.264 with B-frames and AAC) and where its moov is."""
    data = Path(video("av_audio")).read_bytes()
    start = data.find(b"moov") - 4
    return _File((data, start, start + struct.unpack_from(">I", data, start)[0]))


@FUZZ
@given(st.data())
def test_mutated_moov_bytes(run_hostile, sample_file, data):
    original, start, stop = sample_file
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 12))):
        at = data.draw(st.integers(start, stop - 1))
        mutated[at] = data.draw(st.integers(0, 255))
    run_hostile(bytes(mutated))


@FUZZ
@given(st.data())
def test_mutated_moov_words(run_hostile, sample_file, data):
    original, start, stop = sample_file
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(start, stop - 4))
        word = data.draw(st.one_of(st.sampled_from(INTERESTING), st.integers(0, 2**32 - 1)))
        mutated[at : at + 4] = struct.pack(">I", word)
    run_hostile(bytes(mutated))


@FUZZ
@given(st.data())
def test_truncated_and_cut_moov(run_hostile, sample_file, data):
    original, start, stop = sample_file
    cut = data.draw(st.integers(start, stop - 1))
    result = run_hostile(original[:cut])
    assert isinstance(result, MalformedContainer)
    hole = data.draw(st.integers(start + 8, stop - 1))
    width = data.draw(st.integers(1, 64))
    run_hostile(original[:hole] + original[hole + width :])


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from([b"", b"moov", b"mdat", b"free"]))
def test_small_random_files(run_hostile, body, kind):
    head = synth.box(b"ftyp", b"isom\0\0\0\0")
    box = struct.pack(">I", len(body) + 8) + kind + body if kind else body
    run_hostile(head + box)


@st.composite
def _tables(draw):
    word = st.one_of(st.sampled_from(INTERESTING), st.integers(0, 4096))
    rows = st.lists(st.tuples(word, word), max_size=4)
    signed = st.integers(-(2**31), 2**31 - 1)
    return [
        synth.stts(draw(rows)),
        synth.ctts(draw(st.lists(st.tuples(word, signed), max_size=4)), draw(st.integers(0, 1))),
        synth.stss(draw(st.lists(word, max_size=4))),
        draw(st.one_of(
            st.builds(synth.stsz, st.lists(st.integers(0, 2**32 - 1), max_size=6)),
            st.builds(lambda c, n: synth.stsz(constant=c, count=n), word, word),
        )),
        synth.stsc(draw(st.lists(st.tuples(word, word, word), max_size=3))),
        draw(st.one_of(
            st.builds(synth.stco, st.lists(word, max_size=4)),
            st.builds(synth.co64, st.lists(st.integers(0, 2**64 - 1), max_size=4)),
        )),
    ]  # fmt: skip


@FUZZ
@given(
    tables=_tables(),
    edits=st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(-(2**31), 2**31 - 1)), max_size=3
    ),
    handler=st.sampled_from([b"vide", b"soun", b"text"]),
    timescale=st.sampled_from([0, 1, 1000, 2**32 - 1]),
)
def test_random_sample_tables(run_hostile, tables, edits, handler, timescale):
    moov = synth.box(
        b"moov",
        synth.mvhd(timescale),
        synth.trak(1, handler=handler, tables=tables, edits=synth.elst(edits) if edits else b""),
    )
    head = synth.box(b"ftyp", b"isom\0\0\0\0") + synth.box(b"mdat", bytes(5000))
    run_hostile(head + moov, IndexLimits(max_samples=100_000))


HOSTILE = {
    "constant stsz of 2^32-1 samples": [
        synth.stts([(2**32 - 1, 1)]),
        synth.stsz(constant=1, count=2**32 - 1),
        synth.stsc([(1, 1, 1)]),
        synth.stco([40]),
    ],
    "stts claims 2^32-1 samples": [
        synth.stts([(2**32 - 1, 1)]),
        synth.stsz([1, 1]),
        synth.stsc([(1, 1, 1)]),
        synth.stco([40, 41]),
    ],
    "ctts claims 2^32-1 samples": [
        synth.stts([(2, 1)]),
        synth.ctts([(2**32 - 1, 5)] * 3),
        synth.stsz([1, 1]),
        synth.stsc([(1, 1, 1)]),
        synth.stco([40, 41]),
    ],
    "stsc 2^32-1 samples per chunk": [
        synth.stts([(2, 1)]),
        synth.stsz([1, 1]),
        synth.stsc([(1, 2**32 - 1, 1)]),
        synth.stco([40] * 1000),
    ],
    "chunk offset 2^64-1": [
        synth.stts([(2, 1)]),
        synth.stsz([1, 1]),
        synth.stsc([(1, 1, 1)]),
        synth.co64([40, 2**64 - 1]),
    ],
    "sample past the end": [
        synth.stts([(2, 1)]),
        synth.stsz([1, 2**31]),
        synth.stsc([(1, 1, 1)]),
        synth.stco([40, 41]),
    ],
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_counts_fail_fast_in_little_memory(run_hostile, case):
    moov = synth.box(
        b"moov",
        synth.mvhd(),
        synth.trak(1, tables=HOSTILE[case], edits=synth.elst([(2**31, 0)] * 3)),
    )
    data = synth.box(b"ftyp", b"isom\0\0\0\0") + synth.box(b"mdat", bytes(100)) + moov
    tracemalloc.start()
    try:
        result = run_hostile(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak} bytes at peak"
    assert isinstance(result, (ContainerError, ContainerIndex))
    if case.startswith("constant"):
        assert isinstance(result, IndexTooLarge)


def test_many_edits_are_capped(run_hostile):
    tables = [
        synth.stts([(1000, 512)]),
        synth.stsz([1] * 1000),
        synth.stsc([(1, 1000, 1)]),
        synth.stco([40]),
    ]
    edits = synth.elst([(40, 0)] * 5000)
    moov = synth.box(b"moov", synth.mvhd(), synth.trak(1, tables=tables, edits=edits))
    data = synth.box(b"ftyp", b"isom\0\0\0\0") + synth.box(b"mdat", bytes(1000)) + moov
    result = run_hostile(data)
    assert isinstance(result, ContainerIndex)
    assert any("edit list of 5000 entries ignored" in note for note in result.notes)
    edits = synth.elst([(40_000, 0)] * 300)
    moov = synth.box(b"moov", synth.mvhd(), synth.trak(1, tables=tables, edits=edits))
    data = synth.box(b"ftyp", b"isom\0\0\0\0") + synth.box(b"mdat", bytes(1000)) + moov
    assert isinstance(run_hostile(data, IndexLimits(max_samples=50_000)), IndexTooLarge)
