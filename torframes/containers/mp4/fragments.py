"""The samples of movie fragments, with the times FFmpeg's mov demuxer gives them.

Input: the fragments and segment indexes of the box chain after ``moov``,
in file order (:class:`~torframes.containers.mp4.fragment_walk.FragmentLayout`).
Output, per track: every fragment sample in FFmpeg's index order (file
order), its byte range, duration, decode time, composition offset, the
``dts_shift`` FFmpeg adds when it makes the packet, and its sync flag.
Loops run per fragment and per run; everything per sample is numpy.

Decode times follow ``mov_read_trun`` (FFmpeg 8, default options):

* a run after another of the same track fragment continues it; else it
  starts at the ``tfdt`` of its track in this ``moof``; else at the
  earliest presentation time a ``sidx`` gave for a subsegment starting at
  this ``moof`` (rescaled to the track timescale); else where the track
  ended (the last run's end, the last ``tfdt``, a ``sidx``'s end, at first
  the ``stts`` total of the ``moov`` samples);
* from each start the edit list's offset is taken (``sc->time_offset``:
  first non-empty edit's media time minus the leading empty edit): FFmpeg
  turns its advanced edit lists off for tracks without ``stts`` entries
  and applies only this shift to fragments;
* the sample flags say sync unless ``sample_is_non_sync_sample`` is set or
  ``sample_depends_on`` is 1; every audio sample is sync.

Presentation times are ``dts + dts_shift + cts``; ``dts_shift`` is the
largest negation of a negative composition offset FFmpeg has read so far
for the track. FFmpeg reads every fragment while opening a file unless a
``sidx`` covering the whole file is read first: then it reads them one by
one while demuxing, and earlier packets get the smaller shift of the
fragments read by then. Both are reproduced (``lazy_from``). Where the
``moov`` holds samples but a ``ctts`` not covering them all, FFmpeg's
composition offset index stalls on the gap and every later offset counts
as 0; reproduced too, with a note.

Departures, each with a note: samples whose bytes run past the end of the
file (a truncated recording) are dropped (FFmpeg returns the first of them
cut short, then fails); FFmpeg's ``AVINDEX_DISCARD_FRAME`` flags for
fragments that overlap in time are only counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from torframes.containers.mp4.boxes import BoxHeader
from torframes.containers.mp4.moof import Fragment, Run, TfdtEvent
from torframes.containers.mp4.moov import Movie, Track
from torframes.containers.mp4.random_access import Sidx
from torframes.containers.mp4.timeline import legacy_offset, rescale
from torframes.errors import MalformedContainer

__all__ = ["FragmentSamples", "fragment_samples", "lazy_from"]

#: Sample flags (§8.8.3.1): sample_is_non_sync_sample and sample_depends_on == 1.
NON_SYNC = 0x00010000
DEPENDS_YES = 0x01000000
_LIMIT = 2**62


@dataclass
class FragmentSamples:
    """One track's fragment samples in FFmpeg's index order."""

    offsets: np.ndarray
    sizes: np.ndarray
    durations: np.ndarray
    dts: np.ndarray
    cts: np.ndarray
    #: The ``dts_shift`` FFmpeg adds to each sample's presentation time.
    shift: np.ndarray
    keyframes: np.ndarray
    #: Run number of each sample, counted over the track's runs.
    runs: np.ndarray
    #: The ``dts_shift`` of the ``moov`` samples' packets once fragments are read.
    moov_shift: int = 0
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.offsets)


@dataclass
class _Track:
    """A track's FFmpeg state while fragments are read in order."""

    track: Track
    timescale: int
    time_offset: int
    end: int
    next_run: int | None = None
    parts: list[tuple[Run, int, int]] = field(default_factory=list)


def lazy_from(
    events: Sequence[Fragment | tuple[BoxHeader, Sidx]],
    *,
    before: Sequence[BoxHeader],
    chain: Sequence[BoxHeader],
    file_size: int,
    mfra: BoxHeader | None,
) -> int | None:
    """How many fragments FFmpeg reads while opening, if it reads the rest lazily, else None.

    FFmpeg stops reading top-level boxes after the first one that follows
    ``moov``, an ``mdat`` (anywhere before, ``before`` holds the boxes
    before ``moov``) and a ``sidx`` whose subsegments reach the end of the
    file or the ``mfra`` (its "complete" fragment index).
    """
    sidx_at = {box.start: sidx for box, sidx in (e for e in events if isinstance(e, tuple))}
    found_mdat = any(b.type == b"mdat" and b.size > b.header_size for b in before)
    complete = False
    fragments = 0
    for box in chain:
        if box.type == b"moof":
            fragments += 1
        elif box.type == b"mdat" and box.size > box.header_size:
            found_mdat = True
        elif box.type == b"sidx" and box.start in sidx_at:
            end = sidx_at[box.start].end(box.end)
            complete |= end == file_size or (mfra is not None and end == mfra.start)
        if found_mdat and complete:
            return fragments
    return None


def fragment_samples(
    movie: Movie,
    events: Sequence[Fragment | tuple[BoxHeader, Sidx]],
    *,
    file_size: int,
    moov_shifts: dict[int, int],
    lazy: int | None = None,
) -> dict[int, FragmentSamples]:
    """Every track's fragment samples (tracks without any are left out).

    ``moov_shifts`` are the ``dts_shift`` the ``moov`` ``ctts`` of each
    track gives; ``lazy`` is :func:`lazy_from`'s answer.
    """
    state = {t.track_id: _start(movie, t) for t in movie.tracks}
    sidx_pts: dict[tuple[int, int], int] = {}
    ordinal = -1
    for event in events:
        if isinstance(event, tuple):
            _read_sidx(*event, state, sidx_pts)
            continue
        ordinal += 1
        start = event.moof.start
        for item in event.events:
            s = state.get(item.track_id)
            if s is None:
                continue
            if isinstance(item, TfdtEvent):
                s.end = item.value
                continue
            if item.follows and s.next_run is not None:
                first = s.next_run - s.time_offset
            elif item.tfdt is not None:
                first = item.tfdt - s.time_offset
            elif (start, item.track_id) in sidx_pts:
                first = sidx_pts[start, item.track_id] - s.time_offset
            else:
                first = s.end - s.time_offset
            total = int(item.durations.sum())
            if abs(first) > _LIMIT or total > _LIMIT:
                raise MalformedContainer(
                    f"track {item.track_id}: fragment decode times overflow", offset=start
                )
            s.parts.append((item, first, ordinal))
            s.next_run = s.end = first + total + s.time_offset
    out = {}
    for track_id, s in state.items():
        if s.parts:
            out[track_id] = _samples(s, ordinal + 1, moov_shifts.get(track_id, 0), lazy, file_size)
    return out


def _start(movie: Movie, track: Track) -> _Track:
    timescale = track.mdhd.timescale or movie.mvhd.timescale or 1
    offset = 0
    if track.elst is not None and len(track.elst):
        offset = -legacy_offset(track.elst, timescale, movie.mvhd.timescale)
    stts = track.stts
    end = int((stts.counts * stts.values).sum()) if stts is not None and len(stts.counts) else 0
    return _Track(track, timescale, offset, end)


def _read_sidx(box: BoxHeader, sidx: Sidx, state: dict[int, _Track], pts: dict) -> None:
    """``mov_read_sidx``: subsegment times for the ``moof`` at each start; the track's end."""
    s = state.get(sidx.reference_id)
    if s is None or sidx.timescale == 0 or not len(sidx.sizes):
        return
    times = sidx.times()
    for start, time in zip(sidx.starts(box.end).tolist(), times.tolist(), strict=True):
        pts[start, sidx.reference_id] = rescale(time, s.timescale, sidx.timescale)
    s.end = int(sidx.earliest_pts + sidx.durations.sum())


def _samples(s: _Track, fragments: int, moov_shift: int, lazy: int | None, file_size: int):
    runs = [run for run, _, _ in s.parts]
    name = f"track {s.track.track_id}"
    counts = np.array([len(r) for r in runs], dtype=np.int64)
    sizes = np.concatenate([r.sizes for r in runs])
    durations = np.concatenate([r.durations for r in runs])
    flags = np.concatenate([r.flags for r in runs])
    cts = np.concatenate([r.cts for r in runs])
    run_of = np.repeat(np.arange(len(runs), dtype=np.int64), counts)
    first = np.cumsum(counts) - counts
    before = np.cumsum(sizes) - sizes
    run_offsets = np.array([r.offset for r in runs], dtype=np.int64)
    offsets = np.repeat(run_offsets - before[first], counts) + before
    elapsed = np.cumsum(durations) - durations
    run_starts = np.array([f for _, f, _ in s.parts], dtype=np.int64)
    dts = np.repeat(run_starts - elapsed[first], counts) + elapsed
    notes: list[str] = []
    audio = s.track.kind == "audio"
    keys = np.ones(len(sizes), dtype=bool) if audio else (flags & (NON_SYNC | DEPENDS_YES)) == 0
    # dts_shift: the largest -cts FFmpeg has read by each fragment (INT_MIN counts as INT_MIN + 1)
    negative = np.maximum(-np.maximum(cts, -(2**31) + 1), 0)
    ordinals = np.array([k for _, _, k in s.parts], dtype=np.int64)
    per_fragment = np.zeros(fragments, dtype=np.int64)
    np.maximum.at(per_fragment, ordinals, np.maximum.reduceat(negative, first))
    reached = np.maximum.accumulate(np.maximum(per_fragment, moov_shift))
    if lazy is None:
        by_fragment = np.full(fragments, reached[-1])
        header = int(reached[-1])
    else:
        opened = int(reached[lazy - 1]) if lazy > 0 else moov_shift
        by_fragment = np.maximum(reached, opened)
        header = opened
    shift = np.repeat(by_fragment[ordinals], counts)
    moov_samples = s.track.sample_count
    ctts = s.track.ctts
    if moov_samples and (ctts is None or int(ctts.counts.sum()) < moov_samples):
        cts = np.zeros_like(cts)
        notes.append(
            f"{name}: the moov ctts does not cover its samples; as in FFmpeg, composition "
            "offsets of fragment samples count as 0"
        )
    past = offsets + sizes > file_size
    if past.any():
        notes.append(
            f"{name}: {int(past.sum())} fragment sample(s) past the end of the file dropped "
            "(truncated file)"
        )
        keep = ~past
        offsets, sizes, durations, dts, cts = (
            a[keep] for a in (offsets, sizes, durations, dts, cts)
        )
        shift, keys, run_of = shift[keep], keys[keep], run_of[keep]
    overlap = int((np.diff(dts) <= 0).sum()) if len(dts) > 1 else 0
    if overlap:
        notes.append(
            f"{name}: {overlap} fragment sample(s) not after the one before (FFmpeg discards them)"
        )
    return FragmentSamples(offsets, sizes, durations, dts, cts, shift, keys, run_of, header, notes)
