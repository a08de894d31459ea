"""Where the persistent cache keeps each torrent's entries: names from infohashes only.

::

    <cache_dir>/
      torrents/<infohash>/            one folder per torrent (v1 hex, else v2 hex)
        metadata.torrent              the info dictionary (and the cache format version)
        index/<file>.json             a parsed index's manifest (version, checksums, ranges)
        index/<file>.samples.parquet  its tables
        index/<file>.tracks.parquet
        pieces/<file>                 libtorrent's storage: each file named by its index
        used                          touched at every open (least recently used first)
      aliases/<infohash>              a hybrid torrent's other infohash → the folder's name
      locks/<infohash>.lock           one lock per torrent, shared by every process

Nothing from the torrent's own paths appears in a name on disk: libtorrent's
files are renamed to their file index before anything is written
(:func:`storage_names`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FORMAT_VERSION", "CacheLayout", "check_infohash", "storage_names"]

#: Version of every cache entry's format; an entry of another version is rebuilt, never read.
FORMAT_VERSION = 2  # 2: the Matroska locator as JSON data, not a pickle

_INFOHASH = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def check_infohash(infohash: str) -> str:
    """``infohash`` in lower-case hex; ValueError unless 40 (v1) or 64 (v2) hex digits."""
    value = infohash.strip().lower()
    if not _INFOHASH.fullmatch(value):
        raise ValueError(f"{infohash!r} is not an infohash (40 or 64 hex digits)")
    return value


def storage_names(num_files: int) -> dict[int, str]:
    """The name each of a torrent's files is stored under: its index, nothing else."""
    return {index: str(index) for index in range(num_files)}


@dataclass(frozen=True)
class CacheLayout:
    """Paths of the cache folder ``root``; creates nothing by itself."""

    root: Path

    @property
    def torrents(self) -> Path:
        return self.root / "torrents"

    def torrent_dir(self, infohash: str) -> Path:
        return self.torrents / check_infohash(infohash)

    def metadata_path(self, infohash: str) -> Path:
        return self.torrent_dir(infohash) / "metadata.torrent"

    def index_dir(self, infohash: str) -> Path:
        return self.torrent_dir(infohash) / "index"

    def pieces_dir(self, infohash: str) -> Path:
        return self.torrent_dir(infohash) / "pieces"

    def used_path(self, infohash: str) -> Path:
        return self.torrent_dir(infohash) / "used"

    def alias_path(self, infohash: str) -> Path:
        return self.root / "aliases" / check_infohash(infohash)

    def lock_path(self, infohash: str) -> Path:
        return self.root / "locks" / f"{check_infohash(infohash)}.lock"

    def resolve(self, infohash: str) -> str:
        """The folder name holding ``infohash``'s entries: itself, or what its alias names."""
        infohash = check_infohash(infohash)
        if self.torrent_dir(infohash).is_dir():
            return infohash
        try:
            target = self.alias_path(infohash).read_text("ascii").strip()
            return check_infohash(target)
        except (OSError, ValueError, UnicodeDecodeError):
            return infohash

    def cached_infohashes(self) -> list[str]:
        """The torrents with a folder in the cache."""
        if not self.torrents.is_dir():
            return []
        found = []
        for child in self.torrents.iterdir():
            if child.is_dir() and _INFOHASH.fullmatch(child.name):
                found.append(child.name)
        return sorted(found)
