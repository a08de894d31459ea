"""The persistent cache as one object: what :class:`~torframes.Client` and ``open`` use.

See :mod:`torframes.cache.layout` for the folder's layout. Blocking file
work is done by the callers in worker threads (``asyncio.to_thread``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from torframes.cache.budget import enforce_budget, entry_sizes, last_used, touch
from torframes.cache.indexes import load_probe, save_probe
from torframes.cache.layout import CacheLayout, check_infohash
from torframes.cache.locking import TorrentLock, torrent_lock
from torframes.cache.metadata import load_metadata, save_metadata

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    import libtorrent

    from torframes.api.probe import Probe
    from torframes.plan.pieces import PieceGeometry
    from torframes.settings import Settings

__all__ = ["CACHE_COLUMNS", "Cache"]

#: Columns of :meth:`Cache.table` (``torframes cache list``, ``tf.cache_info()``).
CACHE_COLUMNS = {
    "infohash": "string",
    "name": "string",
    "indexes": "int64",
    "metadata_bytes": "int64",
    "index_bytes": "int64",
    "piece_bytes": "int64",
    "total_bytes": "int64",
    "last_used": "datetime64[ns, UTC]",
}


class Cache:
    """The cache folder ``root`` with a byte budget."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.layout = CacheLayout(Path(root))
        self.max_bytes = max_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Cache | None:
        """The cache the settings name, or None when ``settings.cache`` is False."""
        if not settings.cache:
            return None
        return cls(settings.cache_dir, settings.cache_max_bytes)

    @property
    def root(self) -> Path:
        return self.layout.root

    def key(self, infohash: str) -> str:
        """The folder name of ``infohash`` (a hybrid torrent's v2 hash leads to its v1 folder)."""
        return self.layout.resolve(infohash)

    def lock(self, infohash: str) -> AbstractAsyncContextManager[TorrentLock]:
        """The torrent's cross-process lock, as ``async with``."""
        return torrent_lock(self.layout.lock_path(self.key(infohash)))

    def pieces_dir(self, infohash: str) -> Path:
        return self.layout.pieces_dir(self.key(infohash))

    # -- entries ------------------------------------------------------------------------------

    def load_metadata(self, infohash: str) -> libtorrent.torrent_info | None:
        return load_metadata(self.layout, infohash)

    def save_metadata(self, info: libtorrent.torrent_info) -> str:
        key = save_metadata(self.layout, info)
        touch(self.layout, key)
        return key

    def load_probe(self, infohash: str, file_index: int, geometry: PieceGeometry) -> Probe | None:
        return load_probe(self.layout, infohash, file_index, geometry)

    def save_probe(
        self, infohash: str, file_index: int, geometry: PieceGeometry, probe: Probe
    ) -> None:
        save_probe(self.layout, self.key(infohash), file_index, geometry, probe)

    def touch(self, infohash: str) -> None:
        touch(self.layout, self.key(infohash))

    def enforce_budget(self, keep: frozenset[str] = frozenset()) -> int:
        """Evict least recently used entries beyond the budget; the bytes kept."""
        return enforce_budget(self.layout, self.max_bytes, frozenset(map(self.key, keep)))

    # -- inspection ---------------------------------------------------------------------------

    def table(self) -> pd.DataFrame:
        """One row per cached torrent, most recently used first; see :data:`CACHE_COLUMNS`."""
        rows = []
        for infohash in self.layout.cached_infohashes():
            sizes = entry_sizes(self.layout, infohash)
            info = self.load_metadata(infohash)
            index_dir = self.layout.index_dir(infohash)
            indexes = len(list(index_dir.glob("*.json"))) if index_dir.is_dir() else 0
            rows.append(
                {
                    "infohash": infohash,
                    "name": None if info is None else info.name(),
                    "indexes": indexes,
                    "metadata_bytes": sizes.metadata,
                    "index_bytes": sizes.index,
                    "piece_bytes": sizes.pieces,
                    "total_bytes": sizes.total,
                    "last_used": pd.Timestamp(last_used(self.layout, infohash), unit="s", tz="UTC"),
                }
            )
        table = pd.DataFrame(rows, columns=list(CACHE_COLUMNS))
        table = table.astype(CACHE_COLUMNS)
        return table.sort_values("last_used", ascending=False, kind="stable").reset_index(drop=True)

    def clear(self, infohash: str | None = None) -> int:
        """Delete one torrent's entries (v1 or v2 hex), or all; returns how many torrents.

        A torrent being opened by another process (its lock held) is skipped.
        """
        if infohash is None:
            targets = self.layout.cached_infohashes()
        else:
            key = self.key(check_infohash(infohash))
            targets = [key] if self.layout.torrent_dir(key).is_dir() else []
        cleared = 0
        for key in targets:
            lock = TorrentLock(self.layout.lock_path(key))
            if not lock.try_acquire():
                continue
            try:
                shutil.rmtree(self.layout.torrent_dir(key), ignore_errors=True)
            finally:
                lock.release()
            cleared += 1
        if infohash is None:
            shutil.rmtree(self.layout.root / "aliases", ignore_errors=True)
        return cleared
