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

Each iterator buffers at most ``maxsize`` events (default
:data:`SUBSCRIPTION_BUFFER`): a subscriber that reads slower than events
come loses the oldest ones, counted in :attr:`Subscription.dropped`, so it
cannot make the service's memory grow. The end of the stream is never lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["EVENT_KINDS", "SUBSCRIPTION_BUFFER", "EventHub", "JobEvent", "Subscription"]

log = logging.getLogger(__name__)

EVENT_KINDS = ("queued", "metadata", "index", "frame", "sheet", "retry", "done", "failed")

#: Events a subscription holds for its reader before dropping the oldest.
SUBSCRIPTION_BUFFER = 10_000


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
    """Fans events out to a callback and to subscribers' bounded buffers."""

    def __init__(self, callback: Callable[[JobEvent], object] | None = None) -> None:
        self._callback = callback
        self._subscriptions: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._closed = False

    def emit(self, event: JobEvent) -> None:
        """Deliver ``event`` now (loop thread)."""
        if self._callback is not None:
            try:
                self._callback(event)
            except Exception:  # a broken callback must not break a job
                log.exception("on_event callback failed on %s", event)
        if self._closed:  # every subscription has ended
            return
        for subscription in list(self._subscriptions):
            subscription._put(event)

    def subscribe(self, maxsize: int = SUBSCRIPTION_BUFFER) -> Subscription:
        """Every event from now (not from the first ``async for`` step) until :meth:`close`.

        The subscription holds at most ``maxsize`` unread events (see the module docstring).
        """
        subscription = Subscription(self, maxsize)
        if self._closed:
            subscription._put(None)
        else:
            self._subscriptions.add(subscription)
        return subscription

    def close(self) -> None:
        """End every subscription (after the events already queued)."""
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription._put(None)


class Subscription:
    """An async iterator over a hub's events; ``aclose()`` (or dropping it) unsubscribes.

    Holds at most ``maxsize`` unread events; when full, the oldest is dropped
    and counted in :attr:`dropped`.
    """

    def __init__(self, hub: EventHub, maxsize: int = SUBSCRIPTION_BUFFER) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize}")
        self._hub = hub
        self._queue: asyncio.Queue[JobEvent | None] = asyncio.Queue(maxsize)
        self._done = False
        #: Events dropped, unread, because the buffer was full.
        self.dropped = 0

    def _put(self, item: JobEvent | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)

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
        self._hub._subscriptions.discard(self)
