"""Movie fragment boxes: ``trex``, ``mehd``, ``tfhd``, ``tfdt`` and ``trun``.

One reader per box, each given a :class:`~torframes.containers.mp4.boxes.Reader`
over the box payload. Clause numbers are those of ISO/IEC 14496-12 (§8.8,
movie fragments). ``trun`` tables are read with numpy in one go, their
entry count checked against the bytes the box holds (or, for a run whose
samples carry no per-sample fields, against the sample budget) before
anything is allocated. Values are kept as written; what FFmpeg makes of
them (defaults, offsets, times) is :mod:`~torframes.containers.mp4.moof`'s
and :mod:`~torframes.containers.mp4.fragments`' job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from torframes.containers.mp4.boxes import Reader
from torframes.errors import IndexTooLarge, MalformedContainer

__all__ = [
    "TFHD_BASE_DATA_OFFSET",
    "TFHD_DEFAULT_BASE_IS_MOOF",
    "TRUN_DATA_OFFSET",
    "TRUN_FIRST_SAMPLE_FLAGS",
    "Tfhd",
    "Trex",
    "Trun",
    "read_mehd",
    "read_tfdt",
    "read_tfhd",
    "read_trex",
    "read_trun",
]

#: ``tfhd`` flags (§8.8.7.1).
TFHD_BASE_DATA_OFFSET = 0x000001
TFHD_DESCRIPTION_INDEX = 0x000002
TFHD_DEFAULT_DURATION = 0x000008
TFHD_DEFAULT_SIZE = 0x000010
TFHD_DEFAULT_FLAGS = 0x000020
TFHD_DEFAULT_BASE_IS_MOOF = 0x020000

#: ``trun`` flags (§8.8.8.1).
TRUN_DATA_OFFSET = 0x000001
TRUN_FIRST_SAMPLE_FLAGS = 0x000004
TRUN_DURATION = 0x000100
TRUN_SIZE = 0x000200
TRUN_FLAGS = 0x000400
TRUN_CTS = 0x000800
_TRUN_FIELDS = (TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTS)


@dataclass(frozen=True, slots=True)
class Trex:
    """``trex``: a track's defaults for the samples of its fragments."""

    track_id: int
    description: int
    duration: int
    size: int
    flags: int


def read_trex(r: Reader) -> Trex:
    """Track extends box, §8.8.3: default sample description, duration, size and flags.

    Every track whose samples may be in fragments has one, in ``mvex``.
    """
    r.full_box()
    return Trex(r.u32(), r.u32(), r.u32(), r.u32(), r.u32())


def read_mehd(r: Reader) -> int:
    """Movie extends header box, §8.8.2: the whole movie's duration, fragments included.

    In the movie timescale; 64 bits in version 1, 32 in version 0.
    """
    version, _ = r.full_box()
    return r.u64() if version == 1 else r.u32()


@dataclass(frozen=True, slots=True)
class Tfhd:
    """``tfhd`` as written: each optional field None when its flag is not set."""

    track_id: int
    flags: int
    base_data_offset: int | None = None
    description: int | None = None
    duration: int | None = None
    size: int | None = None
    sample_flags: int | None = None

    @property
    def default_base_is_moof(self) -> bool:
        return bool(self.flags & TFHD_DEFAULT_BASE_IS_MOOF)


def read_tfhd(r: Reader) -> Tfhd:
    """Track fragment header box, §8.8.7: which track, where its data starts, sample defaults.

    Optional fields follow the track ID in flag order: base-data-offset
    (u64), sample-description-index, default duration, size and flags (u32
    each). ``default-base-is-moof`` (0x020000) makes the ``moof`` start the
    base of data offsets when no base-data-offset is given.
    """
    _, flags = r.full_box()
    track_id = r.u32()

    def field(bit: int, read) -> int | None:
        return read() if flags & bit else None

    return Tfhd(
        track_id,
        flags,
        field(TFHD_BASE_DATA_OFFSET, r.u64),
        field(TFHD_DESCRIPTION_INDEX, r.u32),
        field(TFHD_DEFAULT_DURATION, r.u32),
        field(TFHD_DEFAULT_SIZE, r.u32),
        field(TFHD_DEFAULT_FLAGS, r.u32),
    )


def read_tfdt(r: Reader) -> int:
    """Track fragment base media decode time box, §8.8.12: the first sample's decode time.

    Version 1 has 64 bits, version 0 32 bits. Like FFmpeg, any non-zero
    version reads 64 bits, taken as a signed int64.
    """
    version, _ = r.full_box()
    return r.i64() if version else r.u32()


@dataclass(frozen=True, slots=True)
class Trun:
    """``trun`` as written: per-sample columns None when the run does not carry them.

    ``cts`` are composition offsets as signed 32-bit values in both
    versions (FFmpeg stores them in an ``int``); ``data_offset`` is signed.
    """

    flags: int
    count: int
    data_offset: int | None
    first_flags: int | None
    durations: np.ndarray | None
    sizes: np.ndarray | None
    sample_flags: np.ndarray | None
    cts: np.ndarray | None


def read_trun(r: Reader, budget: int) -> Trun:
    """Track fragment run box, §8.8.8: a run of contiguous samples of one track.

    After the sample count come the optional data-offset (s32) and
    first-sample-flags (u32), then one record per sample holding, in this
    order and only when flagged, duration, size, flags and composition
    offset (u32 each). The count is checked against the bytes left (or,
    for records of no bytes, against ``budget``, the samples still allowed)
    before the table is read.
    """
    _, flags = r.full_box()
    at = r.offset
    count = r.u32()
    data_offset = r.i32() if flags & TRUN_DATA_OFFSET else None
    first_flags = r.u32() if flags & TRUN_FIRST_SAMPLE_FLAGS else None
    fields = [bit for bit in _TRUN_FIELDS if flags & bit]
    if count > budget:
        raise IndexTooLarge(
            f"'trun' of {count} samples is more than the {budget} allowed", offset=at
        )
    if count * 4 * len(fields) > r.left:
        raise MalformedContainer(
            f"'trun' says {count} samples ({count * 4 * len(fields)} bytes) "
            f"but holds {r.left} bytes",
            offset=at,
        )
    table = r.array(">u4", count * len(fields)).reshape(count, len(fields)).astype(np.int64)
    columns: dict[int, np.ndarray] = {bit: table[:, i] for i, bit in enumerate(fields)}
    cts = columns.get(TRUN_CTS)
    if cts is not None:
        cts = np.where(cts >= 2**31, cts - 2**32, cts)
    return Trun(
        flags,
        count,
        data_offset,
        first_flags,
        columns.get(TRUN_DURATION),
        columns.get(TRUN_SIZE),
        columns.get(TRUN_FLAGS),
        cts,
    )
