"""Hostile transport streams: only the project's container errors come out; memory stays bounded."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torframes.containers.base import SAMPLE_DTYPES, ContainerIndex, IndexLimits
from torframes.containers.sniff import AutoIndexParser
from torframes.containers.ts.packets import TS
from torframes.containers.ts.scan import unit_starts
from torframes.errors import (
    ContainerError,
    IndexTooLarge,
    MalformedContainer,
    TruncatedContainer,
    UnsupportedContainer,
)
from torframes.testing.mutate import mutate
from torframes.testing.ts import make_ts

DELIBERATE = {MalformedContainer, TruncatedContainer, IndexTooLarge, UnsupportedContainer}
LIMITS = IndexLimits(max_cluster_probes=4, max_sample_bytes=1024 * 1024)


def parse(data: bytes, limits: IndexLimits = LIMITS) -> ContainerIndex | ContainerError:
    """Index ``data``, answering needs exactly: an index within the file, or a deliberate error.

    A Python exception converted by the runner (``__cause__`` set) is a
    reader's missing check, and fails the test.
    """
    parser = AutoIndexParser(len(data), limits)
    error: ContainerError | None = None
    try:
        index = drive(parser, data, [])
    except ContainerError as raised:
        error = raised
    if error is not None:
        assert type(error) in DELIBERATE, repr(error)
        assert error.__cause__ is None, repr(error.__cause__)
        return error
    samples = index.samples
    assert samples.dtypes.astype(str).to_dict() == SAMPLE_DTYPES
    ends = samples["offset"] + samples["size"].astype("int64")
    assert (samples["offset"] >= 0).all()
    assert (ends <= len(data)).all()
    return index


def drive(parser: AutoIndexParser, data: bytes, reads: list[int]) -> ContainerIndex:
    """Feed ``parser`` exactly what it asks for; the length of each read goes to ``reads``."""
    for _ in range(256):
        step = parser.step()
        if isinstance(step, ContainerIndex):
            return step
        for wanted in step.ranges:
            parser.feed(wanted.start, data[wanted.start : wanted.stop])
            reads.append(wanted.length)
    raise AssertionError("the parser keeps asking")


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    root = tmp_path_factory.mktemp("ts-seeds")
    small = {"width": 128, "height": 64, "gop": 12}
    return [
        make_ts(root / "a.ts", "h264", frames=48, bframes=2, audio=True, **small).read_bytes(),
        make_ts(root / "b.m2ts", "hevc", frames=48, m2ts=True, **small).read_bytes(),
        make_ts(root / "c.ts", "mpeg2video", frames=200, noise=True, **small).read_bytes(),
    ]


def test_seeds_parse(seeds: list[bytes]) -> None:
    for data in seeds:
        assert isinstance(parse(data), ContainerIndex)


def _hot_spots(data: bytes) -> list[int]:
    """Packet headers, adaptation fields, PSI sections and PES headers of the first packets."""
    size = 192 if data[:1] != b"\x47" else 188
    return [p + k for p in range(0, min(len(data), 40 * size), size) for k in (0, 4, 5, 8, 12)]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_mutated_files(seeds: list[bytes], data: st.DataObject) -> None:
    original = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed")]
    parse(mutate(data, original, _hot_spots(original)))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_truncated_files(seeds: list[bytes], data: st.DataObject) -> None:
    original = seeds[data.draw(st.integers(0, len(seeds) - 1), label="seed")]
    parse(original[: data.draw(st.integers(0, len(original)))])


def test_packets_without_tables_or_frames(tmp_path: Path) -> None:
    null = b"\x47\x1f\xff\x10" + b"\xff" * 184  # null packets (PID 0x1FFF) only
    error = parse(null * 2000)
    assert isinstance(error, MalformedContainer)
    assert "no PAT and PMT" in str(error)


def test_a_frame_that_never_ends_is_refused_with_bounded_reads(seeds: list[bytes]) -> None:
    """The first keyframe's first packet, then 8 MiB of null packets: refused, not read whole."""
    data = seeds[0]
    first = unit_starts(data, 0, TS, 0x100, "h264")[0].offset
    filler = b"\x47\x1f\xff\x10" + b"\xff" * 184
    hostile = data[: first + 188] + filler * (8 * 1024 * 1024 // 188)
    parser = AutoIndexParser(len(hostile), LIMITS)
    reads: list[int] = []
    tracemalloc.start()
    try:
        with pytest.raises(MalformedContainer, match="no keyframe of PID 256 in the first"):
            drive(parser, hostile, reads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    read = sum(reads)
    assert read <= 2 * 1024 * 1024  # the head, widened a bounded number of times
    assert peak < 4 * read + 1024 * 1024  # a few copies of what was read, no more
