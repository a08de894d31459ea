"""``ScreenshotService``: many jobs, one libtorrent session, a job store that survives crashes.

::

    async with ScreenshotService(Settings(), workers=8, store="batch/jobs.sqlite") as service:
        results = await service.run(magnets, n=5, max_side=640)
    results.to_csv("batch/results.csv")

How a job moves (see :mod:`torframes.service` for the whole picture)::

    store ──claim──▶ metadata stage ──asyncio.Queue──▶ N workers ──▶ store
                     (own slot pool:                   (index, then frames;
                      dead magnets wait                 each frame written and
                      here, holding no                  recorded as it comes)
                      worker)

A dispatcher claims jobs from the store (a lease, renewed by a heartbeat)
while a metadata slot is free. Each claimed job adds its torrent (from its
resume data when it has some) and waits for the metadata in its own task;
then it is queued for the workers, which probe the index and fetch, decode
and write the frames. Every attempt ends with the torrent leaving the
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
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torframes.atomic import atomic_write
from torframes.errors import ClientClosed, PieceTimeout, TorframesError
from torframes.service.events import SUBSCRIPTION_BUFFER, EventHub, JobEvent, Subscription
from torframes.service.frames_table import frames_table, record_frame_hashes
from torframes.service.jobs import JobOptions, SourceSpec, job_key, source_spec, torrent_key
from torframes.service.results import results_frame
from torframes.service.retry import Backoff, error_kind, error_text, is_retryable
from torframes.service.storage import DiskBudget
from torframes.service.store import ClaimedJob, JobStore, LeaseLost, new_owner
from torframes.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from torframes.api.video import Video
    from torframes.torrent.client import Client
    from torframes.torrent.torrent import Torrent

__all__ = ["ScreenshotService"]

log = logging.getLogger(__name__)

#: Seconds in-flight jobs get to finish when shutting down, unless told otherwise.
SHUTDOWN_DEADLINE = 30.0

#: Seconds a torrent leaving the session gets to write its pieces to the cache.
FLUSH_TIMEOUT = 10.0


@dataclass(eq=False)
class _Active:
    """A job claimed by this service, for the length of one attempt."""

    job: ClaimedJob
    started: float
    stage: str = "metadata"  # metadata, ready, work
    torrent: Torrent | None = None
    baseline: int = 0
    carried: int = 0  # fetched by a torrent the job held before (see ScreenshotService._rehold)
    task: asyncio.Task[None] | None = None
    infohash: str | None = None
    frames: int = 0
    piece_floor: int = 0
    ended: bool = False

    def fetched(self) -> int:
        """Payload bytes this attempt fetched so far."""
        if self.torrent is None:
            return self.carried
        return self.carried + max(0, int(self.torrent.stats.bytes_fetched) - self.baseline)


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
    ``output``: where screenshots go (default: ``screenshots/`` beside the
    store file, else in the working directory). ``on_event`` is called with
    every :class:`JobEvent`. Other keywords are default
    :class:`JobOptions` for every job submitted.

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
        **job_options: Any,
    ) -> None:
        from torframes.torrent.client import Client

        if isinstance(store, JobStore):
            self._store, self._owns_store = store, False
        else:
            self._store = JobStore(":memory:" if store is None else store)
            self._owns_store = True
        folder = None if self._store.path == ":memory:" else Path(self._store.path).parent
        if isinstance(client, Client):
            self._client, self._owns_client = client, False
        else:
            settings = client if client is not None else Settings()
            if settings.storage_dir is None and folder is not None and not settings.cache:
                settings = settings.model_copy(update={"storage_dir": folder / "pieces"})
            self._client, self._owns_client = Client(settings), True
        self.settings: Settings = self._client.settings
        self.workers = int(workers if workers is not None else self.settings.service_workers)
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if output is not None:
            self.output = Path(output)
        else:
            self.output = (folder or Path.cwd()) / "screenshots"
        self._defaults = JobOptions.make(**job_options)
        self.owner = new_owner()
        self._hub = EventHub(on_event)
        # With pieces in the cache, the cache's budget bounds them (see the module docstring).
        self._pieces_in_cache = self._client.pieces_in_cache
        settings = self.settings
        budget = settings.cache_max_bytes if self._pieces_in_cache else settings.service_disk_budget
        self._budget = DiskBudget(budget)
        self._backoff = Backoff(self.settings.service_backoff, self.settings.service_backoff_max)
        self._active: dict[int, _Active] = {}
        self._ending: set[asyncio.Task[None]] = set()
        self._users: dict[Torrent, int] = {}
        self._state = "new"  # new, running, stopping, stopped
        self._ready: asyncio.Queue[_Active | None] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._wake: asyncio.Event | None = None
        self._changed: asyncio.Event | None = None
        self._stopped: asyncio.Event | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._heartbeat: asyncio.Task[None] | None = None
        self._shutdown: asyncio.Task[None] | None = None
        self._signals: list[int] = []

    def __repr__(self) -> str:
        return (
            f"<ScreenshotService {self._state}, {self.workers} workers, "
            f"{len(self._active)} jobs in hand, store {self._store.path}>"
        )

    @property
    def client(self) -> Client:
        """The client every job shares."""
        return self._client

    @property
    def store(self) -> JobStore:
        """The job store."""
        return self._store

    @property
    def state(self) -> str:
        """``new``, ``running``, ``stopping`` or ``stopped``."""
        return self._state

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> ScreenshotService:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self) -> ScreenshotService:
        """Start the client (if not started), the dispatcher, the workers and the heartbeat."""
        if self._state != "new":
            if self._state != "running":
                raise RuntimeError(f"the service is {self._state}")
            return self
        self._state = "running"
        self._ready = asyncio.Queue(maxsize=self.workers)
        self._slots = asyncio.Semaphore(self.settings.service_metadata_concurrency)
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._stopped = asyncio.Event()
        await self._client.start()
        if self._client.storage_dir is not None and not self._pieces_in_cache:
            finished = await asyncio.to_thread(self._store.infohashes, ("done", "failed"))
            finished -= await asyncio.to_thread(self._store.infohashes, ("queued", "running"))
            storage = self._client.storage_dir
            await self._budget.adopt(os.fspath(storage / infohash) for infohash in finished)
        self._dispatcher = asyncio.ensure_future(self._dispatch())
        self._workers = [asyncio.ensure_future(self._worker()) for _ in range(self.workers)]
        self._heartbeat = asyncio.ensure_future(self._beat())
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
        if self._owns_client:
            await self._client.close()
        if self._owns_store:
            await asyncio.to_thread(self._store.close)

    async def _stop(self, deadline: float | None) -> None:
        assert self._wake is not None
        assert self._ready is not None
        assert self._stopped is not None
        self._state = "stopping"
        self._wake.set()
        # Jobs not in a worker yet go back at once. They go first: each holds a
        # metadata slot, and the dispatcher may be waiting for one of them.
        await self._put_back_waiting()
        if self._dispatcher is not None:
            await asyncio.gather(self._dispatcher, return_exceptions=True)
        await self._put_back_waiting()  # claimed while the dispatcher was stopping
        await asyncio.gather(*self._ending, return_exceptions=True)
        while not self._ready.empty():
            item = self._ready.get_nowait()
            if item is not None:
                await self._finish(item, cancelled=True)
        for _ in self._workers:  # each worker stops after its job
            self._ready.put_nowait(None)
        # jobs in the workers get until the deadline
        working = [a.task for a in self._active.values() if a.stage == "work" and a.task]
        if working:
            _, late = await asyncio.wait(working, timeout=deadline)
            for task in late:
                task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        await asyncio.gather(*self._ending, return_exceptions=True)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        self._state = "stopped"
        self._stopped.set()
        assert self._changed is not None
        self._changed.set()
        self._hub.close()

    async def _put_back_waiting(self) -> None:
        """Cancel the jobs waiting for metadata or for a worker; they go back to the store."""
        waiting = [a.task for a in self._active.values() if a.stage != "work" and a.task]
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        for active in list(self._active.values()):  # a task cancelled before it began
            if active.stage == "metadata" and active.task is not None and active.task.done():
                await self._finish(active, cancelled=True)

    def install_signal_handlers(
        self,
        deadline: float | None = SHUTDOWN_DEADLINE,
        signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
    ) -> bool:
        """Shut down gracefully on these signals (a second one cuts in-flight jobs short).

        Only where the running loop supports it (the main thread, not
        Windows); returns False if it does not. Removed by :meth:`aclose`.
        """
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if self._shutdown is None:
                log.warning("signal received: finishing in-flight frames, then stopping")
                self._shutdown = asyncio.ensure_future(self._stop(deadline))
            else:  # asked twice: cut in-flight jobs short now
                for active in list(self._active.values()):
                    if active.task is not None:
                        active.task.cancel()

        try:
            for number in signals:
                loop.add_signal_handler(number, on_signal)
                self._signals.append(number)
        except (NotImplementedError, RuntimeError, ValueError):
            self.remove_signal_handlers()
            return False
        return True

    def remove_signal_handlers(self) -> None:
        """Undo :meth:`install_signal_handlers`."""
        if not self._signals:
            return
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            for number in self._signals:
                loop.remove_signal_handler(number)
        self._signals.clear()

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
        if self._wake is not None:
            self._wake.set()
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

    # -- dispatching ------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        """Claim jobs while a metadata slot is free; sleep until there may be one to claim."""
        assert self._slots is not None
        assert self._wake is not None
        settings, slots = self.settings, self._slots
        while self._state == "running":
            await slots.acquire()
            if self._state != "running":
                slots.release()
                return
            self._wake.clear()
            try:
                job = await asyncio.to_thread(self._store.claim, self.owner, settings.service_lease)
            except Exception:
                slots.release()
                log.exception("claiming a job failed; trying again")
                await self._idle(settings.service_poll_interval)
                continue
            if job is None:
                slots.release()
                await self._idle(await self._until_due())
                continue
            active = _Active(job, started=time.monotonic(), infohash=job.infohash)
            self._active[job.id] = active
            if self._state != "running":  # shut down while claiming
                slots.release()
                await self._finish(active, cancelled=True)
                return
            active.task = asyncio.ensure_future(self._metadata_stage(active))
            # released when the task ends, even one cancelled before it began
            active.task.add_done_callback(lambda _: slots.release())

    async def _until_due(self) -> float:
        poll = self.settings.service_poll_interval
        due = await asyncio.to_thread(self._store.next_due)
        now = time.time()
        if due is None or due <= now:
            return poll
        return min(poll, due - now + 0.01)

    async def _idle(self, timeout: float) -> None:
        assert self._wake is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _beat(self) -> None:
        """Renew this service's leases a few times per lease period."""
        lease = self.settings.service_lease
        while True:
            await asyncio.sleep(lease / 4)
            try:
                await asyncio.to_thread(self._store.renew, self.owner, lease)
            except Exception:
                log.exception("renewing leases failed")

    # -- the metadata stage -------------------------------------------------------------------

    async def _metadata_stage(self, active: _Active) -> None:
        """Add the torrent and wait for its metadata in this job's own task, then queue it.

        The job's metadata slot is released when this task ends (see :meth:`_dispatch`).
        """
        assert self._ready is not None
        try:
            await self._open(active)
            active.stage = "ready"
            await self._ready.put(active)
        except asyncio.CancelledError:
            await self._finish(active, cancelled=True)
        except Exception as error:
            await self._finish(active, error=error)

    async def _open(self, active: _Active) -> None:
        job = active.job
        self._emit(active, "metadata")
        resume = job.resume_data
        if resume is not None and job.resume_dir != self._resume_dir():
            resume = None  # saved by a client with other storage: its pieces are not here
        torrent = await self._client.add(
            job.source.value(),
            peers=list(job.options.peers) or None,
            resume_data=resume,
            # Cached pieces are checked, never taken on trust: another process may
            # have evicted some since, or written others.
            check=job.interrupted or self._pieces_in_cache,
        )
        self._hold(active, torrent)
        await torrent.wait_metadata(timeout=self.settings.service_metadata_timeout)
        await torrent.wait_checked()
        active.infohash = torrent.infohash
        await asyncio.to_thread(
            self._store.progress,
            job.id,
            self.owner,
            phase="ready",
            infohash=torrent.infohash,
            name=torrent.name,
        )

    def _hold(self, active: _Active, torrent: Torrent) -> None:
        active.torrent = torrent
        active.baseline = int(torrent.stats.bytes_fetched)
        active.infohash = torrent.infohash
        self._users[torrent] = self._users.get(torrent, 0) + 1
        self._budget.track(active.job.id, torrent)

    async def _rehold(self, active: _Active, torrent: Torrent) -> None:
        """Hold ``torrent`` instead of the job's torrent, which the cache replaced.

        Opening a torrent whose metadata came from a peer adds it again from
        the metadata just cached, so that its pieces go to the cache's files
        (:func:`~torframes.api.cached.open_cached`); what the first one
        fetched still counts, and so does what the new one fetched for this
        job's index, unless another job of this service holds it too.
        """
        carried = active.fetched()
        shared = self._users.get(torrent, 0) > 0
        await self._release_torrent(active, finished=False)
        self._hold(active, torrent)
        active.carried = carried
        if not shared:
            active.baseline = 0

    def _resume_dir(self) -> str:
        """Where the pieces that resume data counts are kept: the cache's folder, or storage."""
        cache = self._client.disk_cache
        if self._pieces_in_cache and cache is not None:
            return os.fspath(cache.root)
        return os.fspath(self._client.storage_dir or "")

    # -- the workers -----------------------------------------------------------------------------

    async def _worker(self) -> None:
        """Run queued jobs one after another until a ``None`` says stop."""
        assert self._ready is not None
        while True:
            active = await self._ready.get()
            if active is None:
                return
            if self._state != "running":
                await self._finish(active, cancelled=True)
                continue
            active.stage = "work"
            active.task = asyncio.ensure_future(self._work_stage(active))
            await active.task

    async def _work_stage(self, active: _Active) -> None:
        try:
            await self._index_and_frames(active)
        except asyncio.CancelledError:
            await self._finish(active, cancelled=True)
        except Exception as error:
            await self._finish(active, error=error)
        else:
            await self._finish(active)

    async def _index_and_frames(self, active: _Active) -> None:
        from torframes.api.video import open_video

        job, settings = active.job, self.settings
        options = job.options
        self._budget.check(job.id)
        self._emit(active, "index")
        await asyncio.to_thread(self._store.progress, job.id, self.owner, phase="index")
        video = await _within(
            open_video(
                self._client,
                job.source.value(),
                file=options.file,
                peers=list(options.peers),
                progress=False,  # jobs report through events, not bars
                picks=options.picks,
            ),
            settings.service_index_timeout,
            "the video's index was not read",
            active.infohash,
        )
        torrent = video.torrent
        if torrent is not active.torrent:
            await self._rehold(active, torrent)
        output = Path(options.output) if options.output is not None else self.output
        await asyncio.to_thread(output.mkdir, parents=True, exist_ok=True)
        keyframes_path = None
        if options.keyframes is not None:
            table_name = f"{torrent.infohash}-f{video.file}.keyframes.{options.keyframes}"
            keyframes_path = output / table_name
            await asyncio.to_thread(
                _write_table, video.keyframes, keyframes_path, options.keyframes
            )
        wanted = options.n > 0 or bool(options.times)
        picks = video.select(options.n, options.strategy, times=options.times) if wanted else None
        resume = await torrent.resume_data()
        await asyncio.to_thread(
            self._store.progress,
            job.id,
            self.owner,
            phase="frames",
            infohash=torrent.infohash,
            name=torrent.name,
            file=torrent.file_path(video.file),
            frames_total=0 if picks is None else len(picks),
            frames=0,
            piece_floor=video.stats.piece_floor,
            bytes_fetched=job.bytes_fetched + active.fetched(),
            elapsed_s=self._elapsed(active),
            resume_data=resume,
            resume_dir=self._resume_dir(),
            keyframes_path=None if keyframes_path is None else os.fspath(keyframes_path),
        )
        if picks is not None and len(picks):
            await _within(
                self._frames(active, video, picks, output),
                settings.service_frames_timeout,
                "the frames were not all written",
                active.infohash,
            )
            if options.sheet:
                await self._sheet(active, video, output)
        active.piece_floor = video.stats.piece_floor

    async def _sheet(self, active: _Active, video: Video, output: Path) -> None:
        """A contact sheet of the screenshots the job wrote (also those of an earlier attempt)."""
        from torframes.research.batch import write_job_sheet
        from torframes.research.contact import sheet_header

        options = active.job.options
        shots = await asyncio.to_thread(self._store.screenshot_times, active.job.id)
        if not shots:
            return
        ext = "jpg" if options.fmt == "jpeg" else options.fmt
        target = output / f"{video.torrent.infohash}-f{video.file}.sheet.{ext}"
        await asyncio.to_thread(write_job_sheet, shots, sheet_header(video), target, options.fmt)
        self._emit(active, "sheet", path=os.fspath(target))

    async def _frames(self, active: _Active, video: Video, picks: Any, output: Path) -> None:
        from torframes.decode.names import screenshot_name
        from torframes.decode.write import write_image

        job, options = active.job, active.job.options
        total = len(picks)
        active.frames = 0
        frames = video.frames(picks, max_side=options.max_side, progress=False)
        async with contextlib.aclosing(frames):  # type: ignore[type-var]
            async for row, image in frames:
                time_s = float(row["time"])
                name = screenshot_name(video.torrent.infohash, video.file, time_s, options.fmt)
                target = output / name
                await asyncio.to_thread(
                    write_image, image, target, options.fmt, options.quality, owned=True
                )
                await asyncio.to_thread(record_frame_hashes, self._store, job.id, time_s, image)
                active.frames += 1
                # Resume data now also flushes what libtorrent holds of this frame's pieces
                # (its part file's index among them): a crash after this line loses none.
                resume = await video.torrent.resume_data()
                await asyncio.to_thread(
                    self._store.record_frame,
                    job.id,
                    self.owner,
                    os.fspath(target),
                    time_s,
                    frames=active.frames,
                    piece_floor=video.stats.piece_floor,
                    bytes_fetched=job.bytes_fetched + active.fetched(),
                    elapsed_s=self._elapsed(active),
                    resume_data=resume,
                )
                self._emit(
                    active, "frame", frame=active.frames, frames=total, path=os.fspath(target)
                )

    # -- ending an attempt ---------------------------------------------------------------------

    async def _finish(
        self, active: _Active, error: BaseException | None = None, *, cancelled: bool = False
    ) -> None:
        """:meth:`_end` in a task of its own, so cancelling the job cannot cut it short."""
        task = asyncio.ensure_future(self._end(active, error, cancelled=cancelled))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)
        await asyncio.shield(task)

    async def _end(
        self, active: _Active, error: BaseException | None = None, *, cancelled: bool = False
    ) -> None:
        """Record how the attempt ended, then release the torrent, then tell whoever listens."""
        if active.ended:
            return
        active.ended = True
        job, settings = active.job, self.settings
        if cancelled or (
            isinstance(error, ClientClosed) and (self._state != "running" or self._client.closed)
        ):
            outcome = "released"
        elif error is None:
            outcome = "done"
        elif isinstance(error, LeaseLost):
            outcome = "lost"
        elif (is_retryable(error) or isinstance(error, ClientClosed)) and (
            job.retries < settings.service_max_retries
        ):
            outcome = "retry"
        else:
            outcome = "failed"
        if error is not None and outcome != "released":
            log.info("job %d attempt %d: %s: %s", job.id, job.attempt, error_kind(error), error)
        values: dict[str, Any] = {
            "bytes_fetched": job.bytes_fetched + self._safe_fetched(active),
            "elapsed_s": self._elapsed(active),
            "frames": active.frames if outcome != "released" else max(job.frames, active.frames),
        }
        if outcome == "done":
            values["piece_floor"] = active.piece_floor
        if active.infohash is not None:
            values["infohash"] = active.infohash
        resume = None
        if outcome in ("retry", "released"):
            resume = await self._save_resume(active)
            if resume is not None:
                values["resume_data"] = resume
                values["resume_dir"] = self._resume_dir()
            # Its torrent (paused) leaves first: the job may be claimed again as soon
            # as it is recorded. Nothing is deleted, and its pieces are on disk.
            await self._release_torrent(active, finished=False)
        delay = self._backoff.delay(job.retries + 1) if outcome == "retry" else 0.0
        kind = error_kind(error) if error is not None and outcome != "released" else None
        text = error_text(error) if error is not None and outcome != "released" else None
        held = False
        try:
            held = await asyncio.to_thread(
                self._store.finish,
                job.id,
                self.owner,
                job.attempt,
                # a lost lease: the store finds the job is not ours and marks the attempt lost
                outcome="released" if outcome == "lost" else outcome,
                error_kind=kind,
                error=text,
                delay=delay,
                **values,
            )
        except Exception:
            log.exception("recording the end of job %d failed", job.id)
        # A job ended for good lets its torrent go only now, with its end recorded:
        # the disk budget may delete its pieces, and a crash in between must not
        # leave a running job whose pieces are gone.
        await self._release_torrent(active, finished=held and outcome in ("done", "failed"))
        self._active.pop(job.id, None)
        if held:
            if outcome == "retry":
                self._emit(active, "retry", error_kind=kind, error=text, delay=delay)
            elif outcome == "released":
                self._emit(active, "queued")
            else:
                self._emit(active, outcome, error_kind=kind, error=text, frames=active.frames)
        else:
            log.warning("job %d was taken by another service; its attempt is dropped", job.id)
        assert self._wake is not None
        assert self._changed is not None
        self._wake.set()
        self._changed.set()

    def _safe_fetched(self, active: _Active) -> int:
        try:
            return active.fetched()
        except Exception:  # a handle gone bad: count what is known
            return 0

    async def _save_resume(self, active: _Active) -> bytes | None:
        torrent = active.torrent
        if torrent is None or torrent.removed or not torrent.has_metadata:
            return None
        if self._users.get(torrent, 0) > 1:
            return None  # another job of this service still uses it: do not pause it
        try:
            return await torrent.resume_data(pause=True)
        except (TorframesError, RuntimeError) as error:
            log.warning("no resume data for job %d: %s", active.job.id, error)
            return None

    async def _release_torrent(self, active: _Active, *, finished: bool) -> None:
        """Take the torrent out of the session (its pieces stay on disk for the budget to judge)."""
        torrent, active.torrent = active.torrent, None
        self._budget.untrack(active.job.id)
        if torrent is None:
            return
        users = self._users.get(torrent, 1) - 1
        if users > 0:
            self._users[torrent] = users
            return
        self._users.pop(torrent, None)
        if self._pieces_in_cache and not torrent.removed and torrent.has_metadata:
            # Its pieces on disk before it leaves: the next batch checks them there.
            try:
                await torrent.flush(timeout=FLUSH_TIMEOUT)
            except (TorframesError, RuntimeError) as error:
                log.warning("could not flush %s to the cache: %s", torrent.infohash, error)
        try:
            await torrent.remove(delete_files=False)
        except Exception:
            log.exception("removing torrent %s failed", torrent.infohash)
        if finished and self._pieces_in_cache:
            await self._enforce_cache_budget()
        elif finished and self._client.storage_dir is not None:
            # Another job on this torrent may still need the folder: its resume data
            # counts the pieces in it.
            waiting = await asyncio.to_thread(self._store.infohashes, ("queued", "running"))
            if torrent.infohash not in waiting:
                await self._budget.finished(torrent.save_path)

    async def _enforce_cache_budget(self) -> None:
        """Evict from the cache beyond its budget, keeping the torrents of unfinished jobs."""
        cache = self._client.disk_cache
        if cache is None:
            return
        waiting = await asyncio.to_thread(self._store.infohashes, ("queued", "running"))
        keep = frozenset(waiting) | frozenset(self._client.torrents)
        try:
            await asyncio.to_thread(cache.enforce_budget, keep)
        except (OSError, ValueError) as error:
            log.warning("could not keep the torframes cache within its budget: %s", error)

    # -- helpers -------------------------------------------------------------------------------

    def _elapsed(self, active: _Active) -> float:
        return active.job.elapsed_s + (time.monotonic() - active.started)

    def _emit(self, active: _Active, kind: str, **fields: Any) -> None:
        job = active.job
        event = JobEvent(
            kind, job.id, job.source.text, attempt=job.attempt, infohash=active.infohash, **fields
        )
        self._hub.emit(event)


async def _within(coroutine: Any, timeout: float, what: str, infohash: str | None) -> Any:
    """Await ``coroutine`` for at most ``timeout`` s; past that, :class:`PieceTimeout`."""
    try:
        return await asyncio.wait_for(coroutine, timeout)
    except (asyncio.TimeoutError, TimeoutError) as error:
        if isinstance(error, TorframesError):
            raise
        raise PieceTimeout(f"{what} within {timeout:g} s", infohash=infohash) from None


def _write_table(table: pd.DataFrame, target: Path, fmt: str) -> None:
    """Write a job's keyframe table whole or not at all (the job's lease holder alone writes it)."""
    with atomic_write(target, owned=True) as out:
        if fmt == "parquet":
            table.to_parquet(out, index=False)
        else:
            table.to_csv(out, index=False, mode="wb")
