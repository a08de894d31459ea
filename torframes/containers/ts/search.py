"""Finding the keyframe at or before a time in a transport stream: bisection on PTS.

A transport stream has no index, so each wanted time is searched for
(no linear read, ever):

1. **Bisection on DTS over the file.** ``lo`` is a frame known to be
   decoded by the target time (at first, the first keyframe), ``hi`` the
   end of the file. A probe reads a small window between them, resyncs
   on packets and lists the frames whose PES packets start there
   (:func:`.scan.unit_starts`). If their DTS are past the target, ``hi``
   moves down; if not, ``lo`` moves up; a window holding both sides ends
   the bisection (DTS grow in file order, §2.4.3.7, so the crossing is a
   place in the file). The probe goes where the DTS at ``lo`` and ``hi``
   put the target if the bitrate were constant (regula falsi), pushed a
   window further each time it lands on the same side (so the target is
   soon bracketed); after ``MAX_STUCK`` steps that did not halve the
   interval, to its middle. Two to four probes on most files.
2. **Back to the keyframe.** From the crossing, windows of doubling size
   are read backwards until one holds a keyframe whose PTS is at or before
   the target: the last such keyframe in that unbroken span is the one
   (every frame past the crossing has DTS, hence PTS, after the target).
   Keyframes seen by earlier probes bound how far back this goes.
3. **The frame's bytes.** From the keyframe's first packet, the packets
   are read forward to the next PES start of its stream
   (:func:`frame_end`): the frame's span in the file.

Each search's reads and bytes are bounded (:class:`SearchBudget`,
``Settings.ts_search_reads`` and ``ts_search_bytes``); a search that runs
out answers the latest keyframe at or before the target it has seen, and
says so. Searches for several times run side by side, one Need per round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torframes.containers.base import ByteRange, Need
from torframes.containers.reading import Reads, Task, merge_ranges
from torframes.containers.ts.packets import PacketFormat
from torframes.containers.ts.pes import unwrap
from torframes.containers.ts.scan import UnitStart, next_unit_start, unit_starts
from torframes.errors import MalformedContainer

__all__ = [
    "SearchBudget",
    "SearchExhausted",
    "Stream",
    "find_keyframe",
    "frame_end",
    "side_by_side",
]

KiB = 1024
#: Interpolated probes in a row that may fail to halve the interval before one goes to its middle.
MAX_STUCK = 3
#: Bytes held past a read (a driver feeds whole pieces) that a probe looks at too, at most.
SPARE_BYTES = 1024 * KiB


class SearchExhausted(Exception):
    """A search used all the reads or bytes it was allowed (internal signal, never escapes)."""


@dataclass(frozen=True, slots=True)
class Stream:
    """The video stream searched: packet format, PID, codec, and the PTS times count from."""

    fmt: PacketFormat
    pid: int
    codec: str
    start_pts: int
    file_size: int

    def ticks(self, ts: int) -> int:
        """A raw 33-bit PTS/DTS as ticks past ``start_pts`` (across a wrap)."""
        return unwrap(ts, self.start_pts) - self.start_pts


@dataclass
class SearchBudget:
    """At most ``max_reads`` reads and ``max_bytes`` bytes not held yet, for one search."""

    reads: Reads
    max_reads: int
    max_bytes: int
    reason: str
    count: int = 0
    spent: int = 0
    #: Whether a read was refused: the search gave the best keyframe it had seen.
    exhausted: bool = False
    asked: list[ByteRange] = field(default_factory=list)
    touched: list[ByteRange] = field(default_factory=list)

    def read(self, start: int, stop: int) -> Task[bytes]:
        """``[start, stop)`` (cut to the file) and any bytes held contiguously past it."""
        stop = min(stop, self.reads.file_size)
        need = self.reads.need((ByteRange(start, stop),), self.reason)
        if need is not None:
            if self.count >= self.max_reads or self.spent + need.length > self.max_bytes:
                self.exhausted = True
                raise SearchExhausted(self.reason)
            self.count += 1
            self.spent += need.length
            self.asked.extend(need.ranges)
            while need is not None:
                yield need
                need = self.reads.need((ByteRange(start, stop),), self.reason)
        self.touched.append(ByteRange(start, stop))
        end = self.reads.extent(start, max(stop, start + SPARE_BYTES))
        return bytes(self.reads.get(start, end))


def _units(stream: Stream, data: bytes, base: int) -> list[UnitStart]:
    return unit_starts(data, base, stream.fmt, stream.pid, stream.codec)


def find_keyframe(
    stream: Stream,
    budget: SearchBudget,
    target: int,
    first: UnitStart,
    *,
    end_ticks: int | None = None,
    window: int = 16 * KiB,
    notes: list[str] | None = None,
) -> Task[UnitStart]:
    """The last keyframe whose PTS is at most ``target`` (ticks past ``stream.start_pts``).

    ``first`` is the stream's first keyframe, the answer for targets before
    it; ``end_ticks`` the time the file ends at, if known. See the module
    docstring for the steps.
    """
    best = first
    if stream.ticks(first.pts) >= target:
        return first
    lo, lo_t = first.offset, stream.ticks(first.dts)
    hi, hi_t = stream.file_size, end_ticks
    stuck, side = 0, 0
    try:
        while hi - lo > 2 * window:  # 1. bisection on DTS
            span = hi - lo
            mid = lo + span // 2
            if stuck < MAX_STUCK and hi_t is not None and hi_t > lo_t:
                guess = lo + (target - lo_t) * span // (hi_t - lo_t)
                guess += side * (window << stuck) - window // 2
                mid = min(max(guess, lo + window), hi - 2 * window)
            units = yield from _probe(stream, budget, mid, hi, window)
            best = _later_key(stream, best, units, target)
            before = [u for u in units if stream.ticks(u.dts) <= target]
            after = [u for u in units if stream.ticks(u.dts) > target]
            if before:
                lo, lo_t, side = before[-1].offset, stream.ticks(before[-1].dts), 1
            if after and before:
                hi = after[0].offset
                break
            if after:
                hi, hi_t, side = mid, stream.ticks(after[0].dts), -1
            elif not units:
                hi, hi_t, side = mid, None, -1
            stuck = 0 if hi - lo <= span // 2 else stuck + 1
        return (yield from _back_to_keyframe(stream, budget, target, best, hi, window))
    except SearchExhausted:
        if notes is not None:
            notes.append(
                f"the search for {target / 90000:.3f} s ran out of reads or bytes "
                f"({budget.count} reads, {budget.spent} bytes): an earlier keyframe is given"
            )
        return best


def _later_key(stream: Stream, best: UnitStart, units: list[UnitStart], target: int) -> UnitStart:
    keys = [
        u
        for u in units
        if u.key
        and stream.ticks(u.pts) <= target
        and stream.ticks(u.dts) <= target
        and u.offset > best.offset
    ]
    return keys[-1] if keys else best


def _probe(
    stream: Stream, budget: SearchBudget, at: int, stop: int, window: int
) -> Task[list[UnitStart]]:
    """The frames starting in a window at ``at`` that widens until one is found or ``stop``."""
    size = window
    while True:
        data = yield from budget.read(at, min(stop, at + size))
        units = [u for u in _units(stream, data, at) if u.offset < stop]
        if units or at + size >= stop:
            return units
        size *= 2


def _back_to_keyframe(
    stream: Stream, budget: SearchBudget, target: int, best: UnitStart, hi: int, window: int
) -> Task[UnitStart]:
    """The last keyframe at or before ``target`` in the unbroken span ending at ``hi``."""
    size = window
    margin = 4 * stream.fmt.size
    while best.offset < hi:
        start = max(best.offset, hi - size)
        data = yield from budget.read(start, hi + margin)
        units = [u for u in _units(stream, data, start) if u.offset < hi]
        if any(u.key is None for u in units):  # a frame's first picture lies past the read
            data = yield from budget.read(start, hi + window)
            units = [u for u in _units(stream, data, start) if u.offset < hi]
        found = _later_key(stream, best, units, target)
        if found is not best or start <= best.offset:
            return found
        size *= 2
    return best  # a damaged file: DTS that do not grow


def frame_end(
    stream: Stream, reads: Reads, unit: UnitStart, *, window: int, limit: int
) -> Task[int]:
    """Where the frame at ``unit`` ends: the next PES start of its stream, or the file's end.

    Reads forward in windows doubling from ``window``; a frame spanning more
    than ``limit`` bytes is refused.
    """
    size = window
    while True:
        stop = min(stream.file_size, unit.offset + size)
        yield from reads.require((ByteRange(unit.offset, stop),), f"frame at {unit.offset}")
        end = reads.extent(unit.offset, max(stop, unit.offset + SPARE_BYTES))
        data = bytes(reads.get(unit.offset, end))
        found = next_unit_start(data, unit.offset, stream.fmt, stream.pid, unit.offset)
        if found is not None:
            return found
        if end >= stream.file_size:
            return stream.file_size
        if size > limit:
            raise MalformedContainer(
                f"frame at {unit.offset} runs past {limit} bytes", offset=unit.offset
            )
        size *= 2


def side_by_side(tasks: list[Task[object]], reason: Callable[[int], str]) -> Task[list[object]]:
    """Run tasks together: each round, one Need holding every unfinished task's ranges."""
    results: list[object] = [None] * len(tasks)
    active = list(range(len(tasks)))
    while active:
        ranges: list[ByteRange] = []
        for i in list(active):
            try:
                need = next(tasks[i])
            except StopIteration as stop:
                results[i] = stop.value
                active.remove(i)
                continue
            ranges.extend(need.ranges)
        if ranges:
            yield Need(merge_ranges(ranges), reason(len(active)))
    return results
