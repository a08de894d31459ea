"""Decode and presentation times as FFmpeg's mov demuxer reports them.

FFmpeg (``libavformat/mov.c``) applies a track's edit list to its index
before any packet is read. By default (``advanced_editlist=1``)
``mov_fix_index`` rebuilds the index edit by edit:

* Leading empty edits (media time -1) only move the timeline: the next
  edit starts that much later.
* For each other edit, indexing starts at the last keyframe whose
  presentation time is at or before the edit's media time (for audio, one
  second earlier, to prime the decoder) and runs to the first keyframe
  (any sample, for audio) ending at or after the edit's end; with a
  ``ctts``, one keyframe further for video. Samples outside the edit stay
  in the index but are flagged discard; their decode times count back from
  the first sample inside the edit, which gets the edit's start on the
  presentation timeline. AAC-like audio straddling the edit start is kept
  and shifted by the part that is cut.
* Video whose earliest presentation time inside the edits ends up above
  zero (after taking off the leading empty edits) is moved earlier by that
  much: ``libx264`` with B-frames through FFmpeg's muxer gets an edit with
  media time 1024 and comes out with its first pts 0 and first dts -1024.

Packet times are then ``dts`` = the index time and ``pts`` = ``dts +
dts_shift + ctts`` (``mov_read_packet``). This module reproduces all of
that with numpy: a loop per edit, never per sample. The common cases (no
edit list; one edit; empty edits then one edit; any media rate, which
FFmpeg ignores) are exact, and so are several non-empty edits: like FFmpeg
they can drop samples (outside every edit) and repeat them (an edit
showing media twice), so a track's rows then follow FFmpeg's index order
and ``sample`` numbers can repeat or skip.

When FFmpeg's advanced edit lists are switched off (an earlier track with
an empty ``stts``, as in fragmented files), its legacy path is followed:
one shift by the first edit's media time minus the leading empty edit.

Deliberate departures, each recorded as a note on the index: edit lists of
more than :data:`MAX_EDITS` entries are ignored (FFmpeg walks them all);
with an ``mvhd`` timescale of 0 edit lists are ignored (FFmpeg drops every
sample of such a track). Discard flags (samples FFmpeg decodes but drops)
are counted in a note; the samples table has no column for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from torframes.containers.mp4.headers import EditList
from torframes.containers.mp4.tables import TrackSamples
from torframes.errors import IndexTooLarge, MalformedContainer

__all__ = ["MAX_EDITS", "Timeline", "ffmpeg_timeline", "legacy_offset", "rescale"]

#: Longest edit list applied; longer ones are ignored (with a note).
MAX_EDITS = 4096
_LIMIT = 2**61


@dataclass
class Timeline:
    """Rows of a track's samples table, in FFmpeg's index order, with their times."""

    rows: np.ndarray
    dts: np.ndarray
    pts: np.ndarray
    discard: np.ndarray
    notes: list[str] = field(default_factory=list)


def rescale(value: int, num: int, den: int) -> int:
    """``av_rescale(value, num, den)``: ``value * num / den`` rounded to nearest, ties away."""
    q = (abs(value) * num + den // 2) // den
    return q if value >= 0 else -q


def ffmpeg_timeline(
    s: TrackSamples,
    *,
    elst: EditList | None,
    timescale: int,
    movie_timescale: int,
    video: bool,
    audio: bool,
    vorbis: bool = False,
    advanced: bool = True,
    max_rows: int = 2**62,
    name: str = "track",
) -> Timeline:
    """The (row, dts, pts) FFmpeg reports for each packet of one track."""
    n = len(s)
    index_ts = s.dts - s.dts_shift
    notes: list[str] = []
    rows = np.arange(n, dtype=np.int64)
    discard = np.zeros(n, dtype=bool)
    edits = elst is not None and len(elst) > 0 and n > 0
    if edits and s.skip_edits:
        edits = False
    elif edits and len(elst) > MAX_EDITS:
        notes.append(f"{name}: edit list of {len(elst)} entries ignored (FFmpeg applies it)")
        edits = False
    elif edits and movie_timescale == 0:
        notes.append(f"{name}: mvhd timescale 0, edit list ignored (FFmpeg drops the samples)")
        edits = False
    if not edits:
        ts = index_ts
    elif not advanced:
        ts = index_ts + legacy_offset(elst, timescale, movie_timescale)
    else:
        rows, ts, discard = _fix_index(
            s, index_ts, elst, timescale, movie_timescale, video, audio, vorbis, max_rows, notes
        )
        if n and not len(rows):
            notes.append(f"{name}: the edit list shows none of the samples")
    pts = ts + (s.dts_shift + s.ctts[rows]) if s.has_ctts else ts
    return Timeline(rows, ts, pts, discard, notes)


def legacy_offset(elst: EditList, timescale: int, movie_timescale: int) -> int:
    """``mov_build_index`` without advanced edit lists: ``-(start_time - empty_duration)``."""
    empty = start = 0
    first = 0
    for i, (duration, time) in enumerate(
        zip(elst.duration.tolist(), elst.media_time.tolist(), strict=True)
    ):
        if i == 0 and time == -1:
            empty, first = duration, 1
        elif i == first and time >= 0:
            start = time
    if not (empty or start) or movie_timescale <= 0:
        return 0
    return -(start - rescale(empty, timescale, movie_timescale))


def _fix_index(
    s: TrackSamples,
    index_ts: np.ndarray,
    elst: EditList,
    timescale: int,
    movie_timescale: int,
    video: bool,
    audio: bool,
    vorbis: bool,
    max_rows: int,
    notes: list[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``mov_fix_index``, one edit at a time (see the module docstring)."""
    n = len(s)
    ctts = s.ctts
    cts = index_ts + s.dts_shift + ctts
    frame = np.append(np.diff(index_ts), 0)
    keys = s.keyframes
    key_rows = np.flatnonzero(keys)
    entry_end = -s.dts_shift
    empty_sum = 0
    found_non_empty = False
    first_audio = -1
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    corrected: list[np.ndarray] = []
    total = 0
    for duration, media_time in zip(elst.duration.tolist(), elst.media_time.tolist(), strict=True):
        duration = rescale(duration, timescale, movie_timescale)
        counter, entry_end = entry_end, entry_end + duration
        if abs(entry_end) > _LIMIT or abs(media_time) > _LIMIT:
            raise MalformedContainer("edit list times overflow 61 bits")
        if not found_non_empty and media_time == -1:
            empty_sum += duration
            continue
        found_non_empty = True
        if audio:
            first_audio = 1 if first_audio < 0 else 0
        search = max(media_time - timescale, int(index_ts[0])) if audio else media_time
        start = _find_start(s, index_ts, key_rows, search)
        edit_end = media_time + duration

        def ends_edit(lo: int, hi: int, edit_end: int = edit_end, last: int = duration):
            span = frame[lo:hi].copy()
            if hi == n:
                span[-1] = last
            return (cts[lo:hi] + span >= edit_end) & (keys[lo:hi] | audio)

        wait = 2 if s.has_ctts and not audio else 1
        stop = _nth_true(ends_edit, start, n, wait)
        stop = n - 1 if stop is None else stop
        total += stop + 1 - start
        if total > max_rows:
            raise IndexTooLarge(f"the edit list makes more than {max_rows} index entries")
        seg = slice(start, stop + 1)
        span = frame[seg].copy()
        if stop == n - 1:
            span[-1] = duration
        c = cts[seg]
        inside = (c >= media_time) & (c < edit_end)
        straddle = np.zeros_like(inside)
        if audio and not vorbis and first_audio > 0:
            straddle = (c < media_time) & (c + span > media_time)
        kept = inside | straddle
        cut = np.where(straddle, media_time - c, 0)
        ts = np.full(len(c), counter, dtype=np.int64)
        if kept.any():
            e = int(np.argmax(kept))
            run = np.cumsum(span[e:]) - span[e:]
            ts[e:] = counter + run - np.cumsum(cut[e:])
            before = np.cumsum(span[:e][::-1])[::-1]
            ts[:e] = ts[e] - before
        corrected.append((ts + ctts[seg] + s.dts_shift)[inside])
        parts.append((np.arange(start, stop + 1, dtype=np.int64), ts, ~kept))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=bool)
    rows = np.concatenate([p[0] for p in parts])
    ts = np.concatenate([p[1] for p in parts])
    discard = np.concatenate([p[2] for p in parts])
    shift = _min_corrected_pts(np.concatenate(corrected)) - empty_sum
    if video and shift > 0:
        ts = ts - shift
    return rows, ts, discard


def _search_timestamp(index_ts: np.ndarray, key_rows: np.ndarray, target: int, any_: bool) -> int:
    """``ff_index_search_timestamp(..., AVSEEK_FLAG_BACKWARD [| ANY])`` on a sorted index."""
    n = len(index_ts)
    a, b = -1, n
    if n and index_ts[n - 1] < target:
        a = n - 1
    while b - a > 1:
        m = (a + b) >> 1
        t = int(index_ts[m])
        if t >= target:
            b = m
        if t <= target:
            a = m
    if any_ or a < 0:
        return a
    i = int(np.searchsorted(key_rows, a, side="right")) - 1
    return int(key_rows[i]) if i >= 0 else -1


def _find_start(s: TrackSamples, index_ts: np.ndarray, key_rows: np.ndarray, search: int) -> int:
    """``find_prev_closest_index``: keyframe search, then ANY, then 0 (see FFmpeg)."""
    target = search - s.dts_shift if s.dts_shift > 0 else search
    keys = s.keyframes
    for any_ in (False, True):
        i = _search_timestamp(index_ts, key_rows, target, any_)
        if i < 0:
            continue
        first = int(np.searchsorted(index_ts, index_ts[i], side="left"))
        if i > first:
            candidates = np.arange(first, i) if any_ else first + np.flatnonzero(keys[first:i])
            if len(candidates):
                i = int(candidates[0])
        if s.has_ctts:
            ok = keys[: i + 1] & (index_ts[: i + 1] + s.ctts[: i + 1] <= target)
            hits = np.flatnonzero(ok)
            i = int(hits[-1]) if len(hits) else -1
        if i >= 0:
            return i
    return 0


def _nth_true(cond: Callable[[int, int], np.ndarray], start: int, n: int, nth: int) -> int | None:
    """Index of the ``nth`` true of ``cond`` over ``[start, n)``, scanning in growing windows."""
    found, lo, width = 0, start, 1024
    while lo < n:
        hi = min(n, lo + width)
        hits = np.flatnonzero(cond(lo, hi))
        if found + len(hits) >= nth:
            return lo + int(hits[nth - found - 1])
        found += len(hits)
        lo, width = hi, width * 2
    return None


def _min_corrected_pts(values: np.ndarray) -> int:
    """FFmpeg's running ``min_corrected_pts``: a minimum that restarts after a negative value."""
    if not len(values):
        return -1
    if values[-1] < 0:
        return int(values[-1])
    negative = np.flatnonzero(values < 0)
    tail = values[negative[-1] + 1 :] if len(negative) else values
    return int(tail.min())
