"""The torrent layer: a libtorrent session driven from asyncio, fetching only pieces asked for.

Modules, one job each:

* ``client``  — :class:`Client`, the session, routing alerts to torrents;
* ``torrent`` — :class:`Torrent`, metadata, files, fetching and reading pieces;
* ``alerts``  — the alert pump (``set_alert_fd`` + ``loop.add_reader``);
* ``sources`` — magnet / infohash / ``.torrent`` → libtorrent add parameters;
* ``files``   — the files table and piece layout from libtorrent's file storage;
* ``pieces``  — pure byte-range ↔ piece arithmetic;
* ``cache``   — an LRU of piece bytes bounded by size;
* ``stats``   — :class:`TorrentStats`, what fetching cost;
* ``wire``    — block-level reads over the peer wire, below the piece floor (issue 16).
"""

from torframes.torrent.client import Client
from torframes.torrent.files import FileEntry, FileLayout
from torframes.torrent.stats import TorrentStats
from torframes.torrent.torrent import Torrent

__all__ = ["Client", "FileEntry", "FileLayout", "Torrent", "TorrentStats"]
