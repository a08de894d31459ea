"""The I/O-free plumbing every container parser, locator and probe is written on.

Each of them is a generator task (:data:`Task`) that yields a
:class:`~torframes.containers.base.Need` whenever the bytes it holds do not
suffice, and returns its result; a :class:`Runner` turns the task into the
``feed``/``step`` contract of :mod:`torframes.containers.base`.
:class:`Reads` keeps the bytes fed under one memory rule for every
container, and :class:`Window` gives a task walking forward through the
file reads that widen a bounded number of times.

The memory rule (:meth:`Reads.feed`): everything fed is kept while the
total stays within ``soft_budget``. Past it, a task that can say which held
bytes still help (:attr:`Reads.keep`) has the rest forgotten first, and what
is fed is kept whole if it then fits; otherwise only its parts within the
ranges last asked for or named by ``keep``. ``max_bytes`` is a hard cap:
holding more is :class:`~torframes.errors.IndexTooLarge`. Errors found
while feeding are raised by the runner's next ``step``.
"""

from __future__ import annotations

import abc
import bisect
import struct
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Generic, NoReturn, TypeVar

from torframes.containers.base import (
    ByteRange,
    ByteStore,
    ContainerIndex,
    IndexLimits,
    IndexParser,
    Need,
)
from torframes.errors import ContainerError, MalformedContainer

__all__ = [
    "Reads",
    "Runner",
    "Spans",
    "Task",
    "TaskParser",
    "Window",
    "WindowExhausted",
    "merge_ranges",
]

MiB = 1024 * 1024

T = TypeVar("T")

#: A step-by-step reader: yields Needs, returns its result.
Task = Generator[Need, None, T]

#: Exceptions that bad input could raise from code that forgot a check; the
#: runner turns them into :class:`MalformedContainer` ("internal error"),
#: so that nothing but the project's errors ever leaves a parser.
_BAD_INPUT_ERRORS = (
    IndexError,
    KeyError,
    ValueError,
    OverflowError,
    ZeroDivisionError,
    struct.error,
)


def merge_ranges(ranges: Iterable[ByteRange]) -> tuple[ByteRange, ...]:
    """Ranges sorted, with overlapping and touching ones joined; empty ones dropped."""
    merged: list[ByteRange] = []
    for r in sorted(r for r in ranges if r.length):
        if merged and r.start <= merged[-1].stop:
            if r.stop > merged[-1].stop:
                merged[-1] = ByteRange(merged[-1].start, r.stop)
        else:
            merged.append(r)
    return tuple(merged)


#: Held or fed spans of a file, ``(offset, bytes)``: what :attr:`Reads.keep` is asked about.
Spans = Sequence[tuple[int, bytes | memoryview]]


class Reads:
    """The bytes of one file fed so far, under the memory rule of the module docstring.

    Everything fed is kept while the total stays under ``soft_budget``;
    past it only the parts of the ranges last asked for (:attr:`asked`, set
    by the :class:`Runner`) are kept, and those :attr:`keep` names (a
    driver feeding whole torrent pieces may give far more than was asked).
    """

    def __init__(self, file_size: int, soft_budget: int, *, max_bytes: int | None = None) -> None:
        self.file_size = file_size
        self.soft_budget = soft_budget
        self.store = ByteStore(file_size, 1 << 62 if max_bytes is None else max_bytes)
        self.asked: tuple[ByteRange, ...] = ()
        #: What of the given spans may still help the task (what it asked for
        #: last included, if it still wants that); None keeps every byte once
        #: held. With it, held bytes it does not name are forgotten when the
        #: budget is reached.
        self.keep: Callable[[Spans], Iterable[ByteRange]] | None = None
        #: An error met while feeding (over ``max_bytes``, or raised by ``keep``),
        #: raised by the runner's next step.
        self.error: Exception | None = None

    def feed(self, offset: int, data: bytes | memoryview) -> None:
        if offset < 0:
            raise ValueError("offset must not be negative")  # the driver's bug, not the file's
        if self.error is not None:
            return
        try:
            self._feed(offset, data)
        except (ContainerError, *_BAD_INPUT_ERRORS) as error:
            self.error = error

    def _feed(self, offset: int, data: bytes | memoryview) -> None:
        if self.store.held + len(data) <= self.soft_budget:
            self.store.add(offset, data)
            return
        if self.keep is not None:
            self._forget()
            if self.store.held + len(data) <= self.soft_budget:
                self.store.add(offset, data)
                return
        view = memoryview(data)
        extra = self.keep([(offset, view)]) if self.keep is not None else ()
        for wanted in merge_ranges([*self.asked, *extra]):
            start, stop = max(wanted.start, offset), min(wanted.stop, offset + len(view))
            if start < stop:
                self.store.add(start, view[start - offset : stop - offset])

    def _forget(self) -> None:
        """Drop the held bytes :attr:`keep` does not name."""
        assert self.keep is not None
        spans = self.store.spans()
        keep = merge_ranges(self.keep(spans))
        starts = [r.start for r in keep]
        self.store.discard(self.file_size + 1)
        for start, chunk in spans:
            stop = start + len(chunk)
            i = max(0, bisect.bisect_right(starts, start) - 1)
            while i < len(keep) and keep[i].start < stop:
                lo, hi = max(start, keep[i].start), min(stop, keep[i].stop)
                if (lo, hi) == (start, stop):
                    self.store.add(lo, chunk)  # kept whole: shared, not copied
                elif lo < hi:
                    self.store.add(lo, memoryview(chunk)[lo - start : hi - start])
                i += 1

    def has(self, start: int, stop: int) -> bool:
        return self.store.has(start, min(stop, self.file_size))

    def get(self, start: int, stop: int) -> memoryview:
        """The bytes ``[start, stop)``, which must be held."""
        data = self.store.get(start, stop)
        if data is None:
            raise MalformedContainer(f"internal error: bytes [{start}, {stop}) not held")
        return data

    def extent(self, start: int, limit: int) -> int:
        """The end of the bytes held contiguously from ``start``, at most ``limit``."""
        limit = min(limit, self.file_size)
        if start >= limit:
            return start
        gaps = self.store.missing(start, limit)
        return gaps[0].start if gaps else limit

    def need(self, ranges: Iterable[ByteRange], reason: str) -> Need | None:
        """A Need for the parts of ``ranges`` not held yet (cut to the file), or None."""
        gaps = [
            gap
            for r in ranges
            for gap in self.store.missing(min(r.start, self.file_size), min(r.stop, self.file_size))
        ]
        if not gaps:
            return None
        return Need(merge_ranges(gaps), reason)

    def require(self, ranges: Iterable[ByteRange], reason: str) -> Task[None]:
        """Yield Needs until every byte of ``ranges`` (cut to the file) is held."""
        ranges = tuple(ranges)
        while (need := self.need(ranges, reason)) is not None:
            yield need

    def bytes(self, start: int, stop: int, reason: str) -> Task[memoryview]:
        """``[start, stop)``, asked for exactly if not held."""
        yield from self.require((ByteRange(start, stop),), reason)
        return self.get(start, stop)


class WindowExhausted(Exception):
    """A :class:`Window` used all the reads it was allowed (internal signal, never escapes)."""


class Window:
    """Bounded, widening reads for a task that walks forward through a file.

    The first read is ``first`` bytes; each later one is twice the last; at
    most ``max_reads`` reads and ``max_bytes`` bytes are asked for, whatever
    the file says (by default ``first * (2**max_reads - 1)``).
    """

    def __init__(
        self,
        reads: Reads,
        first: int,
        max_reads: int,
        reason: str,
        max_bytes: int | None = None,
    ) -> None:
        self._reads = reads
        self.first = first
        self.max_reads = max_reads
        self.max_bytes = first * ((1 << max_reads) - 1) if max_bytes is None else max_bytes
        self.reason = reason
        self.count = 0
        self.spent = 0
        self.asked: list[ByteRange] = []
        self.touched: list[ByteRange] = []
        self._last: Need | None = None

    def touch(self, start: int, stop: int) -> None:
        """Record that ``[start, stop)`` was read (:attr:`touched`: what a walk truly needed)."""
        if stop > start:
            self.touched.append(ByteRange(start, stop))

    @property
    def used(self) -> ByteRange | None:
        """The span from the first to the last byte touched, or None."""
        if not self.touched:
            return None
        return ByteRange(min(r.start for r in self.touched), max(r.stop for r in self.touched))

    def want(self, start: int, stop: int, limit: int) -> Need | None:
        """A Need covering ``[start, stop)`` and reading ahead up to ``limit``, or None if held."""
        stop = min(stop, limit)
        if self._reads.has(start, stop):
            return None
        if self._last is not None and self._reads.need(self._last.ranges, "") is not None:
            return self._last  # the last read has not been fed yet: ask again, uncounted
        remaining = self.max_bytes - self.spent
        if self.count >= self.max_reads or remaining < stop - start:
            raise WindowExhausted(self.reason)
        size = min(self.first << self.count, remaining)
        wanted = ByteRange(start, min(limit, max(stop, start + size)))
        self.count += 1
        need = self._reads.need((wanted,), self.reason)
        self._last = need
        if need is not None:
            self.asked.extend(need.ranges)
            self.spent += need.length
        return need

    def bytes(self, start: int, stop: int, limit: int) -> Task[memoryview]:
        """``[start, stop)``, read through this window."""
        while (need := self.want(start, stop, limit)) is not None:
            yield need
        self.touch(start, stop)
        return self._reads.get(start, stop)


class Runner(Generic[T]):
    """Drives a :data:`Task` one ``step`` at a time; remembers its result or error.

    A Python exception out of the task or out of feeding (bad input meeting
    a reader that forgot a check) becomes a :class:`MalformedContainer`
    saying "internal error", raised from it; with ``internal_errors=False``
    it comes out as itself, for a parser whose tests want such a bug to
    surface as the bug it is (MP4's).
    """

    def __init__(self, task: Task[T], reads: Reads, what: str, *, internal_errors: bool = True):
        self._task = task
        self._reads = reads
        self._what = what
        self._internal_errors = internal_errors
        self._result: T | None = None
        self._done = False
        self._error: Exception | None = None

    def step(self) -> Need | T:
        if self._done:
            return self._result  # type: ignore[return-value]
        if self._error is not None:
            raise self._error
        if self._reads.error is not None:
            self._fail(self._reads.error)
        try:
            need = next(self._task)
        except StopIteration as stop:
            self._done, self._result = True, stop.value
            return stop.value
        except (ContainerError, *_BAD_INPUT_ERRORS) as error:
            self._fail(error)
        self._reads.asked = need.ranges
        return need

    def _fail(self, error: Exception) -> NoReturn:
        """Raise ``error`` now and at every later step; a Python exception as "internal error"."""
        if isinstance(error, ContainerError) or not self._internal_errors:
            self._error = error
            raise error
        self._error = MalformedContainer(f"internal error reading {self._what}: {error!r}")
        raise self._error from error


class TaskParser(IndexParser):
    """An :class:`~torframes.containers.base.IndexParser` written as one task.

    A container's parser subclasses it and writes :meth:`_run`, the task
    that yields Needs and returns the index; ``feed`` and ``step`` are
    done here, over :attr:`_reads` and a :class:`Runner`. The reads' soft
    budget is by default room for the index twice over and 16 MiB more
    (``2 * IndexLimits.max_index_bytes + 16 MiB``); a subclass may give
    its own, a hard cap, and set ``self._reads.keep``.
    """

    #: What the file is called in "internal error" messages (``"an MP4 file"``).
    what = "a file"
    #: False lets a Python exception out of the task as itself (see :class:`Runner`).
    internal_errors = True

    def __init__(
        self,
        file_size: int,
        limits: IndexLimits | None = None,
        *,
        soft_budget: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        super().__init__(file_size, limits)
        if soft_budget is None:
            soft_budget = 2 * self.limits.max_index_bytes + 16 * MiB
        self._reads = Reads(file_size, soft_budget, max_bytes=max_bytes)
        self._runner: Runner[ContainerIndex] = Runner(
            self._run(), self._reads, self.what, internal_errors=self.internal_errors
        )
        #: Needs answered so far (for tests and round-trip statistics).
        self.needs = 0

    def feed(self, offset: int, data: bytes | memoryview) -> None:
        self._reads.feed(offset, data)

    def step(self) -> Need | ContainerIndex:
        step = self._runner.step()
        if isinstance(step, Need):
            self.needs += 1
        return step

    @abc.abstractmethod
    def _run(self) -> Task[ContainerIndex]:
        """The task: yield a Need whenever the bytes held do not suffice; return the index."""
