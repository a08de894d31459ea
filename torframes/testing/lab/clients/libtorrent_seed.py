"""libtorrent as a lab seeder: :class:`~torframes.testing.swarm.LocalSwarm`'s session.

The session is the one :class:`LocalSwarm` opens (loopback only, DHT, LSD,
UPnP, NAT-PMP and uTP off, every peer unchoked); the torrent is the given
``.torrent`` (v1, v2 or hybrid) over the given data instead of one the swarm
makes. A full seed is added in seed mode (libtorrent hashes each piece
before its first upload); a partial seed starts empty and is given only its
pieces with ``add_piece``, read from the content folder, every other piece
at priority 0 so it never downloads. With DHT nodes, the session joins them
with the private-DHT settings of LIBTORRENT-NOTES (no default router).
The upload counter is ``torrent_status.total_payload_upload``.
"""

from __future__ import annotations

import os
import time

from torframes.testing.lab.clients.base import START_TIMEOUT, Launch
from torframes.testing.lab.clients.process import LabError
from torframes.testing.swarm import LocalSwarm

__all__ = ["LibtorrentSeeder", "start"]

#: Seconds after which pieces given to a partial seed and not taken yet are given again.
READD_AFTER = 2.0


class LibtorrentSeeder:
    """One in-process libtorrent session seeding one torrent."""

    client = "libtorrent"

    def __init__(self, spec: Launch) -> None:
        import libtorrent

        self._swarm = LocalSwarm(host=spec.host, timeout=START_TIMEOUT).start()
        try:
            # LocalSwarm is this package's own seeder; its session is reused as it is.
            session = self._swarm._live()
            if spec.dht_bootstrap:
                session.apply_settings(
                    {
                        "enable_dht": True,
                        "dht_bootstrap_nodes": ",".join(f"{h}:{p}" for h, p in spec.dht_bootstrap),
                        "dht_restrict_routing_ips": False,
                        "dht_restrict_search_ips": False,
                        "dht_ignore_dark_internet": False,
                        "dht_prefer_verified_node_ids": False,
                    }
                )
            params = libtorrent.load_torrent_file(os.fspath(spec.torrent))
            if not spec.trackers:
                params.trackers = []
                params.tracker_tiers = []
            params.flags &= ~libtorrent.torrent_flags.auto_managed
            params.flags &= ~libtorrent.torrent_flags.paused
            info = params.ti
            if spec.pieces is None:
                params.save_path = os.fspath(spec.content_dir)
                params.flags |= libtorrent.torrent_flags.seed_mode
            else:
                wrong = sorted(p for p in spec.pieces if not 0 <= p < info.num_pieces())
                if wrong:
                    raise ValueError(f"pieces {wrong} not in 0..{info.num_pieces() - 1}")
                storage = spec.workdir / "libtorrent-partial"
                storage.mkdir(exist_ok=True)
                params.save_path = os.fspath(storage)
                params.piece_priorities = [0] * info.num_pieces()
            self.handle = session.add_torrent(params)
            if spec.pieces is None:
                self._swarm._wait_seeding(self.handle)
            else:
                self._add_pieces(spec, info)
            self.endpoint = (spec.host, self._swarm.port)
        except BaseException:
            self._swarm.close()
            raise

    def _add_pieces(self, spec: Launch, info: object) -> None:
        """Give the partial seed its pieces from the content folder; wait until it has them."""
        for piece in sorted(spec.pieces or ()):
            self.handle.add_piece(piece, _read_piece(spec, info, piece), 0)
        deadline = time.monotonic() + START_TIMEOUT
        again = time.monotonic() + READD_AFTER
        while missing := [p for p in spec.pieces or () if not self.handle.have_piece(p)]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LabError(f"libtorrent did not take pieces {missing}")
            if time.monotonic() >= again:
                # a piece given while the new torrent was still being checked can be lost
                for piece in missing:
                    self.handle.add_piece(piece, _read_piece(spec, info, piece), 0)
                again = time.monotonic() + READD_AFTER
            self._swarm._wait_for_alert(min(remaining, 0.05))

    def uploaded(self) -> int:
        """``total_payload_upload``: payload bytes sent, read fresh from the session."""
        if self._final is not None:
            return self._final
        return int(self.handle.status().total_payload_upload)

    _final: int | None = None

    def close(self) -> None:
        """End the session; :meth:`uploaded` keeps answering with the last count."""
        if self._final is None:
            self._final = int(self.handle.status().total_payload_upload)
        self._swarm.close()


def _read_piece(spec: Launch, info: object, piece: int) -> bytes:
    """Piece ``piece``'s bytes from the files under the content folder (pad files as zeros)."""
    import libtorrent

    size = info.piece_size(piece)  # type: ignore[attr-defined]
    files = info.layout()  # type: ignore[attr-defined]
    parts = []
    for slice_ in info.map_block(piece, 0, size):  # type: ignore[attr-defined]
        if files.file_flags(slice_.file_index) & libtorrent.file_storage.flag_pad_file:
            parts.append(bytes(slice_.size))
            continue
        path = spec.content_dir / files.file_path(slice_.file_index)
        with path.open("rb") as stored:
            stored.seek(slice_.offset)
            data = stored.read(slice_.size)
        if len(data) != slice_.size:
            raise LabError(f"{path} is shorter than the torrent says")
        parts.append(data)
    return b"".join(parts)


def start(spec: Launch) -> LibtorrentSeeder:
    return LibtorrentSeeder(spec)
