"""One job, start to end: source -> metadata -> index -> picks -> frames -> files and a result.

:func:`run_job` is the one unit every executor runs: the local worker pool
(:mod:`torframes.service.local`) on the service's client, and a Dask worker
(:mod:`torframes.service.dask_executor`) on the worker's long-lived client.
Everything it needs comes in a picklable :class:`JobSpec`; everything the
driver records comes back in a picklable :class:`JobOutcome`::

    add the torrent (from the spec's resume data, if its pieces are here)
      ─▶ metadata                       hooks.metadata()
      ─▶ hooks.ready()                  (the local pool: wait for a worker)
      ─▶ the video's index              hooks.progress(phase="index")
      ─▶ keyframe table, picks          hooks.progress(phase="frames", resume_data=...)
      ─▶ each frame: written, hashed    hooks.frame(..., resume_data=...)
      ─▶ contact sheet
      ─▶ the end: classified (retry.py); resume data kept for a retry;
         hooks.ending() records it BEFORE the torrent leaves the session

**What an executor can rely on** (the SIGKILL guarantees of
:mod:`torframes.service.service` are built on these):

- resume data is taken (it flushes libtorrent's part file first) when the
  index is read and after each frame is written, and handed to
  :meth:`JobHooks.progress` / :meth:`JobHooks.frame` before the job goes on;
- each image is written (atomically where the output allows,
  :mod:`torframes.service.output`) before :meth:`JobHooks.frame` is called;
- a job ending for good (``done``, ``failed``) is handed to
  :meth:`JobHooks.ending` while its torrent is still in the session, and
  :meth:`JobHooks.released` is told afterwards; a job ending for a retry
  (or put back) has its torrent paused, its resume data taken and the
  torrent removed first, so the job can be claimed again as soon as it is
  recorded;
- cancelling :func:`run_job` cannot cut its end short: the end runs in a
  task of its own, then the cancellation is raised.

Torrents of one client are shared by the jobs that use them (two sources of
one torrent, or a torrent added again from the cache): a count per client
says when the last job lets one go; only then is it paused and removed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torframes.errors import ClientClosed, PieceTimeout, TorframesError
from torframes.service.frames_table import frame_hash_row
from torframes.service.jobs import JobOptions, SourceSpec
from torframes.service.output import OutputSink, image_extension
from torframes.service.retry import error_kind, error_text, is_retryable

if TYPE_CHECKING:
    from torframes.api.video import Video
    from torframes.service.store import ClaimedJob
    from torframes.torrent.client import Client
    from torframes.torrent.torrent import Torrent

__all__ = [
    "FLUSH_TIMEOUT",
    "JobHooks",
    "JobOutcome",
    "JobSpec",
    "enforce_cache_budget",
    "resume_dir",
    "run_job",
]

log = logging.getLogger(__name__)

#: Seconds a torrent leaving the session gets to write its pieces to the cache.
FLUSH_TIMEOUT = 10.0

#: How an attempt can end. ``released``: put back unfinished (cancelled, or its
#: client closed under it at shutdown), not counted as a retry.
OUTCOME_STATUSES = ("done", "failed", "retry", "released")


@dataclass(frozen=True)
class JobSpec:
    """One attempt at one job, picklable: everything a worker, local or remote, needs.

    ``output``: the folder or fsspec URL screenshots and tables go to, unless
    the job's options name their own. ``resume``: libtorrent resume data of
    an earlier attempt, used only where its pieces are (``resume_dir`` equal
    to the running client's, see :func:`resume_dir`). ``retries``: retryable
    failures before this attempt; a retryable failure is a ``retry`` while
    ``retries < max_retries`` (default: the client's
    ``settings.service_max_retries``), else ``failed``. ``interrupted``: the
    previous attempt's process died mid-way, so its storage is checked.
    ``bytes_fetched``, ``elapsed_s``, ``frames``: totals of earlier attempts.
    """

    job_id: int
    key: str
    source: SourceSpec
    options: JobOptions
    output: str
    resume: bytes | None = None
    attempt: int = 0
    retries: int = 0
    max_retries: int | None = None
    interrupted: bool = False
    resume_dir: str | None = None
    infohash: str | None = None
    bytes_fetched: int = 0
    elapsed_s: float = 0.0
    frames: int = 0

    @classmethod
    def from_claim(cls, job: ClaimedJob, *, output: str, max_retries: int | None = None) -> JobSpec:
        """The attempt a claim from the job store starts."""
        return cls(
            job_id=job.id,
            key=job.key,
            source=job.source,
            options=job.options,
            output=output,
            resume=job.resume_data,
            attempt=job.attempt,
            retries=job.retries,
            max_retries=max_retries,
            interrupted=job.interrupted,
            resume_dir=job.resume_dir,
            infohash=job.infohash,
            bytes_fetched=job.bytes_fetched,
            elapsed_s=job.elapsed_s,
            frames=job.frames,
        )


@dataclass(frozen=True)
class JobOutcome:
    """How one attempt ended, picklable: everything the driver records.

    ``status``: ``done``, ``failed``, ``retry`` (a retryable error with
    retries left), or ``released`` (put back unfinished: cancelled at
    shutdown). ``result``: the job's row of
    :func:`~torframes.service.results.results_frame` as the store will hold
    it once recorded (``id``, ``source``, ``status``, ``attempts``, totals
    over all attempts...), plus what the store keeps besides (``resume_dir``,
    ``keyframes_path``, ``frames_total``); see :meth:`store_values`.
    ``frames``: one row per screenshot written (``time``, ``path``,
    ``phash``, ``dhash``, ``luma``, ``blank``: see
    :mod:`torframes.service.frames_table`). ``resume``: resume data to keep
    for a retry.
    """

    job_id: int
    status: str
    error_kind: str | None
    error_text: str | None
    result: dict[str, Any]
    frames: list[dict[str, Any]]
    resume: bytes | None

    def store_values(self) -> dict[str, Any]:
        """Columns for :meth:`JobStore.finish <torframes.service.store.JobStore.finish>`.

        Only what this attempt knows: a name or file an earlier attempt
        found is not overwritten with nothing.
        """
        values = {
            name: self.result[name]
            for name in (
                "infohash",
                "name",
                "file",
                "keyframes_path",
                "frames_total",
                "piece_floor",
            )
            if self.result.get(name) is not None
        }
        if self.status != "done":
            values.pop("piece_floor", None)
        for name in ("bytes_fetched", "elapsed_s", "frames"):
            values[name] = self.result[name]
        if self.resume is not None:
            values["resume_data"] = self.resume
            values["resume_dir"] = self.result.get("resume_dir")
        return values


class JobHooks:
    """What the executor running a job sees and does at each of its points; all optional.

    The defaults do nothing (a Dask worker runs jobs with them: its driver
    records the :class:`JobOutcome`). The local executor overrides them to
    record each step in the job store as it happens, hold a worker slot, and
    keep piece storage within its budget.
    """

    @property
    def stopping(self) -> bool:
        """True while the executor shuts down: a closed client then puts the job back."""
        return False

    def event(self, kind: str, **fields: Any) -> None:
        """Something happened (an :data:`~torframes.service.events.EVENT_KINDS` kind)."""

    def hold(self, torrent: Torrent) -> None:
        """The job now uses ``torrent`` (its pieces count as the job's)."""

    def unhold(self) -> None:
        """The job lets its torrent go."""

    async def metadata(self, infohash: str, name: str) -> None:
        """The torrent's metadata arrived and its storage is checked."""

    async def ready(self) -> None:
        """Past the metadata wait, before the index: may wait (for a worker) or raise."""

    async def progress(self, **values: Any) -> None:
        """How far the job got (``phase``, and with ``phase="frames"`` its resume data)."""

    async def frame(self, row: dict[str, Any], **values: Any) -> None:
        """A screenshot written (``row``: its frames-table row), with progress and resume data."""

    async def ending(self, outcome: JobOutcome, error: BaseException | None) -> bool:
        """Record the attempt's end; False if the job is no longer this executor's."""
        return True

    async def released(self, client: Client, torrent: Torrent, *, finished: bool) -> None:
        """``torrent`` left ``client``'s session; ``finished``: its job ended and is recorded.

        By default a finished torrent's pieces in the persistent cache are
        left to the cache's budget (least recently used first, keeping the
        torrents still in the session).
        """
        if finished and client.pieces_in_cache:
            await enforce_cache_budget(client, ())

    async def ended(self, outcome: JobOutcome) -> None:
        """The attempt is over: recorded, torrent let go."""


async def run_job(client: Client, spec: JobSpec, *, hooks: JobHooks | None = None) -> JobOutcome:
    """Run one attempt of one job on ``client``; how it ended (never raises for the job's errors).

    The job's own failures (no metadata, a bad container, an output that
    cannot be written...) end in the outcome; cancellation is raised after
    the end is recorded (see the module docstring).
    """
    return await _Run(client, spec, hooks if hooks is not None else JobHooks()).run()


def resume_dir(client: Client) -> str:
    """Where the pieces that ``client``'s resume data counts are kept: the cache, or storage."""
    cache = client.disk_cache
    if client.pieces_in_cache and cache is not None:
        return os.fspath(cache.root)
    return os.fspath(client.storage_dir or "")


#: Jobs using each torrent, per client.
_USERS: weakref.WeakKeyDictionary[Client, dict[Torrent, int]] = weakref.WeakKeyDictionary()


def _users(client: Client) -> dict[Torrent, int]:
    users = _USERS.get(client)
    if users is None:
        users = _USERS[client] = {}
    return users


@dataclass(eq=False)
class _Run:
    """One attempt in progress."""

    client: Client
    spec: JobSpec
    hooks: JobHooks
    started: float = field(default_factory=time.monotonic)
    torrent: Torrent | None = None
    baseline: int = 0
    carried: int = 0  # fetched by a torrent the job held before (see _rehold)
    infohash: str | None = None
    frames: int = 0
    piece_floor: int = 0
    found: dict[str, Any] = field(default_factory=dict)
    shots: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.infohash = self.spec.infohash
        self.settings = self.client.settings

    # -- the attempt -------------------------------------------------------------------------

    async def run(self) -> JobOutcome:
        error: BaseException | None = None
        cancelled = False
        try:
            await self._open()
            await self.hooks.ready()
            await self._index_and_frames()
        except asyncio.CancelledError:
            cancelled = True
        except Exception as caught:
            error = caught
        end = asyncio.ensure_future(self._end(error, cancelled=cancelled))
        while True:
            try:
                outcome = await asyncio.shield(end)
            except asyncio.CancelledError:
                if end.done():
                    raise
                cancelled = True  # cancelled while ending: the end goes on, then this is raised
                continue
            break
        if cancelled:
            raise asyncio.CancelledError
        return outcome

    async def _open(self) -> None:
        spec, client = self.spec, self.client
        self._event("metadata")
        resume = spec.resume
        if resume is not None and spec.resume_dir != resume_dir(client):
            resume = None  # saved by a client with other storage: its pieces are not here
        torrent = await client.add(
            spec.source.value(),
            peers=list(spec.options.peers) or None,
            resume_data=resume,
            # Cached pieces are checked, never taken on trust: another process may
            # have evicted some since, or written others.
            check=spec.interrupted or client.pieces_in_cache,
        )
        self._hold(torrent)
        await torrent.wait_metadata(timeout=self.settings.service_metadata_timeout)
        await torrent.wait_checked()
        self.infohash = torrent.infohash
        self.found["name"] = torrent.name
        await self.hooks.metadata(torrent.infohash, torrent.name)

    async def _index_and_frames(self) -> None:
        from torframes.api.video import open_video

        spec, settings, options = self.spec, self.settings, self.spec.options
        self._event("index")
        await self.hooks.progress(phase="index")
        video = await _within(
            open_video(
                self.client,
                spec.source.value(),
                file=options.file,
                peers=list(options.peers),
                progress=False,  # jobs report through events, not bars
                picks=options.picks,
            ),
            settings.service_index_timeout,
            "the video's index was not read",
            self.infohash,
        )
        torrent = video.torrent
        if torrent is not self.torrent:
            await self._rehold(torrent)
        sink = OutputSink.open(options.output if options.output is not None else spec.output)
        await asyncio.to_thread(sink.ensure)
        self.found["file"] = torrent.file_path(video.file)
        if options.keyframes is not None:
            table_name = f"{torrent.infohash}-f{video.file}.keyframes.{options.keyframes}"
            self.found["keyframes_path"] = await asyncio.to_thread(
                sink.write_table, video.keyframes, table_name, options.keyframes
            )
        wanted = options.n > 0 or bool(options.times)
        picks = video.select(options.n, options.strategy, times=options.times) if wanted else None
        self.found["frames_total"] = 0 if picks is None else len(picks)
        resume = await torrent.resume_data()
        await self.hooks.progress(
            phase="frames",
            infohash=torrent.infohash,
            name=torrent.name,
            file=self.found["file"],
            frames_total=self.found["frames_total"],
            frames=0,
            piece_floor=video.stats.piece_floor,
            bytes_fetched=spec.bytes_fetched + self._fetched(),
            elapsed_s=self._elapsed(),
            resume_data=resume,
            resume_dir=resume_dir(self.client),
            keyframes_path=self.found.get("keyframes_path"),
        )
        if picks is not None and len(picks):
            await _within(
                self._frames(video, picks, sink),
                settings.service_frames_timeout,
                "the frames were not all written",
                self.infohash,
            )
            if options.sheet:
                await self._sheet(video, sink)
        self.piece_floor = video.stats.piece_floor

    async def _frames(self, video: Video, picks: Any, sink: OutputSink) -> None:
        from contextlib import aclosing

        from torframes.decode.names import screenshot_name

        spec, options = self.spec, self.spec.options
        total = len(picks)
        self.frames = 0
        self.shots = []
        frames = video.frames(picks, max_side=options.max_side, progress=False)
        async with aclosing(frames):  # type: ignore[type-var]
            async for row, image in frames:
                time_s = float(row["time"])
                name = screenshot_name(video.torrent.infohash, video.file, time_s, options.fmt)
                path = await asyncio.to_thread(
                    sink.write_image, image, name, options.fmt, options.quality
                )
                shot = await asyncio.to_thread(frame_hash_row, time_s, image)
                shot["path"] = path
                self.frames += 1
                # Resume data now also flushes what libtorrent holds of this frame's pieces
                # (its part file's index among them): a crash after it is recorded loses none.
                resume = await video.torrent.resume_data()
                await self.hooks.frame(
                    shot,
                    frames=self.frames,
                    piece_floor=video.stats.piece_floor,
                    bytes_fetched=spec.bytes_fetched + self._fetched(),
                    elapsed_s=self._elapsed(),
                    resume_data=resume,
                )
                self.shots.append(shot)
                self._event("frame", frame=self.frames, frames=total, path=path)

    async def _sheet(self, video: Video, sink: OutputSink) -> None:
        """A contact sheet of the screenshots this attempt wrote (each attempt writes them all)."""
        from torframes.research.contact import sheet_header

        options = self.spec.options
        shots = sorted((shot["time"], shot["path"]) for shot in self.shots)
        if not shots:
            return
        name = f"{video.torrent.infohash}-f{video.file}.sheet.{image_extension(options.fmt)}"
        header = sheet_header(video)
        path = await asyncio.to_thread(
            sink.write_sheet, [(p, t) for t, p in shots], header, name, options.fmt
        )
        self._event("sheet", path=path)

    # -- torrents held -----------------------------------------------------------------------

    def _hold(self, torrent: Torrent) -> None:
        self.torrent = torrent
        self.baseline = int(torrent.stats.bytes_fetched)
        self.infohash = torrent.infohash
        users = _users(self.client)
        users[torrent] = users.get(torrent, 0) + 1
        self.hooks.hold(torrent)

    async def _rehold(self, torrent: Torrent) -> None:
        """Hold ``torrent`` instead of the job's torrent, which the cache replaced.

        Opening a torrent whose metadata came from a peer adds it again from
        the metadata just cached, so that its pieces go to the cache's files
        (:func:`~torframes.api.cached.open_cached`); what the first one
        fetched still counts, and so does what the new one fetched for this
        job's index, unless another job of this client holds it too.
        """
        carried = self._fetched()
        shared = _users(self.client).get(torrent, 0) > 0
        await self._release_torrent(finished=False)
        self._hold(torrent)
        self.carried = carried
        if not shared:
            self.baseline = 0

    async def _release_torrent(self, *, finished: bool) -> None:
        """Take the torrent out of the session (its pieces stay on disk for the budget to judge)."""
        torrent, self.torrent = self.torrent, None
        self.hooks.unhold()
        if torrent is None:
            return
        users = _users(self.client)
        left = users.get(torrent, 1) - 1
        if left > 0:
            users[torrent] = left
            return
        users.pop(torrent, None)
        if self.client.pieces_in_cache and not torrent.removed and torrent.has_metadata:
            # Its pieces on disk before it leaves: the next batch checks them there.
            try:
                await torrent.flush(timeout=FLUSH_TIMEOUT)
            except (TorframesError, RuntimeError) as error:
                log.warning("could not flush %s to the cache: %s", torrent.infohash, error)
        try:
            await torrent.remove(delete_files=False)
        except Exception:
            log.exception("removing torrent %s failed", torrent.infohash)
        try:
            await self.hooks.released(self.client, torrent, finished=finished)
        except Exception:  # the storage budget's bookkeeping must not leave the job unended
            log.exception("after torrent %s left the session", torrent.infohash)

    async def _save_resume(self) -> bytes | None:
        torrent = self.torrent
        if torrent is None or torrent.removed or not torrent.has_metadata:
            return None
        if _users(self.client).get(torrent, 0) > 1:
            return None  # another job still uses it: do not pause it
        try:
            return await torrent.resume_data(pause=True)
        except (TorframesError, RuntimeError) as error:
            log.warning("no resume data for job %d: %s", self.spec.job_id, error)
            return None

    # -- the end -----------------------------------------------------------------------------

    def _classify(self, error: BaseException | None, cancelled: bool) -> str:
        """``released``, ``done``, ``retry`` or ``failed`` (retry classes: :mod:`.retry`)."""
        spec = self.spec
        closing = self.hooks.stopping or self.client.closed
        if cancelled or (isinstance(error, ClientClosed) and closing):
            return "released"
        if error is None:
            return "done"
        limit = spec.max_retries
        if limit is None:
            limit = self.settings.service_max_retries
        if (is_retryable(error) or isinstance(error, ClientClosed)) and spec.retries < limit:
            return "retry"
        return "failed"

    async def _end(self, error: BaseException | None, *, cancelled: bool) -> JobOutcome:
        """Classify, keep resume data for a retry, record (hooks.ending), let the torrent go."""
        spec = self.spec
        status = self._classify(error, cancelled)
        if error is not None and status != "released":
            log.info(
                "job %d attempt %d: %s: %s", spec.job_id, spec.attempt, error_kind(error), error
            )
        fetched = self._safe_fetched()
        resume = None
        if status in ("retry", "released"):
            resume = await self._save_resume()
        if status in ("retry", "released"):
            # Its torrent (paused) leaves first: the job may be claimed again as soon
            # as it is recorded. Nothing is deleted, and its pieces are on disk.
            await self._release_torrent(finished=False)
        reported = error is not None and status != "released"
        outcome = JobOutcome(
            job_id=spec.job_id,
            status=status,
            error_kind=error_kind(error) if reported and error is not None else None,
            error_text=error_text(error) if reported and error is not None else None,
            result=self._result(status, fetched, reported, error),
            frames=list(self.shots) if status != "released" else [],
            resume=resume,
        )
        recorded = False
        try:
            recorded = await self.hooks.ending(outcome, error)
        except Exception:
            log.exception("recording the end of job %d failed", spec.job_id)
        # A job ended for good lets its torrent go only now, with its end recorded:
        # its pieces may be deleted then, and a crash in between must not leave a
        # running job whose pieces are gone.
        await self._release_torrent(finished=recorded and status in ("done", "failed"))
        await self.hooks.ended(outcome)
        return outcome

    def _result(
        self, status: str, fetched: int, reported: bool, error: BaseException | None
    ) -> dict[str, Any]:
        spec = self.spec
        frames = self.frames if status != "released" else max(spec.frames, self.frames)
        return {
            "id": spec.job_id,
            "source": spec.source.text,
            "infohash": self.infohash,
            "name": self.found.get("name"),
            "file": self.found.get("file"),
            "status": {"retry": "queued", "released": "queued"}.get(status, status),
            "error_kind": error_kind(error) if reported and error is not None else None,
            "error": error_text(error) if reported and error is not None else None,
            "attempts": spec.attempt,
            "bytes_fetched": spec.bytes_fetched + fetched,
            "piece_floor": self.piece_floor if status == "done" else 0,
            "frames": frames,
            "elapsed_s": self._elapsed(),
            "resume_dir": resume_dir(self.client),
            "keyframes_path": self.found.get("keyframes_path"),
            "frames_total": self.found.get("frames_total"),
        }

    # -- helpers -----------------------------------------------------------------------------

    def _fetched(self) -> int:
        """Payload bytes this attempt fetched so far."""
        if self.torrent is None:
            return self.carried
        return self.carried + max(0, int(self.torrent.stats.bytes_fetched) - self.baseline)

    def _safe_fetched(self) -> int:
        try:
            return self._fetched()
        except Exception:  # a handle gone bad: count what is known
            return 0

    def _elapsed(self) -> float:
        return self.spec.elapsed_s + (time.monotonic() - self.started)

    def _event(self, kind: str, **fields: Any) -> None:
        self.hooks.event(kind, infohash=self.infohash, **fields)


async def _within(coroutine: Any, timeout: float, what: str, infohash: str | None) -> Any:
    """Await ``coroutine`` for at most ``timeout`` s; past that, :class:`PieceTimeout`."""
    try:
        return await asyncio.wait_for(coroutine, timeout)
    except (asyncio.TimeoutError, TimeoutError) as error:
        if isinstance(error, TorframesError):
            raise
        raise PieceTimeout(f"{what} within {timeout:g} s", infohash=infohash) from None


async def enforce_cache_budget(client: Client, keep: Iterable[str]) -> None:
    """Evict from ``client``'s cache beyond its budget, keeping ``keep`` and its torrents."""
    cache = client.disk_cache
    if cache is None:
        return
    kept = frozenset(keep) | frozenset(client.torrents)
    try:
        await asyncio.to_thread(cache.enforce_budget, kept)
    except (OSError, ValueError) as error:
        log.warning("could not keep the torframes cache within its budget: %s", error)
