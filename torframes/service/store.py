"""The job store: jobs, attempts and screenshots in SQLite (stdlib ``sqlite3``, WAL).

Everything a batch must not lose lives here, so a process killed with
SIGKILL can be started again over the same file and go on where it stopped:

- ``jobs``: one row per job: source, options (JSON), status (``queued``,
  ``running``, ``done``, ``failed``) and phase, attempts and retries, when
  it may run again (``not_before``), who holds it (``lease_owner``,
  ``lease_expires``), what it found (infohash, name, file), its last error
  (class name and message), bytes fetched, piece floor, frames, time spent,
  libtorrent resume data (and the storage folder it belongs to) and where
  the keyframe table went;
- ``attempts``: one row per attempt: who ran it, when, and how it ended
  (``done``, ``failed``, ``retry``, ``released``: put back at shutdown,
  ``interrupted``: its process died, ``lost``: its lease was taken);
- ``screenshots``: every image written, by job.

**Claiming.** :meth:`JobStore.claim` runs in one ``BEGIN IMMEDIATE``
transaction, which takes SQLite's write lock before reading, so two
services sharing a store (threads or processes) serialise their claims and
never take the same job. A claim is a lease: an owner (see :func:`new_owner`:
host, PID and what makes the PID unambiguous) and an expiry the service
renews while it works. A job whose lease expired is taken again; one whose
owner was a process in this kernel boot and PID namespace that no longer
exists (:func:`owner_is_dead`) is taken again at once. Every later write names the owner and
changes nothing (returns False) once the lease was lost, so a job is never
finished by two owners. Two jobs on the same torrent are never claimed at
once (they would share its storage).

Methods block: the service calls them through ``asyncio.to_thread``. One
connection per store, guarded by a lock; WAL lets readers (a test, a
progress display) look at the file while a batch writes it.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torframes.service.jobs import JobOptions, SourceSpec

__all__ = ["RESULT_FIELDS", "ClaimedJob", "JobStore", "LeaseLost", "new_owner", "owner_is_dead"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    source_data BLOB,
    options TEXT NOT NULL,
    torrent_key TEXT,
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed')),
    phase TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL,
    lease_owner TEXT,
    lease_expires REAL,
    infohash TEXT,
    name TEXT,
    file TEXT,
    error_kind TEXT,
    error TEXT,
    bytes_fetched INTEGER NOT NULL DEFAULT 0,
    piece_floor INTEGER NOT NULL DEFAULT 0,
    frames INTEGER NOT NULL DEFAULT 0,
    frames_total INTEGER,
    elapsed_s REAL NOT NULL DEFAULT 0,
    resume_data BLOB,
    resume_dir TEXT,
    keyframes_path TEXT,
    submitted_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_runnable ON jobs (status, not_before, id);
CREATE INDEX IF NOT EXISTS jobs_torrent ON jobs (torrent_key, status);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (lease_owner, status);
CREATE TABLE IF NOT EXISTS attempts (
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    number INTEGER NOT NULL,
    owner TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    outcome TEXT,
    error_kind TEXT,
    error TEXT,
    PRIMARY KEY (job_id, number)
);
CREATE TABLE IF NOT EXISTS screenshots (
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    path TEXT NOT NULL,
    time REAL NOT NULL,
    PRIMARY KEY (job_id, path)
);
"""

# A job may run when it is queued and due, or running under an expired lease;
# and no other job on the same torrent is running under a live lease.
_CLAIM = """
SELECT * FROM jobs AS j
WHERE ((j.status = 'queued' AND j.not_before <= :now)
       OR (j.status = 'running' AND j.lease_expires < :now))
  AND (j.torrent_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM jobs AS r
        WHERE r.torrent_key = j.torrent_key AND r.id != j.id
          AND r.status = 'running' AND r.lease_expires >= :now))
ORDER BY j.not_before, j.id
LIMIT 1
"""

#: Columns :meth:`JobStore.progress` may set.
_PROGRESS_COLUMNS = frozenset(
    {
        "phase",
        "infohash",
        "name",
        "file",
        "bytes_fetched",
        "piece_floor",
        "frames",
        "frames_total",
        "elapsed_s",
        "resume_data",
        "resume_dir",
        "keyframes_path",
    }
)

#: Columns of :meth:`JobStore.results`, in order.
RESULT_FIELDS = (
    "id",
    "source",
    "infohash",
    "name",
    "file",
    "status",
    "error_kind",
    "error",
    "attempts",
    "bytes_fetched",
    "piece_floor",
    "frames",
    "elapsed_s",
)


def new_owner() -> str:
    """A lease owner name for this process: ``host|pid|random|boot id|pid namespace|start``.

    The last three (Linux ``/proc``; empty elsewhere) say which process the
    PID names: the kernel's boot, the PID namespace the number belongs to
    and the process's start time in clock ticks since boot (``stat`` field
    22, proc(5)). Together they cannot name another process, in another
    container or after the PID was reused.
    """
    pid = os.getpid()
    identity = (_boot_id(), _pid_namespace(), _start_time(pid) or "")
    return "|".join((socket.gethostname(), str(pid), uuid.uuid4().hex[:12], *identity))


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _boot_id() -> str:
    """This kernel boot's random id (proc(5) ``/proc/sys/kernel/random/boot_id``); '' if none."""
    return _read("/proc/sys/kernel/random/boot_id") or ""


def _pid_namespace() -> str:
    """The PID namespace this process's PIDs are numbered in, e.g. ``pid:[4026531836]``."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` from field 3 (state) on; None if there is no such process."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    return stat.rpartition(")")[2].split()  # the name (field 2) may hold spaces


def _start_time(pid: int) -> str | None:
    """When ``pid`` started, in clock ticks after boot (proc(5) field 22); None if gone."""
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def owner_is_dead(owner: str) -> bool:
    """True only when ``owner`` was a process this one can see, and it no longer runs.

    That is: the same host name, kernel boot and PID namespace as this
    process, and no process with that PID and start time (gone, a zombie,
    or the PID reused). Anything else (another host or container sharing
    the host name, an owner name without the identity, this process) is
    never declared dead: its lease runs out instead.
    """
    parts = owner.split("|")
    if len(parts) != 6 or not parts[1].isdigit():
        return False
    host, pid_text, _, boot, namespace, start = parts
    if host != socket.gethostname() or not boot or not namespace or not start:
        return False
    if boot != _boot_id() or namespace != _pid_namespace():
        return False
    fields = _stat_fields(int(pid_text))
    if fields is None:
        return True
    if fields[:1] == ["Z"]:  # a zombie (killed, not yet reaped) is as dead as it gets
        return True
    return len(fields) > 19 and fields[19] != start


@dataclass(frozen=True)
class ClaimedJob:
    """A job as claimed for one attempt."""

    id: int
    key: str
    source: SourceSpec
    options: JobOptions
    #: This attempt's number (1 for the first).
    attempt: int
    #: Retryable failures before this attempt.
    retries: int
    #: True when the previous attempt's process died mid-way (storage may hold
    #: pieces the resume data does not know).
    interrupted: bool
    resume_data: bytes | None
    resume_dir: str | None
    #: Totals of earlier attempts.
    bytes_fetched: int
    elapsed_s: float
    frames: int
    infohash: str | None


class LeaseLost(Exception):
    """This owner's claim on a job expired and may have been taken by another."""


class JobStore:
    """A job store in one SQLite file (``":memory:"``: in memory, for one process)."""

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *, timeout: float = 60.0):
        self.path = os.fspath(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a commit survives the process being killed (not a power cut)
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            with self._transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        self._closed = False

    def __repr__(self) -> str:
        return f"<JobStore {self.path}>"

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- transactions ---------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    # -- submitting -----------------------------------------------------------------

    def add(
        self, jobs: Iterable[tuple[str, SourceSpec, JobOptions, str | None]]
    ) -> list[tuple[int, bool]]:
        """Insert jobs ``(key, source, options, torrent_key)`` not already there.

        Returns ``(id, created)`` for each, in order; a key already in the
        store keeps its row (and its state) as it is.
        """
        now = time.time()
        out: list[tuple[int, bool]] = []
        with self._lock, self._transaction():
            for key, source, options, torrent in jobs:
                cursor = self._conn.execute(
                    "INSERT OR IGNORE INTO jobs (key, source, source_data, options, torrent_key,"
                    " not_before, submitted_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, source.text, source.data, options.to_json(), torrent, now, now, now),
                )
                created = cursor.rowcount == 1
                row = self._conn.execute("SELECT id FROM jobs WHERE key = ?", (key,)).fetchone()
                out.append((int(row["id"]), created))
        return out

    # -- claiming -------------------------------------------------------------------

    def claim(self, owner: str, lease: float) -> ClaimedJob | None:
        """Take the next job that may run, for ``lease`` seconds; None if there is none."""
        now = time.time()
        with self._lock, self._transaction():
            self._expire_dead_owners(now)
            row = self._conn.execute(_CLAIM, {"now": now}).fetchone()
            if row is None:
                return None
            interrupted = row["status"] == "running"
            if interrupted:
                self._conn.execute(
                    "UPDATE attempts SET ended_at = ?, outcome = 'interrupted'"
                    " WHERE job_id = ? AND ended_at IS NULL",
                    (now, row["id"]),
                )
            attempt = int(row["attempts"]) + 1
            self._conn.execute(
                "UPDATE jobs SET status = 'running', phase = 'claimed', attempts = ?,"
                " lease_owner = ?, lease_expires = ?, started_at = COALESCE(started_at, ?),"
                " updated_at = ? WHERE id = ?",
                (attempt, owner, now + lease, now, now, row["id"]),
            )
            self._conn.execute(
                "INSERT INTO attempts (job_id, number, owner, started_at) VALUES (?, ?, ?, ?)",
                (row["id"], attempt, owner, now),
            )
        return ClaimedJob(
            id=int(row["id"]),
            key=row["key"],
            source=SourceSpec(row["source"], row["source_data"]),
            options=JobOptions.from_json(row["options"]),
            attempt=attempt,
            retries=int(row["retries"]),
            interrupted=interrupted,
            resume_data=row["resume_data"],
            resume_dir=row["resume_dir"],
            bytes_fetched=int(row["bytes_fetched"]),
            elapsed_s=float(row["elapsed_s"]),
            frames=int(row["frames"]),
            infohash=row["infohash"],
        )

    def _expire_dead_owners(self, now: float) -> None:
        """Let the jobs of owners that died on this host be taken at once.

        Nothing is remembered between calls: a dead owner's leases are
        expired here, so it is not among the live owners again.
        """
        owners = self._conn.execute(
            "SELECT DISTINCT lease_owner FROM jobs WHERE status = 'running' AND lease_expires >= ?",
            (now,),
        ).fetchall()
        for (owner,) in owners:
            if owner_is_dead(owner):
                self._conn.execute(
                    "UPDATE jobs SET lease_expires = 0"
                    " WHERE lease_owner = ? AND status = 'running'",
                    (owner,),
                )

    def renew(self, owner: str, lease: float) -> int:
        """Extend every lease ``owner`` holds; returns how many jobs it holds."""
        now = time.time()
        with self._lock, self._transaction():
            cursor = self._conn.execute(
                "UPDATE jobs SET lease_expires = ? WHERE lease_owner = ? AND status = 'running'"
                " AND lease_expires >= ?",
                (now + lease, owner, now),
            )
            return cursor.rowcount

    def next_due(self) -> float | None:
        """When (``time.time()``) a job not runnable now may become so; None if never."""
        row = self._fetch(
            "SELECT MIN(t) FROM ("
            " SELECT MIN(not_before) AS t FROM jobs WHERE status = 'queued'"
            " UNION ALL SELECT MIN(lease_expires) FROM jobs WHERE status = 'running')"
        )[0]
        return None if row[0] is None else float(row[0])

    # -- while running ----------------------------------------------------------------

    def progress(self, job_id: int, owner: str, **values: Any) -> None:
        """Record how far the job got. Raises :class:`LeaseLost` if ``owner`` no longer holds it."""
        unknown = set(values) - _PROGRESS_COLUMNS
        if unknown:
            raise ValueError(f"not progress columns: {sorted(unknown)}")
        with self._lock, self._transaction():
            self._update_owned(job_id, owner, values)

    def record_frame(
        self, job_id: int, owner: str, path: str, time_s: float, **values: Any
    ) -> None:
        """Record one screenshot written, with progress ``values`` (``frames``...)."""
        with self._lock, self._transaction():
            self._update_owned(job_id, owner, values)
            self._conn.execute(
                "INSERT OR REPLACE INTO screenshots (job_id, path, time) VALUES (?, ?, ?)",
                (job_id, path, time_s),
            )

    def _update_owned(self, job_id: int, owner: str, values: dict[str, Any]) -> None:
        values = {**values, "updated_at": time.time()}
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        cursor = self._conn.execute(
            f"UPDATE jobs SET {assignments} WHERE id = :_id AND lease_owner = :_owner"
            " AND status = 'running'",
            {**values, "_id": job_id, "_owner": owner},
        )
        if cursor.rowcount != 1:
            raise LeaseLost(f"job {job_id} is no longer held by {owner}")

    def finish(
        self,
        job_id: int,
        owner: str,
        attempt: int,
        *,
        outcome: str,
        error_kind: str | None = None,
        error: str | None = None,
        delay: float = 0.0,
        **values: Any,
    ) -> bool:
        """End an attempt; returns False (and changes nothing) if the lease was lost.

        ``outcome``: ``done`` and ``failed`` are final; ``retry`` puts the job
        back after ``delay`` s with one retry more; ``released`` puts it back
        at once (shutdown), not counting as a retry.
        """
        now = time.time()
        if outcome not in ("done", "failed", "retry", "released"):
            raise ValueError(f"unknown outcome {outcome!r}")
        unknown = set(values) - _PROGRESS_COLUMNS
        if unknown:
            raise ValueError(f"not progress columns: {sorted(unknown)}")
        job: dict[str, Any] = {**values, "updated_at": now, "lease_owner": None}
        job["lease_expires"] = None
        if outcome in ("done", "failed"):
            job.update(status=outcome, phase=outcome, finished_at=now, resume_data=None)
            job.update(error_kind=error_kind, error=error)
        else:
            job.update(status="queued", phase="queued", not_before=now + delay)
            if outcome == "retry":
                job.update(error_kind=error_kind, error=error)
        assignments = ", ".join(f"{name} = :{name}" for name in job)
        extra = ", retries = retries + 1" if outcome == "retry" else ""
        with self._lock, self._transaction():
            cursor = self._conn.execute(
                f"UPDATE jobs SET {assignments}{extra} WHERE id = :_id AND lease_owner = :_owner"
                " AND status = 'running'",
                {**job, "_id": job_id, "_owner": owner},
            )
            held = cursor.rowcount == 1
            self._conn.execute(
                "UPDATE attempts SET ended_at = ?, outcome = ?, error_kind = ?, error = ?"
                " WHERE job_id = ? AND number = ? AND owner = ? AND ended_at IS NULL",
                (now, outcome if held else "lost", error_kind, error, job_id, attempt, owner),
            )
        return held

    # -- reading --------------------------------------------------------------------

    def _fetch(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def results(self, ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """One dict per job (:data:`RESULT_FIELDS`), in ``ids`` order or by id."""
        columns = ", ".join(RESULT_FIELDS)
        with self._lock:
            if ids is None:
                rows = self._conn.execute(f"SELECT {columns} FROM jobs ORDER BY id").fetchall()
                return [dict(row) for row in rows]
            found: dict[int, dict[str, Any]] = {}
            for chunk in _chunks(list(dict.fromkeys(ids)), 500):
                marks = ", ".join("?" * len(chunk))
                for row in self._conn.execute(
                    f"SELECT {columns} FROM jobs WHERE id IN ({marks})", chunk
                ):
                    found[int(row["id"])] = dict(row)
        return [found[i] for i in dict.fromkeys(ids) if i in found]

    def unfinished(self, ids: Sequence[int] | None = None) -> int:
        """How many of ``ids`` (default: all jobs) are not done or failed."""
        with self._lock:
            if ids is None:
                row = self._conn.execute(
                    "SELECT COUNT(*) FROM jobs WHERE status NOT IN ('done', 'failed')"
                ).fetchone()
                return int(row[0])
            total = 0
            for chunk in _chunks(list(dict.fromkeys(ids)), 500):
                marks = ", ".join("?" * len(chunk))
                row = self._conn.execute(
                    f"SELECT COUNT(*) FROM jobs WHERE id IN ({marks})"
                    " AND status NOT IN ('done', 'failed')",
                    chunk,
                ).fetchone()
                total += int(row[0])
            return total

    def job(self, job_id: int) -> dict[str, Any] | None:
        """Every column of one job (resume data left out)."""
        rows = self._fetch("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            return None
        out = dict(rows[0])
        out.pop("resume_data", None)
        return out

    def attempts(self, job_id: int | None = None) -> list[dict[str, Any]]:
        """Attempt rows, of one job or all, in order."""
        if job_id is None:
            rows = self._fetch("SELECT * FROM attempts ORDER BY job_id, number")
        else:
            rows = self._fetch("SELECT * FROM attempts WHERE job_id = ? ORDER BY number", (job_id,))
        return [dict(row) for row in rows]

    def screenshot_times(self, job_id: int) -> list[tuple[str, float]]:
        """``(path, time)`` of the images written for a job, in time order."""
        rows = self._fetch(
            "SELECT path, time FROM screenshots WHERE job_id = ? ORDER BY time, path", (job_id,)
        )
        return [(row[0], float(row[1])) for row in rows]

    def screenshots(self, job_id: int) -> list[str]:
        """Paths of the images written for a job, in time order."""
        rows = self._fetch(
            "SELECT path FROM screenshots WHERE job_id = ? ORDER BY time, path", (job_id,)
        )
        return [row[0] for row in rows]

    def infohashes(self, statuses: Iterable[str]) -> set[str]:
        """Infohashes of jobs in these statuses."""
        wanted = list(statuses)
        marks = ", ".join("?" * len(wanted))
        rows = self._fetch(
            f"SELECT DISTINCT infohash FROM jobs WHERE status IN ({marks})"
            " AND infohash IS NOT NULL",
            wanted,
        )
        return {row[0] for row in rows}

    def counts(self) -> dict[str, int]:
        """Jobs per status."""
        rows = self._fetch("SELECT status, COUNT(*) FROM jobs GROUP BY status")
        counts = dict.fromkeys(("queued", "running", "done", "failed"), 0)
        counts.update({row[0]: int(row[1]) for row in rows})
        return counts


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on error.

    Every write transaction takes the write lock first: a deferred one that
    read first could not wait for the lock (SQLite answers "database is
    locked" at once when a read transaction must become a write one).
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
