"""One lock per torrent, shared by every process using the cache folder.

An advisory ``flock`` on ``locks/<infohash>.lock`` (``msvcrt.locking`` on
Windows): held while a process opens a torrent (metadata, index probe,
writing the entries), so a second process opening the same torrent waits,
then finds everything cached and fetches nothing. The operating system
releases it when the holder dies, even by ``kill -9``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["TorrentLock", "torrent_lock"]


class TorrentLock:
    """An exclusive lock on one file; :meth:`acquire` blocks, :meth:`try_acquire` does not."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    def acquire(self) -> None:
        fd = self._open()
        try:
            _lock(fd, blocking=True)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def try_acquire(self) -> bool:
        fd = self._open()
        try:
            _lock(fd, blocking=False)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                _unlock(fd)
            os.close(fd)


def _lock(fd: int, *, blocking: bool) -> None:
    if sys.platform == "win32":  # pragma: no cover - not run on the project's CI
        import msvcrt

        mode = msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK
        msvcrt.locking(fd, mode, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))


def _unlock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.asynccontextmanager
async def torrent_lock(path: Path) -> AsyncIterator[TorrentLock]:
    """Hold the lock at ``path`` for the ``async with`` block, waiting in a worker thread.

    If the waiter is cancelled, the lock its thread still acquires is released at once.
    """
    lock = TorrentLock(path)
    waiting = asyncio.ensure_future(asyncio.to_thread(lock.acquire))
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        waiting.add_done_callback(lambda _: lock.release())
        raise
    try:
        yield lock
    finally:
        lock.release()
