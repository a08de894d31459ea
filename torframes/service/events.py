"""Status events: what happens to each job, for a callback and for ``async for``.

Kinds, in the order a job meets them::

    queued      submitted (or put back: a retry after its backoff, or shut down mid-way)
    metadata    an attempt started: waiting for the torrent's metadata
    index       metadata known: finding and parsing the video's index
    frame       frame ``frame`` of ``frames`` written (one event per frame)
    retry       the attempt failed with a retryable error; ``delay`` s until the next
    done        every frame written (final)
    failed      a permanent error, or retries used up (final)

An :class:`EventHub` hands each event to the ``on_event`` callback (errors in
it are logged, never raised into the service) and to every iterator from
:meth:`EventHub.subscribe`; an iterator ends when the hub closes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["EVENT_KINDS", "EventHub", "JobEvent", "Subscription"]

log = logging.getLogger(__name__)

EVENT_KINDS = ("queued", "metadata", "index", "frame", "retry", "done", "failed")


@dataclass(frozen=True)
class JobEvent:
    """One thing that happened to one job."""

    #: One of :data:`EVENT_KINDS`.
    kind: str
    #: The job's id in the store.
    job: int
    #: The source as the store shows it.
    source: str
    #: Which attempt (1 for the first; 0 before any).
    attempt: int = 0
    infohash: str | None = None
    #: For ``frame``: frames written so far and frames asked for.
    frame: int | None = None
    frames: int | None = None
    #: For ``frame``: the image written.
    path: str | None = None
    #: For ``retry`` and ``failed``: the exception's class name and message.
    error_kind: str | None = None
    error: str | None = None
    #: For ``retry``: seconds until the job may run again.
    delay: float | None = None
    #: ``time.time()`` when it happened.
    at: float = field(default_factory=time.time)

    @property
    def final(self) -> bool:
        """True for ``done`` and ``failed``: nothing more will happen to the job."""
        return self.kind in ("done", "failed")

    def __str__(self) -> str:
        text = f"job {self.job} {self.kind}"
        if self.kind == "frame":
            text += f" {self.frame}/{self.frames}"
        if self.error_kind:
            text += f": {self.error_kind}: {self.error}"
        if self.delay is not None:
            text += f" (again in {self.delay:.1f} s)"
        return text


class EventHub:
    """Fans events out to a callback and to subscribers' queues."""

    def __init__(self, callback: Callable[[JobEvent], object] | None = None) -> None:
        self._callback = callback
        self._queues: set[asyncio.Queue[JobEvent | None]] = set()
        self._closed = False

    def emit(self, event: JobEvent) -> None:
        """Deliver ``event`` now (loop thread)."""
        if self._callback is not None:
            try:
                self._callback(event)
            except Exception:  # a broken callback must not break a job
                log.exception("on_event callback failed on %s", event)
        for queue in self._queues:
            queue.put_nowait(event)

    def subscribe(self) -> Subscription:
        """Every event from now (not from the first ``async for`` step) until :meth:`close`."""
        subscription = Subscription(self)
        if self._closed:
            subscription._queue.put_nowait(None)
        else:
            self._queues.add(subscription._queue)
        return subscription

    def close(self) -> None:
        """End every subscription (after the events already queued)."""
        self._closed = True
        for queue in self._queues:
            queue.put_nowait(None)


class Subscription:
    """An async iterator over a hub's events; ``aclose()`` (or dropping it) unsubscribes."""

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[JobEvent | None] = asyncio.Queue()
        self._done = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> JobEvent:
        if self._done:
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            await self.aclose()
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        """Stop receiving events."""
        self._done = True
        self._hub._queues.discard(self._queue)

    def __del__(self) -> None:
        self._hub._queues.discard(self._queue)
