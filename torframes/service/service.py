"""``ScreenshotService``: many jobs, one libtorrent session, a job store that survives crashes.

::

    async with ScreenshotService(Settings(), workers=8, store="batch/jobs.sqlite") as service:
        results = await service.run(magnets, n=5, max_side=640)
    results.to_csv("batch/results.csv")

How a job moves (see :mod:`torframes.service` for the whole picture)::

    store ──claim──▶ metadata stage ──waiting room──▶ N workers ──▶ store
                     (own slot pool:                  (index, then frames;
                      dead magnets wait                each frame written and
                      here, holding no                 recorded as it comes)
                      worker)

The service keeps the job store, the leases' heartbeat
(:mod:`.scheduling`), signals (:mod:`.signals`), events and results; an
executor (:mod:`.executor`) claims and runs the jobs, each with
:func:`~torframes.service.runner.run_job`. The local one
(:mod:`.local`, the default) claims jobs from the store (a lease, renewed
by the heartbeat) while a metadata slot is free. Each claimed job adds its
torrent (from its resume data when it has some) and waits for the metadata
in its own task; then it waits for a worker, which probes the index and
fetches, decodes and writes the frames (:mod:`.output`). With
``cluster=`` a Dask executor runs the jobs on Dask workers instead
(:mod:`torframes.service.dask_executor`). Every attempt ends with the torrent leaving the
session: for good (``done``, ``failed``), or with its resume data saved in
the store (a retry after backoff; a job put back at shutdown), so memory
stays bounded however many jobs there are and any service sharing the store
can pick the job up again without fetching a piece twice.

**After SIGKILL.** The store is written before anything it describes is
let go: a job's end (``done``, ``failed``) is recorded before its torrent
leaves the session and the disk budget may delete its folder. When the
same batch starts again over the store:

- a job recorded ``done`` or ``failed`` is not run again;
- no piece counted in the resume data recorded for a job is fetched again
  (resume data is taken after a flush, when the index is read and with
  each frame recorded; the next attempt checks the storage);
- pieces fetched after the job's last record may be fetched once more:
  those in flight at the kill, and any finished since whose place in
  libtorrent's part file had not reached the disk (the check finds the
  others);
- an image written but not recorded is written again under the same name.

**Pieces in the persistent cache.** With ``settings.cache`` on and no
``storage_dir`` given, pieces are kept where :class:`~torframes.Client`
keeps them, in the cache (:mod:`torframes.cache`): a later batch over the
same torrents, with another store, output and picks, fetches only the
pieces the cache does not hold. Then the cache's budget applies
(``cache_max_bytes``, least recently used first, evicted as jobs end for
good and when the client closes; the torrents in the session are kept),
not ``service_disk_budget``; a job may start only while the pieces of
running jobs stay under it. A job resumed after SIGKILL, a retry or a
shutdown takes only the metadata from its resume data: libtorrent checks
the cached files against their hashes, so no piece recorded there is
fetched again, and a piece evicted or corrupted since is fetched, never
trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torframes.service.events import SUBSCRIPTION_BUFFER, EventHub, JobEvent, Subscription
from torframes.service.executor import Executor, make_executor
from torframes.service.frames_table import frames_table
from torframes.service.jobs import JobOptions, SourceSpec, job_key, source_spec, torrent_key
from torframes.service.output import OutputSink
from torframes.service.results import results_frame
from torframes.service.runner import FLUSH_TIMEOUT
from torframes.service.scheduling import Heartbeat
from torframes.service.signals import SignalHandlers
from torframes.service.store import JobStore, new_owner
from torframes.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from torframes.torrent.client import Client

__all__ = ["FLUSH_TIMEOUT", "SHUTDOWN_DEADLINE", "ScreenshotService"]

log = logging.getLogger(__name__)

#: Seconds in-flight jobs get to finish when shutting down, unless told otherwise.
SHUTDOWN_DEADLINE = 30.0


class ScreenshotService:
    """Runs screenshot jobs with ``workers`` workers over one client and a job store.

    ``client``: a :class:`~torframes.Client` to share (left open), or
    :class:`~torframes.Settings` (default: from the environment) for a client
    the service makes and closes. A client it makes keeps its pieces in
    the persistent cache when ``settings.cache`` is on, else in ``pieces/``
    beside a store file, unless ``storage_dir`` is set; either way a later
    process resumes from them. ``workers`` defaults to
    ``settings.service_workers``. ``store``: a :class:`JobStore` or a path
    to its SQLite file (default: in memory, nothing survives the process).
    ``output``: where screenshots go, a folder or an fsspec URL such as
    ``s3://bucket/shots`` (see :mod:`.output`; default: ``screenshots/``
    beside the store file, else in the working directory). ``on_event`` is called with
    every :class:`JobEvent`. ``cluster``: a ``distributed.Client`` (or a
    scheduler address) to run the jobs on Dask workers instead of this
    process (:mod:`torframes.service.dask_executor`); the service then makes
    no client of its own. Other keywords are default :class:`JobOptions`
    for every job submitted.

    Use as ``async with ScreenshotService(...) as service:``; leaving shuts
    down (in-flight jobs get :data:`SHUTDOWN_DEADLINE` s) and closes what
    the service made.
    """

    def __init__(
        self,
        client: Client | Settings | None = None,
        *,
        workers: int | None = None,
        store: JobStore | str | os.PathLike[str] | None = None,
        output: str | os.PathLike[str] | None = None,
        on_event: Callable[[JobEvent], object] | None = None,
        cluster: Any = None,
        **job_options: Any,
    ) -> None:
        from torframes.torrent.client import Client

        # before anything is opened: an unknown URL protocol (or its package missing) fails here
        sink = OutputSink.open(output) if output is not None else None
        if isinstance(store, JobStore):
            self._store, self._owns_store = store, False
        else:
            self._store = JobStore(":memory:" if store is None else store)
            self._owns_store = True
        folder = None if self._store.path == ":memory:" else Path(self._store.path).parent
        self._client: Client | None
        if isinstance(client, Client):
            self._client, self._owns_client = client, False
            self.settings: Settings = client.settings
        else:
            settings = client if client is not None else Settings()
            # (not for Dask workers: this folder is the driver's; each worker has its own)
            local = cluster is None
            if settings.storage_dir is None and folder is not None and not settings.cache and local:
                settings = settings.model_copy(update={"storage_dir": folder / "pieces"})
            self.settings = settings
            # on a cluster each Dask worker has its client; the driver needs none
            self._client = Client(settings) if cluster is None else None
            self._owns_client = self._client is not None
        self.workers = int(workers if workers is not None else self.settings.service_workers)
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        #: Where screenshots go: a local folder, or an fsspec URL (see :mod:`.output`).
        self.output: Path | str
        if sink is not None:
            self.output = sink.location if sink.is_remote else Path(sink.location)
        else:
            self.output = (folder or Path.cwd()) / "screenshots"
        self._defaults = JobOptions.make(**job_options)
        self.owner = new_owner()
        self._hub = EventHub(on_event)
        self._state = "new"  # new, running, stopping, stopped
        self._changed: asyncio.Event | None = None
        self._stopped: asyncio.Event | None = None
        self._heartbeat = Heartbeat(self._store, self.owner, self.settings.service_lease)
        self._shutdown: asyncio.Task[None] | None = None
        self._signals = SignalHandlers(self._on_signal)
        self._deadline: float | None = SHUTDOWN_DEADLINE
        self._executor: Executor = make_executor(self, cluster)

    def __repr__(self) -> str:
        return (
            f"<ScreenshotService {self._state}, {self.workers} workers, "
            f"{self._executor.in_hand} jobs in hand, store {self._store.path}>"
        )

    @property
    def client(self) -> Client:
        """The client every job shares (a service on a Dask cluster has none)."""
        if self._client is None:
            raise RuntimeError("a service running on a Dask cluster has no client of its own")
        return self._client

    @property
    def store(self) -> JobStore:
        """The job store."""
        return self._store

    @property
    def executor(self) -> Executor:
        """What runs the jobs: the local worker pool, or the Dask executor."""
        return self._executor

    @property
    def state(self) -> str:
        """``new``, ``running``, ``stopping`` or ``stopped``."""
        return self._state

    # -- for executors ---------------------------------------------------------------------

    def publish(self, event: JobEvent) -> None:
        """Hand ``event`` to the callback and every subscriber (loop thread)."""
        self._hub.emit(event)

    def notify(self) -> None:
        """A job ended: :meth:`join` looks again."""
        if self._changed is not None:
            self._changed.set()

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> ScreenshotService:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self) -> ScreenshotService:
        """Start the client (if not started), the executor and the heartbeat."""
        if self._state != "new":
            if self._state != "running":
                raise RuntimeError(f"the service is {self._state}")
            return self
        self._state = "running"
        self._changed = asyncio.Event()
        self._stopped = asyncio.Event()
        if self._client is not None:
            await self._client.start()
        await self._executor.start()
        self._heartbeat.start()
        return self

    async def shutdown(self, deadline: float | None = SHUTDOWN_DEADLINE) -> None:
        """Stop taking jobs; give jobs in the workers ``deadline`` s to finish; put the rest back.

        Jobs still waiting for metadata or for a worker go back to the store
        at once, as queued; so do jobs the deadline cuts short, with their
        resume data. ``deadline=None`` waits as long as they take.
        Idempotent; the service cannot be started again.
        """
        if self._state == "new":
            self._state = "stopped"
            self._hub.close()
            return
        if self._shutdown is None:
            self._shutdown = asyncio.ensure_future(self._stop(deadline))
        await asyncio.shield(self._shutdown)

    async def aclose(self, deadline: float | None = SHUTDOWN_DEADLINE) -> None:
        """:meth:`shutdown`, then close the client and store if the service made them."""
        await self.shutdown(deadline)
        self.remove_signal_handlers()
        if self._owns_client and self._client is not None:
            await self._client.close()
        if self._owns_store:
            await asyncio.to_thread(self._store.close)

    async def _stop(self, deadline: float | None) -> None:
        assert self._stopped is not None
        assert self._changed is not None
        self._state = "stopping"
        await self._executor.stop(deadline)
        await self._heartbeat.stop()
        self._state = "stopped"
        self._stopped.set()
        self._changed.set()
        self._hub.close()

    def install_signal_handlers(
        self,
        deadline: float | None = SHUTDOWN_DEADLINE,
        signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
    ) -> bool:
        """Shut down gracefully on these signals (a second one cuts in-flight jobs short).

        Only where the running loop supports it (the main thread, not
        Windows); returns False if it does not. Removed by :meth:`aclose`.
        """
        self._deadline = deadline
        return self._signals.install(signals)

    def remove_signal_handlers(self) -> None:
        """Undo :meth:`install_signal_handlers`."""
        self._signals.remove()

    def _on_signal(self) -> None:
        if self._shutdown is None:
            log.warning("signal received: finishing in-flight frames, then stopping")
            self._shutdown = asyncio.ensure_future(self._stop(self._deadline))
        else:  # asked twice: cut in-flight jobs short now
            self._executor.cut_short()

    # -- submitting and results ---------------------------------------------------------------

    async def submit(self, source: Any, **options: Any) -> int:
        """Add one job (unless the same source with the same options is in the store); its id."""
        return (await self.submit_many([source], **options))[0]

    async def submit_many(self, sources: Iterable[Any], **options: Any) -> list[int]:
        """Add a job per source, all with the same ``options``; their ids, in order.

        A source already in the store with the same options keeps its job
        and state (a batch started again over its store resumes).
        """
        if self._state in ("stopping", "stopped"):
            raise RuntimeError(f"the service is {self._state}")
        job_options = JobOptions.make(self._defaults, **options)
        specs = [source_spec(source) for source in sources]

        def rows() -> list[tuple[str, SourceSpec, JobOptions, str | None]]:
            return [(job_key(s, job_options), s, job_options, torrent_key(s)) for s in specs]

        added = await asyncio.to_thread(lambda: self._store.add(rows()))
        for (job_id, created), spec in zip(added, specs, strict=True):
            if created:
                self._hub.emit(JobEvent("queued", job_id, spec.text))
        if self._state == "running":
            self._executor.wake()
        return [job_id for job_id, _ in added]

    def events(self, maxsize: int = SUBSCRIPTION_BUFFER) -> Subscription:
        """Every event from this call on, as an async iterator that ends when the service stops.

        ``aclose()`` it (or drop it) to stop collecting events. It holds at
        most ``maxsize`` unread events: past that the oldest are dropped
        (counted in its ``dropped``), so a slow reader costs bounded memory.
        """
        return self._hub.subscribe(maxsize)

    async def results(self, ids: Sequence[int] | None = None) -> pd.DataFrame:
        """One row per job (``ids``, default all) with the columns of :data:`RESULT_COLUMNS`."""
        rows = await asyncio.to_thread(self._store.results, ids)
        return results_frame(rows)

    async def join(self, ids: Sequence[int] | None = None) -> None:
        """Wait until every job of ``ids`` (default: all) has ended, or the service stops."""
        await self.start()
        assert self._changed is not None
        assert self._stopped is not None
        poll = self.settings.service_poll_interval
        while self._state == "running":
            self._changed.clear()
            if await asyncio.to_thread(self._store.unfinished, ids) == 0:
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), poll)
        await self._stopped.wait()

    async def run(self, sources: Iterable[Any] | None = None, **options: Any) -> pd.DataFrame:
        """Submit ``sources`` (if given), run until their jobs end, return their results.

        Without ``sources``, runs every job in the store. Cancelling shuts the
        service down gracefully (see :meth:`shutdown`) before re-raising.
        """
        ids = None if sources is None else await self.submit_many(sources, **options)
        await self.start()
        try:
            await self.join(ids)
        except asyncio.CancelledError:
            await self.shutdown()
            raise
        if self._shutdown is not None:
            await self.shutdown()
        return await self.results(ids)

    async def frames(self, ids: Sequence[int] | None = None) -> pd.DataFrame:
        """Per-frame hashes of jobs ``ids`` (default all); see :mod:`.frames_table`."""
        return await asyncio.to_thread(frames_table, self._store, ids)

    async def screenshots(self, job: int) -> list[str]:
        """Paths of the images a job wrote, in time order."""
        return await asyncio.to_thread(self._store.screenshots, job)
