"""Keeping the cache under ``Settings.cache_max_bytes``: least recently used first.

Sizes are what the entries take on disk (allocated blocks: piece storage
is sparse, so a 2 GB file holding ten pieces costs ten pieces). Beyond the
budget, the least recently used torrents lose their pieces first, then
their indexes, then their metadata, until the cache fits. A torrent whose
lock another process holds (it is being opened) and the torrents named in
``keep`` (open in this process) are left alone.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from torframes.cache.layout import CacheLayout
from torframes.cache.locking import TorrentLock

__all__ = ["EntrySizes", "disk_usage", "enforce_budget", "entry_sizes", "last_used", "touch"]


def disk_usage(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (a file or a folder), 0 if absent."""
    try:
        if path.is_file():
            return _allocated(path)
    except OSError:
        return 0
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                total += _allocated(Path(folder) / name)
            except OSError:
                continue
    return total


def _allocated(path: Path) -> int:
    stat = path.stat()
    blocks = getattr(stat, "st_blocks", None)
    return stat.st_size if blocks is None else blocks * 512


@dataclass(frozen=True)
class EntrySizes:
    """Bytes one torrent's entries take on disk."""

    metadata: int
    index: int
    pieces: int

    @property
    def total(self) -> int:
        return self.metadata + self.index + self.pieces


def entry_sizes(layout: CacheLayout, infohash: str) -> EntrySizes:
    return EntrySizes(
        metadata=disk_usage(layout.metadata_path(infohash)),
        index=disk_usage(layout.index_dir(infohash)),
        pieces=disk_usage(layout.pieces_dir(infohash)),
    )


def touch(layout: CacheLayout, infohash: str) -> None:
    """Mark ``infohash`` as used now."""
    path = layout.used_path(infohash)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def last_used(layout: CacheLayout, infohash: str) -> float:
    """When ``infohash`` was last opened (seconds since the epoch), 0 if never recorded."""
    try:
        return layout.used_path(infohash).stat().st_mtime
    except OSError:
        return 0.0


def enforce_budget(layout: CacheLayout, max_bytes: int, keep: frozenset[str] = frozenset()) -> int:
    """Evict least recently used entries until the cache takes at most ``max_bytes``.

    Returns the bytes the cache takes after eviction.
    """
    infohashes = sorted(layout.cached_infohashes(), key=lambda h: last_used(layout, h))
    sizes = {h: entry_sizes(layout, h) for h in infohashes}
    total = sum(s.total for s in sizes.values())
    if total <= max_bytes:
        return total
    evictable = [h for h in infohashes if h not in keep]
    for part in ("pieces", "index", "metadata"):
        for infohash in evictable:
            if total <= max_bytes:
                return total
            size = getattr(sizes[infohash], part)
            if not size:
                continue
            lock = TorrentLock(layout.lock_path(infohash))
            if not lock.try_acquire():
                continue
            try:
                if part == "pieces":
                    shutil.rmtree(layout.pieces_dir(infohash), ignore_errors=True)
                elif part == "index":
                    shutil.rmtree(layout.index_dir(infohash), ignore_errors=True)
                else:
                    shutil.rmtree(layout.torrent_dir(infohash), ignore_errors=True)
            finally:
                lock.release()
            total -= size
    return total
