"""Piece storage within a byte budget: finished torrents' data is released first.

A service keeps each torrent's pieces in a folder of the client's
``storage_dir`` (``<storage_dir>/<infohash>``). While a job runs, its
folder grows by the pieces it fetches; when the job ends for good its
torrent leaves the session and the folder is *finished*: nothing needs it,
but it is kept (a job resubmitted with other options reads it again for
free) until the budget needs the room. Folders of jobs waiting for a retry
are not finished: their resume data points at them; nor is a folder while
another job on its torrent is queued or running (the service asks the
store before calling :meth:`DiskBudget.finished` or :meth:`DiskBudget.adopt`).

:class:`DiskBudget` counts active torrents by the pieces they hold and
finished folders by the blocks they take on disk. Once over budget it
deletes finished folders, oldest first. A job may start only while active
torrents alone stay under the budget; otherwise it fails with
:class:`~torframes.StorageBudgetExceeded`, which is retried later.

When the service keeps pieces in the persistent cache (:mod:`torframes.cache`),
only that last rule is used, with the cache's ``cache_max_bytes``: the
cache's own least-recently-used eviction releases finished torrents, and
no folder of the cache is adopted or deleted here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from torframes.errors import StorageBudgetExceeded

if TYPE_CHECKING:
    from torframes.torrent.torrent import Torrent

__all__ = ["DiskBudget", "disk_usage"]


def disk_usage(folder: str | os.PathLike[str]) -> int:
    """Bytes the files under ``folder`` take on disk (sparse files count what they hold)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            blocks = getattr(stat, "st_blocks", None)
            total += blocks * 512 if blocks is not None else stat.st_size
    return total


class DiskBudget:
    """Keeps the piece storage of one service within ``budget`` bytes (0: keep nothing finished)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._finished: OrderedDict[str, int] = OrderedDict()
        self._active: dict[int, Torrent] = {}
        self.released = 0

    def __repr__(self) -> str:
        return (
            f"<DiskBudget {self.used:,} of {self.budget:,} bytes: "
            f"{len(self._active)} active, {len(self._finished)} finished>"
        )

    @property
    def active_bytes(self) -> int:
        """Pieces held by torrents of running jobs, in bytes."""
        total = 0
        for torrent in self._active.values():
            if torrent.has_metadata and not torrent.removed:
                total += len(torrent.held_pieces()) * torrent.piece_length
        return total

    @property
    def finished_bytes(self) -> int:
        return sum(self._finished.values())

    @property
    def used(self) -> int:
        return self.active_bytes + self.finished_bytes

    def track(self, job: int, torrent: Torrent) -> None:
        """Count ``torrent`` as the running job ``job``'s."""
        self._active[job] = torrent
        self._finished.pop(torrent.save_path, None)

    def untrack(self, job: int) -> None:
        self._active.pop(job, None)

    def check(self, job: int) -> None:
        """Raise :class:`StorageBudgetExceeded` if active torrents already fill the budget."""
        if self.budget and self.active_bytes >= self.budget:
            raise StorageBudgetExceeded(
                f"piece storage holds {self.active_bytes:,} bytes for running jobs, "
                f"over its budget of {self.budget:,}; job {job} waits"
            )

    async def adopt(self, folders: Iterable[str]) -> None:
        """Count existing folders (of jobs already finished) as finished, measuring them."""
        for folder in folders:
            if folder in self._finished or not await asyncio.to_thread(os.path.isdir, folder):
                continue
            self._finished[folder] = await asyncio.to_thread(disk_usage, folder)
        await self.enforce()

    async def finished(self, folder: str) -> None:
        """``folder``'s torrent left the session for good: keep it while there is room."""
        if self.budget == 0:
            await self._delete(folder)
            return
        self._finished[folder] = await asyncio.to_thread(disk_usage, folder)
        self._finished.move_to_end(folder)
        await self.enforce()

    async def enforce(self, in_use: Iterable[str] = ()) -> None:
        """Delete finished folders, oldest first, until the total is within the budget."""
        busy = set(in_use) | {t.save_path for t in self._active.values()}
        for folder in list(self._finished):
            if self.used <= self.budget:
                return
            if folder in busy:
                continue
            await self._delete(folder)

    async def _delete(self, folder: str) -> None:
        size = self._finished.pop(folder, 0)
        if any(t.save_path == folder for t in self._active.values()):
            return
        await asyncio.to_thread(shutil.rmtree, folder, True)
        self.released += size
