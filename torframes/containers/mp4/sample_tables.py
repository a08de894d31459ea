"""Sample table boxes: ``stts``, ``ctts``, ``stss``/``stps``, ``stsz``/``stz2``, ``stsc``,
``stco``/``co64`` and the ``rap `` sample group (``sbgp``).

Each reader checks its entry count against the bytes the box holds before
reading (``Reader.count``), returns numpy arrays in native byte order and
widened to int64 where arithmetic follows, and never expands run-lengths:
that is :mod:`torframes.containers.mp4.tables`' job. Clause numbers are
those of ISO/IEC 14496-12.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from torframes.containers.mp4.boxes import Reader
from torframes.errors import MalformedContainer

__all__ = [
    "Runs",
    "SampleSizes",
    "read_chunk_offsets",
    "read_co64",
    "read_ctts",
    "read_rap_groups",
    "read_stco",
    "read_stsc",
    "read_stss",
    "read_stsz",
    "read_stts",
    "read_stz2",
]


@dataclass(frozen=True, slots=True)
class Runs:
    """A run-length table: ``counts[i]`` samples share ``values[i]``."""

    counts: np.ndarray
    values: np.ndarray

    @property
    def total(self) -> int:
        return int(self.counts.sum())


def read_stts(r: Reader) -> Runs:
    """Decoding time to sample, §8.6.1.2: (sample_count, sample_delta) runs, both unsigned."""
    r.full_box()
    n = r.count(8, "entries")
    table = r.array(">u4", 2 * n).astype(np.int64).reshape(n, 2)
    return Runs(table[:, 0], table[:, 1])


def read_ctts(r: Reader) -> Runs:
    """Composition time to sample, §8.6.1.3: (sample_count, sample_offset) runs.

    Offsets are read as signed 32-bit in both versions, as FFmpeg does:
    version 0 declares them unsigned, but writers put negative offsets there.
    """
    r.full_box()
    n = r.count(8, "entries")
    table = r.array(">i4", 2 * n).reshape(n, 2)
    counts = table[:, 0].view(np.uint32).astype(np.int64)
    return Runs(counts, table[:, 1].astype(np.int64))


def read_stss(r: Reader) -> np.ndarray:
    """Sync sample table, §8.6.2 (also QuickTime ``stps``): 1-based sample numbers.

    Returned as written; an ``stss`` with no entries means no sync samples,
    which is not the same as no ``stss`` at all (every sample is sync).
    """
    r.full_box()
    n = r.count(4, "sync samples")
    return r.array(">u4", n).astype(np.int64)


@dataclass(frozen=True, slots=True)
class SampleSizes:
    """``stsz``/``stz2``: ``count`` samples, all of ``constant`` bytes or ``sizes[i]``."""

    count: int
    constant: int
    sizes: np.ndarray | None


def read_stsz(r: Reader) -> SampleSizes:
    """Sample size box, §8.7.3.2: one size for every sample, or a u32 per sample.

    With a constant size the sample count costs no bytes; it is bounded by
    the caller against ``IndexLimits.max_samples``.
    """
    r.full_box()
    constant = r.u32()
    if constant:
        return SampleSizes(r.u32(), constant, None)
    n = r.count(4, "sample sizes")
    return SampleSizes(n, 0, r.array(">u4", n).astype(np.int64))


def read_stz2(r: Reader) -> SampleSizes:
    """Compact sample size box, §8.7.3.3: sizes packed in 4, 8 or 16 bits.

    4-bit sizes come two per byte, the first in the high nibble. FFmpeg also
    accepts 32-bit fields; so does this.
    """
    r.full_box()
    r.skip(3)
    at = r.offset
    field = r.u8()
    if field not in (4, 8, 16, 32):
        raise MalformedContainer(f"'stz2' field size {field} is not 4, 8, 16 or 32", offset=at)
    at = r.offset
    n = r.u32()
    nbytes = (n * field + 7) // 8
    if nbytes > r.left:
        raise MalformedContainer(
            f"'stz2' says {n} samples ({nbytes} bytes) but holds {r.left} bytes", offset=at
        )
    if field == 4:
        packed = r.array("u1", nbytes)
        sizes = np.empty(2 * nbytes, dtype=np.int64)
        sizes[0::2], sizes[1::2] = packed >> 4, packed & 0x0F
        sizes = sizes[:n]
    else:
        sizes = r.array({8: "u1", 16: ">u2", 32: ">u4"}[field], n).astype(np.int64)
    return SampleSizes(n, 0, sizes)


@dataclass(frozen=True, slots=True)
class ChunkRuns:
    """``stsc``: from 1-based chunk ``first_chunk[i]`` on, ``samples_per_chunk[i]``
    samples per chunk, described by sample entry ``description[i]`` (1-based)."""

    first_chunk: np.ndarray
    samples_per_chunk: np.ndarray
    description: np.ndarray


def read_stsc(r: Reader) -> ChunkRuns:
    """Sample to chunk box, §8.7.4: runs of chunks with the same samples per chunk.

    ``first_chunk`` must start at 1 or more and strictly increase, or the
    table is rejected before it is expanded. A run of zero samples per chunk
    describes chunks that hold no samples.
    """
    r.full_box()
    at = r.offset
    n = r.count(12, "entries")
    table = r.array(">u4", 3 * n).astype(np.int64).reshape(n, 3)
    first, per_chunk = table[:, 0], table[:, 1]
    if n and (first[0] < 1 or (np.diff(first) <= 0).any()):
        raise MalformedContainer("'stsc' first_chunk is 0 or does not increase", offset=at)
    return ChunkRuns(first, per_chunk, table[:, 2])


def read_stco(r: Reader) -> np.ndarray:
    """Chunk offset box, §8.7.5: a 32-bit file offset per chunk."""
    r.full_box()
    n = r.count(4, "chunk offsets")
    return r.array(">u4", n).astype(np.uint64)


def read_co64(r: Reader) -> np.ndarray:
    """64-bit chunk offset box, §8.7.5: a 64-bit file offset per chunk."""
    r.full_box()
    n = r.count(8, "chunk offsets")
    return r.array(">u8", n)


def read_chunk_offsets(r: Reader, co64: bool) -> np.ndarray:
    """``stco`` or ``co64`` as unsigned 64-bit offsets (checked against the file later)."""
    return read_co64(r) if co64 else read_stco(r)


def read_rap_groups(r: Reader) -> Runs | None:
    """Sample to group box, §8.9.2, for grouping type ``rap `` only (else None).

    Runs of (sample_count, group_description_index); FFmpeg marks a sample
    of a run with a non-zero index as a keyframe. Version 1 adds a
    grouping_type_parameter.
    """
    version, _ = r.full_box()
    if r.bytes(4) != b"rap ":
        return None
    if version == 1:
        r.skip(4)
    n = r.count(8, "entries")
    table = r.array(">u4", 2 * n).astype(np.int64).reshape(n, 2)
    return Runs(table[:, 0], table[:, 1])
