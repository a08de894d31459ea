"""The Dask worker side of a batch: one long-lived torframes client per worker process.

:class:`TorframesPlugin` is a :class:`distributed.WorkerPlugin`: the driver
registers it once (:meth:`distributed.Client.register_plugin`) and every
worker process of the cluster, and every worker started or restarted
later (a nanny bringing back a killed one), sets it up: one
:class:`~torframes.Client`, so one libtorrent session, made from the
driver's :class:`~torframes.Settings`, started on the worker's event loop
and closed when the worker closes (or the plugin is unregistered).

Jobs reach it as coroutine tasks (:func:`run_on_worker`): Dask runs a
coroutine function on the worker's event loop, not in a thread, so the
jobs of one worker share its session and overlap their waits (metadata,
pieces). A worker runs as many tasks at once as it has task slots: its
``--nthreads`` (``threads_per_worker`` of a ``LocalCluster``); no thread is
used by them.

**Listening ports.** With ``settings.listen_port_range`` (``FIRST-LAST``),
each session listens on the first port of the range that is free: every
interface of ``listen_interfaces`` is given ``FIRST`` and libtorrent
tries the next ports in turn (its ``max_retry_port_bind``), so several
worker processes on one machine take ports one after another, all within
the range a firewall lets through.

**Piece storage.** Without the persistent cache, a session keeps pieces
in a temporary folder of its own; :class:`WorkerHooks` keeps it within
``service_disk_budget`` as the local executor does (finished torrents'
folders deleted first, a job waiting while running ones fill it). With
the cache on, the cache's budget applies. A retry's resume data is used
only by a session whose storage it describes (the runner compares
``resume_dir``): each worker's temporary folder is its own.

**A task given up.** When the scheduler no longer wants a task the worker
is running (its driver went away, or cancelled it at shutdown), Dask lets
a coroutine task run on and drops its result; the plugin cancels it
instead (:meth:`TorframesPlugin.transition`), so the job's torrent leaves
the session at once and its task slot is free for the next job.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
from typing import TYPE_CHECKING, Any

from distributed import WorkerPlugin, get_worker

from torframes.service.runner import JobHooks, run_job
from torframes.service.storage import DiskBudget
from torframes.settings import Settings

if TYPE_CHECKING:
    from distributed import Worker

    from torframes.service.runner import JobOutcome, JobSpec
    from torframes.torrent.client import Client
    from torframes.torrent.torrent import Torrent

__all__ = ["TorframesPlugin", "WorkerHooks", "plugin_name", "run_on_worker", "worker_settings"]

log = logging.getLogger(__name__)


def worker_settings(settings: Settings) -> Settings:
    """``settings`` for a worker's session: listening within ``listen_port_range``, if set.

    Each interface of ``listen_interfaces`` gets the range's first port,
    and libtorrent's ``max_retry_port_bind`` the range's length, so a port
    taken by another worker's session makes libtorrent try the next one.
    """
    if settings.listen_port_range is None:
        return settings
    first, last = (int(port) for port in settings.listen_port_range.split("-"))
    interfaces = []
    for interface in settings.listen_interfaces.split(","):
        host, _, _ = interface.strip().rpartition(":")
        interfaces.append(f"{host}:{first}")
    libtorrent = {**settings.libtorrent, "max_retry_port_bind": last - first}
    return settings.model_copy(
        update={"listen_interfaces": ",".join(interfaces), "libtorrent": libtorrent}
    )


def plugin_name(settings: Settings) -> str:
    """The plugin's name on the cluster: one per distinct settings.

    Two drivers with the same settings share each worker's session; a
    driver with other settings gets a session of its own beside it, and
    registering again (a driver restarted) changes nothing.
    """
    digest = hashlib.sha256(settings.model_dump_json().encode()).hexdigest()[:16]
    return f"torframes-{digest}"


class TorframesPlugin(WorkerPlugin):
    """One started torframes :class:`~torframes.Client` per Dask worker process."""

    #: Registering the same settings again leaves the running session alone.
    idempotent = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = plugin_name(settings)
        self._client: Client | None = None
        self._budget: DiskBudget | None = None
        self._attempts = itertools.count()  # the budget's key for each attempt run here
        self._running: dict[str, asyncio.Task[Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings, "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["settings"])  # type: ignore[misc]

    @property
    def client(self) -> Client:
        """The worker's client (after :meth:`setup`)."""
        if self._client is None:
            raise RuntimeError("the torframes worker plugin is not set up")
        return self._client

    async def setup(self, worker: Worker) -> None:
        """Start the worker's client (its libtorrent session) on the worker's event loop."""
        from torframes.torrent.client import Client

        client = Client(worker_settings(self.settings))
        await client.start()
        self._client = client
        self._budget = DiskBudget(self.settings.service_disk_budget)
        log.info("torframes session started on worker %s", worker.address)

    async def teardown(self, worker: Worker) -> None:
        """Cancel the jobs still running, then close the client (torrents removed)."""
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        """A job task the scheduler let go while it runs here is cancelled, not left to run."""
        if start == "executing" and finish == "released":
            task = self._running.get(str(key))
            if task is not None:
                task.cancel()

    async def run(self, spec: JobSpec, key: str) -> JobOutcome:
        """Run one attempt of a job on this worker's client; cancellable by the scheduler."""
        client = self.client
        hooks = (
            None
            if client.pieces_in_cache or self._budget is None
            else WorkerHooks(self._budget, next(self._attempts))
        )
        task = asyncio.ensure_future(run_job(client, spec, hooks=hooks))
        self._running[key] = task
        try:
            return await task
        finally:
            self._running.pop(key, None)


class WorkerHooks(JobHooks):
    """A job on a worker: its torrent's pieces counted against the worker's disk budget.

    As the local executor does (:class:`~torframes.service.storage.DiskBudget`):
    a job past its metadata waits (a retryable
    :class:`~torframes.StorageBudgetExceeded`) while running jobs' pieces
    fill the budget, and a torrent that left the session for good has its
    folder kept while there is room, oldest deleted first.
    """

    def __init__(self, budget: DiskBudget, attempt: int) -> None:
        self._budget = budget
        self._job = attempt

    def hold(self, torrent: Torrent) -> None:
        self._budget.track(self._job, torrent)

    def unhold(self) -> None:
        self._budget.untrack(self._job)

    async def ready(self) -> None:
        self._budget.check(self._job)

    async def released(self, client: Client, torrent: Torrent, *, finished: bool) -> None:
        if finished and torrent.infohash not in client.torrents:
            await self._budget.finished(torrent.save_path)


async def run_on_worker(spec: JobSpec, plugin: str, key: str) -> JobOutcome:
    """The task a driver submits (key ``key``): one job attempt on this worker's session.

    ``plugin`` names the :class:`TorframesPlugin` holding the session
    (see :func:`plugin_name`).
    """
    worker = get_worker()
    found = worker.plugins.get(plugin)
    if not isinstance(found, TorframesPlugin):
        raise RuntimeError(f"no torframes plugin {plugin!r} on worker {worker.address}")
    return await found.run(spec, key)
