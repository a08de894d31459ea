"""One movie fragment: ``moof`` into runs of samples, placed as FFmpeg places them.

A ``moof`` (ISO/IEC 14496-12 §8.8.4) holds ``mfhd`` (§8.8.5) and one
``traf`` (§8.8.6) per track fragment: ``tfhd`` (§8.8.7), an optional
``tfdt`` (§8.8.12) and ``trun`` boxes (§8.8.8). This module reads them in
file order, keeping the state FFmpeg's ``mov_read_tfhd``/``mov_read_trun``
keep, so that every run gets the byte offset FFmpeg gives it:

* the base of data offsets is ``tfhd``'s base-data-offset when present,
  else the ``moof`` start with default-base-is-moof, else the *implicit
  offset*: the ``moof`` start for the first track fragment, then the end
  of the previous run's data;
* a run starts at that base plus its own data-offset, or at the base
  itself when it has none: FFmpeg does not continue after the previous
  run of the same track fragment, as §8.8.8.3 says it should (writers
  always give data offsets, so both readings agree on real files);
* sample duration, size and flags default to ``tfhd``'s, else ``trex``'s;
  the first sample's flags to the run's first-sample-flags.

Decode times are not settled here: they depend on earlier fragments
(:mod:`~torframes.containers.mp4.fragments`). Each run remembers the
``tfdt`` of its track in this ``moof`` and whether it follows another run
of the same track fragment; ``tfdt`` boxes are kept as events in order.

Like FFmpeg, a run before any ``tfhd`` of its ``moof``, a ``tfhd`` with
track ID 0 and a sample of size 0 are errors (FFmpeg then fails to open
the file); a ``tfhd`` naming a track without ``trex`` is skipped, and so
is a run of a track the ``moov`` does not have.

Departures: the ``moof`` start is its first byte, also for a ``moof`` with a
64-bit size (FFmpeg takes the byte 8 before its payload, so its offsets
there are 8 bytes late); a ``tfdt`` before any ``tfhd`` of its ``moof`` is
ignored (FFmpeg gives it to the track of the previous ``moof``); data
offsets before the start of the file, or of 2^62 and more, are errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from torframes.containers.mp4.boxes import BoxHeader, Reader, iter_boxes
from torframes.containers.mp4.fragment_boxes import (
    Trex,
    read_tfdt,
    read_tfhd,
    read_trun,
)
from torframes.errors import MalformedContainer

__all__ = ["Fragment", "Run", "TfdtEvent", "parse_moof"]

#: Data offsets from here on fit no file (and would overflow 64-bit sums).
_FAR = 2**62


@dataclass(frozen=True, slots=True)
class Run:
    """One ``trun``: its samples' place, size, duration, flags and composition offsets."""

    track_id: int
    #: File offset of the first sample (base plus data offset).
    offset: int
    durations: np.ndarray
    sizes: np.ndarray
    flags: np.ndarray
    cts: np.ndarray
    #: The track's ``tfdt`` in this ``moof`` when the run was read (None: none yet).
    tfdt: int | None
    #: True when a run of the same track fragment came before (FFmpeg's ``next_trun_dts``).
    follows: bool

    def __len__(self) -> int:
        return len(self.sizes)


@dataclass(frozen=True, slots=True)
class TfdtEvent:
    """A ``tfdt`` read for ``track_id``: FFmpeg makes it the track's end time."""

    track_id: int
    value: int


@dataclass
class Fragment:
    """A parsed ``moof``: its runs and ``tfdt`` boxes in file order."""

    moof: BoxHeader
    events: list[Run | TfdtEvent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def runs(self) -> list[Run]:
        return [e for e in self.events if isinstance(e, Run)]

    @property
    def samples(self) -> int:
        return sum(len(run) for run in self.runs)


@dataclass
class _State:
    """What FFmpeg's ``MOVFragment`` holds while it reads one ``moof``."""

    moof_start: int
    implicit_offset: int
    found_tfhd: bool = False
    track_id: int = 0
    base: int = 0
    duration: int = 0
    size: int = 0
    flags: int = 0
    tfdt: dict[int, int] = field(default_factory=dict)
    follows: set[int] = field(default_factory=set)


def parse_moof(
    buf: bytes | memoryview,
    moof: BoxHeader,
    *,
    base: int,
    trex: Mapping[int, Trex],
    tracks: set[int],
    budget: int,
) -> Fragment:
    """Read the ``moof`` held in ``buf`` (``buf[0]`` at file offset ``base``).

    ``trex`` maps track IDs to their defaults, ``tracks`` are the track IDs
    of the ``moov``; ``budget`` is how many samples may still be indexed.
    """
    fragment = Fragment(moof)
    state = _State(moof_start=moof.start, implicit_offset=moof.start)
    left = budget
    for box in iter_boxes(buf, moof.payload_start - base, moof.end - base, base=base):
        if box.type != b"traf":
            continue
        for child in iter_boxes(buf, box.payload_start - base, box.end - base, base=base):
            r = Reader.payload(buf, child, base=base)
            if child.type == b"tfhd":
                _tfhd(r, state, trex)
            elif child.type == b"tfdt":
                if state.found_tfhd and state.track_id in tracks:
                    value = read_tfdt(r)
                    state.tfdt[state.track_id] = value
                    fragment.events.append(TfdtEvent(state.track_id, value))
            elif child.type == b"trun":
                run = _trun(r, state, tracks, left)
                if run is not None:
                    left -= len(run)
                    fragment.events.append(run)
    return fragment


def _tfhd(r: Reader, state: _State, trex: Mapping[int, Trex]) -> None:
    """``mov_read_tfhd``: select the track and its defaults; a track without ``trex`` is skipped."""
    at = r.offset
    tfhd = read_tfhd(r)
    if tfhd.track_id == 0:
        raise MalformedContainer("'tfhd' with track ID 0", offset=at)
    defaults = trex.get(tfhd.track_id)
    if defaults is None:
        return
    state.found_tfhd = True
    state.track_id = tfhd.track_id
    if tfhd.base_data_offset is not None:
        state.base = tfhd.base_data_offset
    elif tfhd.default_base_is_moof:
        state.base = state.moof_start
    else:
        state.base = state.implicit_offset
    state.duration = defaults.duration if tfhd.duration is None else tfhd.duration
    state.size = defaults.size if tfhd.size is None else tfhd.size
    state.flags = defaults.flags if tfhd.sample_flags is None else tfhd.sample_flags
    state.follows.discard(tfhd.track_id)


def _trun(r: Reader, state: _State, tracks: set[int], budget: int) -> Run | None:
    """``mov_read_trun``: the run's samples with defaults filled in and its start offset."""
    at = r.offset
    if not state.found_tfhd:
        raise MalformedContainer("'trun' before any 'tfhd' of its 'moof'", offset=at)
    trun = read_trun(r, budget)
    track_id = state.track_id
    if track_id not in tracks or trun.count == 0:
        return None
    n = trun.count
    offset = state.base + (trun.data_offset or 0)
    sizes = trun.sizes if trun.sizes is not None else np.full(n, state.size, dtype=np.int64)
    if not sizes.all():
        raise MalformedContainer(
            "'trun' has a sample of size 0 (FFmpeg refuses the file)", offset=at
        )
    durations = (
        trun.durations if trun.durations is not None else np.full(n, state.duration, np.int64)
    )
    if trun.sample_flags is not None:
        flags = trun.sample_flags
    else:
        flags = np.full(n, state.flags, dtype=np.int64)
        if trun.first_flags is not None:
            flags[0] = trun.first_flags
    cts = trun.cts if trun.cts is not None else np.zeros(n, dtype=np.int64)
    if offset < 0:
        raise MalformedContainer(
            f"'trun' data would start {-offset} bytes before the file", offset=at
        )
    if offset >= _FAR:
        raise MalformedContainer(f"'trun' data offset {offset} lies beyond any file", offset=at)
    run = Run(
        track_id,
        offset,
        durations,
        sizes,
        flags,
        cts,
        state.tfdt.get(track_id),
        track_id in state.follows,
    )
    state.implicit_offset = offset + int(sizes.sum())
    state.follows.add(track_id)
    return run
