"""The local executor: a worker pool over one client (one libtorrent session).

::

    store ──claim──▶ metadata stage ──waiting room──▶ N worker slots ──▶ store
                     (own slot pool:  (at most N)      (index, then frames;
                      dead magnets wait                 each frame written and
                      here, holding no                  recorded as it comes)
                      worker)

A :class:`~torframes.service.scheduling.Dispatcher` claims jobs while a
metadata slot is free (``settings.service_metadata_concurrency``). Each
claimed job runs :func:`~torframes.service.runner.run_job` in a task of its
own, with :class:`LocalHooks`: past its metadata wait the job leaves its
metadata slot for the waiting room (``workers`` places, so claims stop
while the workers are behind) and waits there for one of the ``workers``
worker slots, where it reads its index and fetches, decodes and writes its
frames. The hooks record every step in the job store as it happens (the
SIGKILL guarantees of :mod:`torframes.service.service` rest on this) and
keep piece storage within its :class:`~torframes.service.storage.DiskBudget`.

At shutdown, jobs waiting for metadata or for a worker are cancelled at
once (they go back to the store, with their resume data); jobs in a worker
slot get the deadline, then are cancelled too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torframes.service.events import JobEvent
from torframes.service.frames_table import record_hash_rows
from torframes.service.recording import record_end, retry_delay
from torframes.service.retry import Backoff
from torframes.service.runner import (
    JobHooks,
    JobOutcome,
    JobSpec,
    enforce_cache_budget,
    run_job,
)
from torframes.service.scheduling import Dispatcher
from torframes.service.storage import DiskBudget
from torframes.service.store import ClaimedJob, LeaseLost

if TYPE_CHECKING:
    from torframes.service.service import ScreenshotService
    from torframes.torrent.client import Client
    from torframes.torrent.torrent import Torrent

__all__ = ["LocalExecutor", "LocalHooks"]

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Active:
    """A job claimed by this executor, for the length of one attempt."""

    job: ClaimedJob
    spec: JobSpec
    started: float
    stage: str = "metadata"  # metadata, ready (waiting for a worker), work
    task: asyncio.Task[None] | None = None
    began: bool = False
    infohash: str | None = None
    metadata_slot: bool = True
    room_slot: bool = False
    worker_slot: bool = False
    held: bool = False
    delay: float = 0.0


class LocalExecutor:
    """Runs a service's jobs in this process, ``service.workers`` at a time."""

    def __init__(self, service: ScreenshotService) -> None:
        self.service = service
        settings = service.settings
        # With pieces in the cache, the cache's budget bounds them (see service.py).
        self._pieces_in_cache = service.client.pieces_in_cache
        budget = settings.cache_max_bytes if self._pieces_in_cache else settings.service_disk_budget
        self.budget = DiskBudget(budget)
        self.backoff = Backoff(settings.service_backoff, settings.service_backoff_max)
        self._active: dict[int, _Active] = {}
        self._metadata_slots = asyncio.Semaphore(settings.service_metadata_concurrency)
        self._room = asyncio.Semaphore(service.workers)
        self._worker_slots = asyncio.Semaphore(service.workers)
        self._dispatcher = Dispatcher(
            service.store,
            service.owner,
            lease=settings.service_lease,
            poll=settings.service_poll_interval,
            slots=self._metadata_slots,
            start=self._start_job,
            running=lambda: service.state == "running",
        )

    @property
    def in_hand(self) -> int:
        return len(self._active)

    @property
    def client(self) -> Client:
        return self.service.client

    async def start(self) -> None:
        service, client = self.service, self.client
        if client.storage_dir is not None and not self._pieces_in_cache:
            store = service.store
            finished = await asyncio.to_thread(store.infohashes, ("done", "failed"))
            finished -= await asyncio.to_thread(store.infohashes, ("queued", "running"))
            storage = client.storage_dir
            await self.budget.adopt(os.fspath(storage / infohash) for infohash in finished)
        self._dispatcher.start()

    def wake(self) -> None:
        self._dispatcher.wake()

    async def stop(self, deadline: float | None) -> None:
        # Jobs not in a worker yet go back at once. They go first: each holds a
        # metadata slot, and the dispatcher may be waiting for one of them.
        await self._put_back_waiting()
        await self._dispatcher.wait_stopped()
        await self._put_back_waiting()  # claimed while the dispatcher was stopping
        # jobs in the workers get until the deadline
        working = [a.task for a in self._active.values() if a.stage == "work" and a.task]
        if working:
            _, late = await asyncio.wait(working, timeout=deadline)
            for task in late:
                task.cancel()
        tasks = [a.task for a in list(self._active.values()) if a.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        for active in list(self._active.values()):  # cancelled before it began
            await self._put_back_unstarted(active)

    def cut_short(self) -> None:
        for active in list(self._active.values()):
            if active.task is not None:
                active.task.cancel()

    async def _put_back_waiting(self) -> None:
        """Cancel the jobs waiting for metadata or for a worker; they go back to the store."""
        waiting = [a.task for a in self._active.values() if a.stage != "work" and a.task]
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        for active in list(self._active.values()):
            if active.task is not None and active.task.done():
                await self._put_back_unstarted(active)

    # -- one job -------------------------------------------------------------------------------

    async def _start_job(self, job: ClaimedJob) -> None:
        """Run a job the dispatcher claimed (it holds a metadata slot)."""
        service = self.service
        spec = JobSpec.from_claim(job, output=os.fspath(service.output))
        active = _Active(job, spec, started=time.monotonic(), infohash=job.infohash)
        self._active[job.id] = active
        if service.state != "running":  # shut down while claiming
            self._let_go(active)
            await self._put_back_unstarted(active)
            return
        active.task = asyncio.ensure_future(self._run(active))

    async def _run(self, active: _Active) -> None:
        active.began = True
        try:
            await run_job(self.client, active.spec, hooks=LocalHooks(self, active))
        finally:
            self._let_go(active)

    def _let_go(self, active: _Active) -> None:
        """Release whatever slots the job holds."""
        if active.metadata_slot:
            active.metadata_slot = False
            self._metadata_slots.release()
        if active.room_slot:
            active.room_slot = False
            self._room.release()
        if active.worker_slot:
            active.worker_slot = False
            self._worker_slots.release()

    async def _put_back_unstarted(self, active: _Active) -> None:
        """A job cancelled before its attempt began: back to the store as it was."""
        if active.began or self._active.get(active.job.id) is not active:
            return
        self._let_go(active)
        job = active.job
        outcome = JobOutcome(
            job_id=job.id,
            status="released",
            error_kind=None,
            error_text=None,
            result={
                "infohash": job.infohash,
                "bytes_fetched": job.bytes_fetched,
                "elapsed_s": job.elapsed_s + (time.monotonic() - active.started),
                "frames": job.frames,
            },
            frames=[],
            resume=None,
        )
        hooks = LocalHooks(self, active)
        await hooks.ending(outcome, None)
        await hooks.ended(outcome)

    def emit(self, active: _Active, kind: str, **fields: Any) -> None:
        job = active.job
        event = JobEvent(
            kind, job.id, job.source.text, attempt=job.attempt, infohash=active.infohash, **fields
        )
        self.service.publish(event)


class LocalHooks(JobHooks):
    """Each step of a local job, recorded in the store as it happens (see the module docstring)."""

    def __init__(self, executor: LocalExecutor, active: _Active) -> None:
        self._executor = executor
        self._active = active
        self._service = executor.service

    @property
    def stopping(self) -> bool:
        return self._service.state != "running"

    def event(self, kind: str, **fields: Any) -> None:
        self._active.infohash = fields.pop("infohash", self._active.infohash)
        self._executor.emit(self._active, kind, **fields)

    def hold(self, torrent: Torrent) -> None:
        self._active.infohash = torrent.infohash
        self._executor.budget.track(self._active.job.id, torrent)

    def unhold(self) -> None:
        self._executor.budget.untrack(self._active.job.id)

    async def _progress(self, **values: Any) -> None:
        service = self._service
        await asyncio.to_thread(
            service.store.progress, self._active.job.id, service.owner, **values
        )

    async def metadata(self, infohash: str, name: str) -> None:
        self._active.infohash = infohash
        await self._progress(phase="ready", infohash=infohash, name=name)

    async def ready(self) -> None:
        """Leave the metadata slot for the waiting room, then wait there for a worker."""
        executor, active = self._executor, self._active
        active.stage = "ready"
        await executor._room.acquire()
        active.room_slot = True
        active.metadata_slot = False
        executor._metadata_slots.release()
        await executor._worker_slots.acquire()
        active.worker_slot = True
        active.room_slot = False
        executor._room.release()
        if self.stopping:
            raise asyncio.CancelledError  # reached a worker after shutdown began: put back
        active.stage = "work"
        executor.budget.check(active.job.id)

    async def progress(self, **values: Any) -> None:
        await self._progress(**values)

    async def frame(self, row: dict[str, Any], **values: Any) -> None:
        service, job_id = self._service, self._active.job.id
        await asyncio.to_thread(record_hash_rows, service.store, job_id, [row])
        await asyncio.to_thread(
            service.store.record_frame, job_id, service.owner, row["path"], row["time"], **values
        )

    async def ending(self, outcome: JobOutcome, error: BaseException | None) -> bool:
        executor, active, service = self._executor, self._active, self._service
        active.delay = retry_delay(outcome, active.spec, executor.backoff)
        try:
            active.held = await asyncio.to_thread(
                record_end,
                service.store,
                service.owner,
                active.spec,
                outcome,
                delay=active.delay,
                # a lost lease: the store finds the job is not ours and marks the attempt lost
                lost=isinstance(error, LeaseLost),
            )
        except Exception:
            log.exception("recording the end of job %d failed", active.job.id)
            active.held = False
        return active.held

    async def released(self, client: Client, torrent: Torrent, *, finished: bool) -> None:
        if not finished:
            return
        store = self._service.store
        if client.pieces_in_cache:
            waiting = await asyncio.to_thread(store.infohashes, ("queued", "running"))
            await enforce_cache_budget(client, waiting)
        elif client.storage_dir is not None:
            # Another job on this torrent may still need the folder: its resume data
            # counts the pieces in it.
            waiting = await asyncio.to_thread(store.infohashes, ("queued", "running"))
            if torrent.infohash not in waiting:
                await self._executor.budget.finished(torrent.save_path)

    async def ended(self, outcome: JobOutcome) -> None:
        executor, active = self._executor, self._active
        executor._active.pop(active.job.id, None)
        if active.held:
            if outcome.status == "retry":
                executor.emit(
                    active,
                    "retry",
                    error_kind=outcome.error_kind,
                    error=outcome.error_text,
                    delay=active.delay,
                )
            elif outcome.status == "released":
                executor.emit(active, "queued")
            else:
                executor.emit(
                    active,
                    outcome.status,
                    error_kind=outcome.error_kind,
                    error=outcome.error_text,
                    frames=outcome.result["frames"],
                )
        else:
            log.warning(
                "job %d was taken by another service; its attempt is dropped", active.job.id
            )
        executor.wake()
        self._service.notify()
