"""What every lab client offers, and :func:`launch`, which starts one.

A client seeds one torrent (BEP 3 metainfo file) from data already on disk,
listens on a loopback address, and reports the payload bytes it uploaded
from its own counter (its RPC, never ours). ``close()`` ends its process and
waits for it; files the caller gave (torrent, content) are left as they are.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Protocol, runtime_checkable

from torframes.testing.lab.clients.process import POLL_INTERVAL, LabError

__all__ = ["CLIENTS", "ClientSeeder", "LabError", "Launch", "launch", "wait_uploaded"]

#: Every client :func:`launch` knows, each in the module named beside it.
CLIENTS = ("libtorrent", "qbittorrent", "transmission", "aria2", "rtorrent", "webtorrent")
_MODULES = {
    "libtorrent": "libtorrent_seed",
    "qbittorrent": "qbittorrent",
    "transmission": "transmission",
    "aria2": "aria2",
    "rtorrent": "rtorrent",
    "webtorrent": "webtorrent",
}

#: How long a client may take to start, check the data and listen (seconds).
START_TIMEOUT = 60.0


@runtime_checkable
class ClientSeeder(Protocol):
    """A running client seeding one torrent on loopback."""

    #: One of :data:`CLIENTS`.
    client: str
    #: Where the client listens for peers: (127.0.0.x, port).
    endpoint: tuple[str, int]

    def uploaded(self) -> int:
        """Payload bytes this client says it uploaded, read from its own counter now."""
        ...

    def close(self) -> None:
        """Stop the client, wait for it, leave no process behind."""
        ...


@dataclass(frozen=True)
class Launch:
    """What :func:`launch` was asked for, handed to the client's module."""

    client: str
    workdir: Path
    torrent: Path
    content_dir: Path
    host: str
    trackers: bool
    dht_bootstrap: tuple[tuple[str, int], ...]
    pieces: frozenset[int] | None

    def torrent_to_load(self) -> Path:
        """The ``.torrent`` the client is given: the original, or without trackers.

        With ``trackers=False`` a copy without ``announce``/``announce-list``
        is written in the workdir; the info dictionary, hence the infohash,
        is untouched (BEP 3, BEP 12).
        """
        if self.trackers:
            return self.torrent
        import libtorrent

        metainfo = libtorrent.bdecode(self.torrent.read_bytes())
        if not isinstance(metainfo, dict):
            raise LabError(f"{self.torrent} is not a bencoded dictionary")
        for key in (b"announce", b"announce-list"):
            metainfo.pop(key, None)
        stripped = self.workdir / f"no-trackers-{self.torrent.name}"
        stripped.write_bytes(libtorrent.bencode(metainfo))
        return stripped

    def handshake_hash(self) -> bytes:
        """The 20-byte infohash peers handshake with: v1, else v2 truncated (BEP 52)."""
        import libtorrent

        hashes = libtorrent.load_torrent_file(str(self.torrent)).ti.info_hashes()
        return bytes(hashes.v1.to_bytes() if hashes.has_v1() else hashes.v2.to_bytes()[:20])

    def refuse_partial(self, reason: str) -> None:
        """Raise :class:`NotImplementedError` when a partial seed was asked for."""
        if self.pieces is not None:
            raise NotImplementedError(f"{self.client} cannot seed only some pieces: {reason}")

    def refuse_dht(self, reason: str) -> None:
        """Raise :class:`NotImplementedError` when DHT nodes were given."""
        if self.dht_bootstrap:
            raise NotImplementedError(f"{self.client} cannot join the lab's DHT: {reason}")


def launch(
    client: str,
    *,
    workdir: Path,
    torrent: Path,
    content_dir: Path,
    host: str = "127.0.0.1",
    trackers: bool = True,
    dht_bootstrap: Sequence[tuple[str, int]] = (),
    pieces: Collection[int] | None = None,
) -> ClientSeeder:
    """Start ``client`` seeding ``torrent`` from ``content_dir``; returns once it listens.

    The data is checked by the client (or, for libtorrent in seed mode,
    before each piece's first upload). ``workdir`` holds the client's
    configuration, state and log (made if missing; the client's alone).
    ``trackers=False``: the client is given the torrent without its
    trackers; with trackers, the torrent is first whitelisted on each
    running lab tracker it names (Debian's opentracker answers only for
    those). ``dht_bootstrap``: loopback DHT nodes to join (clients that
    cannot be kept off public routers raise :class:`NotImplementedError`).
    ``pieces``: seed only these pieces (libtorrent; others raise
    :class:`NotImplementedError` with the reason).
    """
    if client not in CLIENTS:
        raise ValueError(f"client is one of {', '.join(CLIENTS)}, not {client!r}")
    _require_loopback(host)
    for node_host, _ in dht_bootstrap:
        _require_loopback(node_host)
    if not torrent.is_file():
        raise FileNotFoundError(f"no torrent at {torrent}")
    if not content_dir.is_dir():
        raise FileNotFoundError(f"no content folder at {content_dir}")
    workdir.mkdir(parents=True, exist_ok=True)
    spec = Launch(
        client=client,
        workdir=workdir.resolve(),
        torrent=torrent.resolve(),
        content_dir=content_dir.resolve(),
        host=host,
        trackers=trackers,
        dht_bootstrap=tuple((h, int(p)) for h, p in dht_bootstrap),
        pieces=None if pieces is None else frozenset(int(p) for p in pieces),
    )
    if trackers:
        from torframes.testing.lab.clients.tracker import allow_on_lab_trackers

        allow_on_lab_trackers(spec.torrent)
    module = import_module(f"torframes.testing.lab.clients.{_MODULES[client]}")
    return module.start(spec)


def wait_uploaded(seeder: ClientSeeder, expected: int, timeout: float = 30.0) -> int:
    """Poll ``seeder.uploaded()`` until it reaches ``expected`` or ``timeout`` passes; the count.

    Some clients publish their counters on a timer (qBittorrent every 1.5 s,
    rTorrent on its tick): a test waits here, then asserts equality, so an
    over-count shows at once and an under-count after the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        count = seeder.uploaded()
        if count >= expected or time.monotonic() >= deadline:
            return count
        time.sleep(POLL_INTERVAL)  # polling another process's counter: there is no event


def _require_loopback(host: str) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the lab stays on loopback; {host!r} is not a loopback address")
