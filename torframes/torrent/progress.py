"""A torrent's progress in one cheap snapshot, for progress displays.

:meth:`Torrent.progress <torframes.Torrent.progress>` reads it from
libtorrent's ``torrent_status`` (queried without the piece bitfield or any
other optional part) and from what the :class:`~torframes.Torrent` tracks
itself: which pieces are asked for and which have arrived.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TorrentProgress", "format_bytes"]


@dataclass(frozen=True, slots=True)
class TorrentProgress:
    """Where one torrent stands right now."""

    #: The info dictionary is known (metadata arrived, or came with the source).
    has_metadata: bool
    #: Peers libtorrent knows of (``torrent_status.list_peers``).
    peers_known: int
    #: Peers connected now (``torrent_status.num_peers``).
    peers_connected: int
    #: Pieces asked for and not in yet.
    pieces_wanted: int
    #: Pieces downloaded and verified since the torrent was added.
    pieces_done: int
    #: Payload bytes downloaded (``torrent_status.total_payload_download``).
    bytes_fetched: int

    def describe(self) -> str:
        """One short line: ``peers 1/3, pieces 4/6, 64.0 KiB``."""
        peers = f"peers {self.peers_connected}/{self.peers_known}"
        if not self.has_metadata:
            return f"waiting for metadata, {peers}"
        pieces = f"pieces {self.pieces_done}/{self.pieces_done + self.pieces_wanted}"
        return f"{peers}, {pieces}, {format_bytes(self.bytes_fetched)}"


def format_bytes(count: int) -> str:
    """``count`` bytes in binary units: ``512 B``, ``64.0 KiB``, ``1.5 MiB``."""
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"
