"""The Dask executor: a batch's jobs run on the workers of a Dask cluster, the store stays here.

::

    driver (this process)                                 Dask workers (processes, machines)
    store ──claim──▶ JobSpec ──Client.submit──▶ scheduler ──▶ run_on_worker: run_job on the
      ▲       (at most `in_flight` claimed                     worker's one torframes Client
      │        and not yet recorded)                           (dask_worker.TorframesPlugin)
      └──── record the JobOutcome ◀──── future done ◀─────────┘

The driver keeps the :class:`~torframes.service.store.JobStore` (SQLite) and
the leases on the jobs it claimed; a worker never touches the store. Jobs
go to the cluster as coroutine tasks, one per attempt (key
``torframes-<job>-<attempt>-<owner digest>``), many in flight per worker
(one per task slot, see :mod:`~torframes.service.dask_worker`).

**Backpressure.** At most ``in_flight`` jobs are claimed and not yet
recorded: a job is claimed from the store only when an earlier one's
outcome was recorded, so the driver never holds more than ``in_flight``
specs, futures and outcomes however many sources the store holds.
``in_flight`` is the service's ``workers``, or twice the task slots of the
cluster's workers when they are more (so each slot has its next job
waiting on the worker).

**A worker that dies** (SIGKILL, out of memory) takes its tasks with it;
the scheduler hands them to other workers (its nanny starts a new worker,
set up by the plugin), up to ``distributed.scheduler.allowed-failures``
times per task. A task past that comes back as ``KilledWorker``: the job
fails with that error kind (a job that kills every worker it runs on is
not retried). Our own retry classes (:mod:`~torframes.service.retry`)
decide what else is retried: the runner classifies the job's errors; an
error of the task itself (not a torframes error) fails the job unless it
is a :class:`~torframes.RetryableError`.

**The driver killed** (SIGKILL) loses nothing recorded: a job's outcome
is in the store before the next is claimed in its place. Started again
over the same store, the driver takes back the jobs its dead predecessor
held (their leases: :mod:`~torframes.service.store`), so a job recorded
``done`` or ``failed`` is never run again and a job in flight at the kill
runs again (its screenshots written again under the same names). The
dead driver's tasks are let go by the scheduler, and the workers cancel
them (:meth:`TorframesPlugin.transition
<torframes.service.dask_worker.TorframesPlugin.transition>`).

**Shutting down** stops claiming, gives jobs in flight ``deadline``
seconds, then cancels the rest on the cluster and puts them back in the
store (``released``: not a retry).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from torframes.errors import ClusterUnreachable, SettingsError
from torframes.service.events import JobEvent
from torframes.service.recording import record_end, record_outcome, retry_delay
from torframes.service.retry import Backoff, error_kind, error_text, is_retryable
from torframes.service.runner import JobOutcome, JobSpec
from torframes.service.scheduling import Dispatcher
from torframes.service.store import ClaimedJob

if TYPE_CHECKING:
    import distributed

    from torframes.service.service import ScreenshotService

__all__ = ["DaskExecutor", "connect"]

log = logging.getLogger(__name__)


async def connect(cluster: Any) -> distributed.Client:
    """An asynchronous :class:`distributed.Client` on this event loop, for ``cluster``.

    ``cluster``: a scheduler address (``tcp://host:8786``), a
    :class:`distributed.Client` (sync or async; its scheduler is used) or a
    cluster object with a ``scheduler_address`` (``LocalCluster``...). The
    client made here is the executor's, closed with it; the one given is
    left alone. A malformed address raises :class:`~torframes.SettingsError`;
    a scheduler that does not answer within Dask's connect timeout
    (``distributed.comm.timeouts.connect``), :class:`~torframes.ClusterUnreachable`.
    """
    import distributed

    if isinstance(cluster, str):
        address = cluster
    elif isinstance(cluster, distributed.Client):
        address = cluster.scheduler.address
    elif isinstance(getattr(cluster, "scheduler_address", None), str):
        address = cluster.scheduler_address
    else:
        raise TypeError(
            "cluster is a scheduler address, a distributed.Client or a cluster "
            f"object with a scheduler_address, not {type(cluster).__name__}"
        )
    client = distributed.Client(address, asynchronous=True, set_as_default=False)
    try:
        # waits up to Dask's distributed.comm.timeouts.connect (30 s unless configured)
        return await client
    except (ValueError, OSError, TimeoutError) as error:
        await client.close()
        if isinstance(error, ValueError):  # not an address Dask reads
            raise SettingsError(f"bad Dask scheduler address {address!r}: {error}") from None
        raise ClusterUnreachable(f"cannot reach the Dask scheduler at {address}: {error}") from None


class DaskExecutor:
    """Runs a service's jobs on a Dask cluster, at most ``in_flight`` at once, recording each.

    ``service``: the :class:`~torframes.service.ScreenshotService` (its
    store, lease owner, settings, output and events); ``cluster``: see
    :func:`connect`. The workers' sessions are made from the service's
    settings (:class:`~torframes.service.dask_worker.TorframesPlugin`);
    ``output`` must be a folder every worker writes to (shared storage) or
    an fsspec URL.
    """

    def __init__(self, service: ScreenshotService, cluster: Any) -> None:
        self.service = service
        self._cluster = cluster
        settings = service.settings
        self.backoff = Backoff(settings.service_backoff, settings.service_backoff_max)
        self.in_flight = service.workers
        self._owner_digest = hashlib.sha256(service.owner.encode()).hexdigest()[:12]
        self._dask: distributed.Client | None = None
        self._plugin: str | None = None
        self._slots: asyncio.Semaphore | None = None
        self._dispatcher: Dispatcher | None = None
        self._following: dict[int, asyncio.Task[None]] = {}
        #: Most jobs claimed and not yet recorded at once, over the executor's life.
        self.peak_in_flight = 0

    def __repr__(self) -> str:
        return f"<DaskExecutor {self.in_hand} jobs in flight, at most {self.in_flight}>"

    @property
    def in_hand(self) -> int:
        """Jobs claimed and not yet recorded."""
        return len(self._following)

    @property
    def dask_client(self) -> distributed.Client | None:
        """The executor's own asynchronous Dask client (None before :meth:`start`)."""
        return self._dask

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, register the worker plugin, start claiming and submitting."""
        from torframes.service.dask_worker import TorframesPlugin

        service = self.service
        settings = service.settings
        self._dask = dask = await connect(self._cluster)
        plugin = TorframesPlugin(settings)
        try:
            await dask.register_plugin(plugin, name=plugin.name)
            slots = sum((await dask.nthreads()).values())  # task slots of every worker
        except BaseException:
            self._dask = None
            await dask.close()
            raise
        self._plugin = plugin.name
        self.in_flight = max(service.workers, 2 * slots)
        self._slots = asyncio.Semaphore(self.in_flight)
        self._dispatcher = Dispatcher(
            service.store,
            service.owner,
            lease=settings.service_lease,
            poll=settings.service_poll_interval,
            slots=self._slots,
            start=self._submit,
            running=lambda: service.state == "running",
        )
        self._dispatcher.start()

    def wake(self) -> None:
        """New jobs may be in the store: look now rather than at the next poll."""
        if self._dispatcher is not None:
            self._dispatcher.wake()

    async def stop(self, deadline: float | None) -> None:
        """Stop claiming; give jobs in flight ``deadline`` s (None: no limit); put back the rest.

        Jobs cut short are cancelled on the cluster (the workers cancel
        their tasks) and go back to the store as they were (``released``).
        Then the executor's Dask client is closed; the cluster, and the
        workers' sessions, stay.
        """
        if self._dispatcher is not None:
            await self._dispatcher.wait_stopped()
        following = list(self._following.values())
        if following:
            _, late = await asyncio.wait(following, timeout=deadline)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        dask, self._dask = self._dask, None
        if dask is not None:
            await dask.close()

    def cut_short(self) -> None:
        """Cancel every job in flight now; they go back to the store."""
        for task in list(self._following.values()):
            task.cancel()

    # -- submitting --------------------------------------------------------------------------

    async def _submit(self, job: ClaimedJob) -> None:
        """Send a claimed job to the cluster (it holds one of the slots until recorded)."""
        from torframes.service.dask_worker import run_on_worker

        service = self.service
        assert self._dask is not None
        assert self._slots is not None
        spec = JobSpec.from_claim(
            job, output=os.fspath(service.output), max_retries=service.settings.service_max_retries
        )
        if service.state != "running":  # shut down while claiming
            await self._put_back(spec, time.monotonic())
            self._slots.release()
            return
        key = f"torframes-{job.id}-{job.attempt}-{self._owner_digest}"
        future = self._dask.submit(run_on_worker, spec, self._plugin, key, key=key, pure=False)
        follow = asyncio.ensure_future(self._follow(job, spec, future))
        self._following[job.id] = follow
        self.peak_in_flight = max(self.peak_in_flight, len(self._following))
        follow.add_done_callback(lambda task: self._followed(job.id, task))

    def _followed(self, job_id: int, task: asyncio.Task[None]) -> None:
        assert self._slots is not None
        self._following.pop(job_id, None)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            log.error("recording job %d failed: %r (it stays claimed until its lease ends)",
                      job_id, error, exc_info=error)  # fmt: skip
        self.wake()
        self.service.notify()

    # -- following and recording -------------------------------------------------------------

    async def _follow(self, job: ClaimedJob, spec: JobSpec, future: distributed.Future) -> None:
        """Wait for the job's task; record its outcome (or put the job back if cut short)."""
        from distributed import KilledWorker
        from distributed.client import FutureCancelledError

        started = time.monotonic()
        try:
            outcome = await future
        except FutureCancelledError:
            # cancelled on the cluster, not by us (the scheduler lost it): not the job's fault
            await self._put_back(spec, started)
            return
        except asyncio.CancelledError:
            # shutting down past the deadline: the task is let go, the job put back
            await asyncio.shield(self._cancel_and_put_back(future, spec, started))
            raise
        except KilledWorker as error:  # it took allowed-failures + 1 workers down with it
            await self._record_error(spec, error, started, retryable=False)
            return
        except Exception as error:  # the task itself failed, outside the job's own errors
            await self._record_error(spec, error, started, retryable=is_retryable(error))
            return
        await self._record(spec, outcome)

    async def _record(self, spec: JobSpec, outcome: JobOutcome) -> None:
        """Frames, then the attempt's end, in the store; then the events."""
        store, owner = self.service.store, self.service.owner
        delay = retry_delay(outcome, spec, self.backoff)
        held = await asyncio.to_thread(record_outcome, store, owner, spec, outcome, delay=delay)
        if not held:
            log.warning("job %d was taken by another driver; its outcome is dropped", spec.job_id)
            return
        infohash = outcome.result.get("infohash")
        if outcome.status != "released":
            total = outcome.result.get("frames_total") or len(outcome.frames)
            for number, row in enumerate(outcome.frames, 1):
                self._emit(spec, "frame", infohash, frame=number, frames=total, path=row["path"])
        self._emit_end(spec, outcome, infohash, delay)

    def _emit_end(
        self, spec: JobSpec, outcome: JobOutcome, infohash: str | None, delay: float
    ) -> None:
        fields: dict[str, Any] = {"error_kind": outcome.error_kind, "error": outcome.error_text}
        if outcome.status == "retry":
            self._emit(spec, "retry", infohash, delay=delay, **fields)
        elif outcome.status == "released":
            self._emit(spec, "queued", infohash)
        else:
            self._emit(spec, outcome.status, infohash, frames=outcome.result["frames"], **fields)

    async def _record_error(
        self, spec: JobSpec, error: BaseException, started: float, *, retryable: bool
    ) -> None:
        """The task failed outside the job's own errors: a retry while allowed, else failed."""
        kind, text = error_kind(error), error_text(error)
        log.warning("job %d attempt %d: its task failed: %s: %s", spec.job_id, spec.attempt,
                    kind, text)  # fmt: skip
        limit = self.service.settings.service_max_retries
        status = "retry" if retryable and spec.retries < limit else "failed"
        outcome = self._outcome(spec, status, started, error=error)
        await self._record(spec, outcome)

    async def _put_back(self, spec: JobSpec, started: float) -> None:
        """The job goes back to the store as it was (not a retry)."""
        outcome = self._outcome(spec, "released", started)
        store, owner = self.service.store, self.service.owner
        held = await asyncio.to_thread(record_end, store, owner, spec, outcome)
        if held:
            self._emit(spec, "queued", spec.infohash)

    async def _cancel_and_put_back(
        self, future: distributed.Future, spec: JobSpec, started: float
    ) -> None:
        with contextlib.suppress(Exception):
            await future.cancel()
        await self._put_back(spec, started)

    def _outcome(
        self, spec: JobSpec, status: str, started: float, error: BaseException | None = None
    ) -> JobOutcome:
        """An outcome for an attempt whose task told nothing: the totals as they were."""
        return JobOutcome(
            job_id=spec.job_id,
            status=status,
            error_kind=None if error is None else error_kind(error),
            error_text=None if error is None else error_text(error),
            result={
                "infohash": spec.infohash,
                "bytes_fetched": spec.bytes_fetched,
                "elapsed_s": spec.elapsed_s + (time.monotonic() - started),
                "frames": spec.frames,
            },
            frames=[],
            resume=None,
        )

    def _emit(self, spec: JobSpec, kind: str, infohash: str | None, **fields: Any) -> None:
        event = JobEvent(
            kind, spec.job_id, spec.source.text, attempt=spec.attempt, infohash=infohash, **fields
        )
        self.service.publish(event)
