"""Scheduling over the job store: claiming jobs while there is room, and keeping their leases.

:class:`Dispatcher` claims jobs (:meth:`JobStore.claim
<torframes.service.store.JobStore.claim>`, one ``BEGIN IMMEDIATE``
transaction each) while its executor has a slot free, and hands each to the
executor, which releases the slot when the job lets it go. With nothing to
claim it sleeps until the next job may be due (a backoff ending, a lease
running out) or until :meth:`Dispatcher.wake` (jobs submitted, a job ended).

:class:`Heartbeat` renews every lease the service's owner holds a few times
per lease period (``settings.service_lease``), so a job is taken again by
another service only when its owner stopped renewing: it died, or hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from torframes.service.store import ClaimedJob, JobStore

__all__ = ["Dispatcher", "Heartbeat"]

log = logging.getLogger(__name__)


class Dispatcher:
    """Claims jobs while a slot is free; ``start(job)`` takes over the job and its slot.

    ``running()`` says whether to go on claiming. ``start`` must release one
    of ``slots`` when the job lets its slot go (or at once, if it does not
    run the job).
    """

    def __init__(
        self,
        store: JobStore,
        owner: str,
        *,
        lease: float,
        poll: float,
        slots: asyncio.Semaphore,
        start: Callable[[ClaimedJob], Awaitable[None]],
        running: Callable[[], bool],
    ) -> None:
        self._store = store
        self._owner = owner
        self._lease = lease
        self._poll = poll
        self._slots = slots
        self._start = start
        self._running = running
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin claiming, in a task of its own."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._dispatch())

    def wake(self) -> None:
        """Look for a job to claim now (jobs were submitted, or a job ended)."""
        self._wake.set()

    async def wait_stopped(self) -> None:
        """Wait until it stopped claiming (``running()`` turned False and it was woken)."""
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def _dispatch(self) -> None:
        slots = self._slots
        while self._running():
            await slots.acquire()
            if not self._running():
                slots.release()
                return
            self._wake.clear()
            try:
                job = await asyncio.to_thread(self._store.claim, self._owner, self._lease)
            except Exception:
                slots.release()
                log.exception("claiming a job failed; trying again")
                await self._idle(self._poll)
                continue
            if job is None:
                slots.release()
                await self._idle(await self._until_due())
                continue
            await self._start(job)

    async def _until_due(self) -> float:
        due = await asyncio.to_thread(self._store.next_due)
        now = time.time()
        if due is None or due <= now:
            return self._poll
        return min(self._poll, due - now + 0.01)

    async def _idle(self, timeout: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)


class Heartbeat:
    """Renews ``owner``'s leases every ``lease / 4`` s while it runs."""

    def __init__(self, store: JobStore, owner: str, lease: float) -> None:
        self._store = store
        self._owner = owner
        self._lease = lease
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._beat())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 4)
            try:
                await asyncio.to_thread(self._store.renew, self._owner, self._lease)
            except Exception:
                log.exception("renewing leases failed")
