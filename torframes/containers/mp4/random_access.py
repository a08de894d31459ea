"""Indexes of fragments: ``sidx`` (§8.16.3) and ``mfra``/``tfra``/``mfro`` (§8.8.9–8.8.11).

Both tell where movie fragments are without walking the file box by box:

* a segment index (``sidx``, ISO/IEC 14496-12 §8.16.3) lists consecutive
  subsegments by size, from an anchor right after the ``sidx`` box (plus
  ``first_offset``): every subsegment start is a top-level box start,
  known at once;
* the movie fragment random access box (``mfra``, §8.8.9) at the end of
  the file holds one track fragment random access box (``tfra``, §8.8.10)
  per track, listing sync samples with their time and the offset of the
  ``moof`` holding them; the last 16 bytes of the file are the ``mfro``
  (§8.8.11) giving ``mfra``'s size, so it can be found from the end.

These are hints: :mod:`~torframes.containers.mp4.fragment_walk` checks
every position against the chain of box headers before using a fragment.
Each reader checks its entry count against the bytes the box holds first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from torframes.containers.mp4.boxes import Reader
from torframes.errors import MalformedContainer

__all__ = ["Sidx", "Tfra", "read_mfro", "read_sidx", "read_tfra"]

#: Times and offsets from here on fit no file (and would overflow 64-bit sums).
_FAR = 2**62


@dataclass(frozen=True, slots=True)
class Sidx:
    """``sidx``: subsegments of the stream ``reference_id``, from ``first_offset`` after the box.

    ``sizes`` are referenced sizes in bytes, ``durations`` in ``timescale``
    ticks from ``earliest_pts``; ``to_index`` is True where a reference
    points to another ``sidx`` (reference_type 1).
    """

    version: int
    reference_id: int
    timescale: int
    earliest_pts: int
    first_offset: int
    to_index: np.ndarray
    sizes: np.ndarray
    durations: np.ndarray

    def starts(self, anchor: int) -> np.ndarray:
        """File offsets of the subsegments; ``anchor`` is the first byte after the ``sidx``."""
        ends = np.cumsum(self.sizes)
        return anchor + self.first_offset + ends - self.sizes

    def end(self, anchor: int) -> int:
        """The first byte after the last subsegment."""
        return anchor + self.first_offset + int(self.sizes.sum())

    def times(self) -> np.ndarray:
        """Earliest presentation time of each subsegment, in ``timescale`` ticks."""
        ends = np.cumsum(self.durations)
        return self.earliest_pts + ends - self.durations


def read_sidx(r: Reader) -> Sidx:
    """Segment index box, §8.16.3: a stream's subsegments, their sizes and durations.

    reference_ID, timescale, then earliest_presentation_time and
    first_offset (32 bits in version 0, 64 in version 1), 16 reserved bits,
    a 16-bit reference count and 12 bytes per reference: reference_type (1
    bit) and referenced_size (31), subsegment_duration, and SAP fields
    (not kept). Versions above 1 are unknown (FFmpeg skips such a box); 64-bit
    times or offsets of 2^62 or more fit no file and are rejected too.
    """
    at = r.offset
    version, _ = r.full_box()
    if version > 1:
        raise MalformedContainer(f"'sidx' version {version} is unknown", offset=at)
    reference_id, timescale = r.u32(), r.u32()
    at = r.offset
    if version == 1:
        earliest, first_offset = r.u64(), r.u64()
        if earliest >= _FAR or first_offset >= _FAR:
            raise MalformedContainer(
                f"'sidx' earliest time {earliest} or first offset {first_offset} is beyond 2^62",
                offset=at,
            )
    else:
        earliest, first_offset = r.u32(), r.u32()
    r.skip(2)
    at = r.offset
    n = r.u16()
    if n * 12 > r.left:
        raise MalformedContainer(
            f"'sidx' says {n} references ({n * 12} bytes) but holds {r.left} bytes", offset=at
        )
    table = r.array(">u4", 3 * n).astype(np.int64).reshape(n, 3)
    return Sidx(
        version,
        reference_id,
        timescale,
        earliest,
        first_offset,
        (table[:, 0] >> 31).astype(bool),
        table[:, 0] & 0x7FFFFFFF,
        table[:, 1],
    )


@dataclass(frozen=True, slots=True)
class Tfra:
    """``tfra``: sync samples of track ``track_id``: their times and their ``moof`` offsets."""

    track_id: int
    times: np.ndarray
    moof_offsets: np.ndarray


def _big_endian(raw: np.ndarray, start: int, width: int) -> np.ndarray:
    """Unsigned big-endian integers of ``width`` bytes from column ``start`` of each row."""
    view = np.ascontiguousarray(raw[:, start : start + width]).view(f">u{width}")
    return view.reshape(len(raw)).astype(np.uint64)


def read_tfra(r: Reader) -> Tfra:
    """Track fragment random access box, §8.8.10: (time, moof_offset) per listed sync sample.

    After the track ID, a word whose low six bits give the byte lengths
    (minus 1) of the traf, trun and sample numbers, then the entry count.
    Each entry is time and moof_offset (32 bits each in version 0, 64 in
    version 1) and those three numbers, which are not kept.
    """
    version, _ = r.full_box()
    track_id = r.u32()
    lengths = r.u32()
    width = 8 if version == 1 else 4
    record = 2 * width + sum(((lengths >> shift) & 3) + 1 for shift in (4, 2, 0))
    at = r.offset
    n = r.u32()
    if n * record > r.left:
        raise MalformedContainer(
            f"'tfra' says {n} entries ({n * record} bytes) but holds {r.left} bytes", offset=at
        )
    raw = r.array("u1", n * record).reshape(n, record)
    times = _big_endian(raw, 0, width)
    if width == 8:
        times = times.view(np.int64)
    return Tfra(track_id, times.astype(np.int64), _big_endian(raw, width, width))


def read_mfro(r: Reader) -> int:
    """Movie fragment random access offset box, §8.8.11: the size of the enclosing ``mfra``."""
    r.full_box()
    return r.u32()
