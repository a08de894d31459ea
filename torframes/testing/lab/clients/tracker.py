"""opentracker (Debian's build) as the lab's tracker: HTTP (BEP 3) and UDP (BEP 15) on 127.0.0.1.

Debian builds opentracker with a whitelist (``WANT_ACCESSLIST_WHITE``): it
answers only for infohashes listed in its whitelist file, so every torrent
is registered with :meth:`Tracker.allow` before anyone announces it
(``launch`` does it for every running lab tracker the torrent names). The
tracker runs as root's ``nobody`` inside a ``chroot`` of its own folder
(``-d``; the whitelist path is then relative to that root) and rereads the
whitelist on SIGHUP. It records each peer at the source address of its
announce (the ``ip`` parameter is ignored).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import urllib.parse
import urllib.request
import weakref
from pathlib import Path

from torframes.testing.lab.clients.base import START_TIMEOUT
from torframes.testing.lab.clients.process import (
    ChildProcess,
    free_port,
    listening,
    tool,
)

__all__ = ["Tracker", "allow_on_lab_trackers", "start_tracker"]

HOST = "127.0.0.1"

#: Running lab trackers by announce URL (HTTP and UDP), for :func:`allow_on_lab_trackers`.
_running: weakref.WeakValueDictionary[str, Tracker] = weakref.WeakValueDictionary()


class Tracker:
    """opentracker on 127.0.0.1: ``http_url`` and ``udp_url`` to put in torrents."""

    def __init__(self, workdir: Path) -> None:
        root = workdir / "opentracker"
        root.mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)  # the tracker reads its whitelist as nobody, inside this root
        self._whitelist = root / "whitelist.txt"
        self._whitelist.write_text("")
        self._whitelist.chmod(0o644)
        self._allowed: set[str] = set()
        port = free_port(HOST)
        udp_port = free_port(HOST, socket.SOCK_DGRAM)
        self.port = port
        self.udp_port = udp_port
        self.http_url = f"http://{HOST}:{port}/announce"
        self.udp_url = f"udp://{HOST}:{udp_port}"
        # As root the tracker chroots into `root`, so the whitelist is "/whitelist.txt".
        whitelist = "/whitelist.txt" if os.geteuid() == 0 else str(self._whitelist)
        self._process = ChildProcess(
            [
                tool("opentracker"),
                *("-i", HOST, "-p", str(port), "-P", str(udp_port)),
                *("-d", str(root), "-w", whitelist),
            ],
            name="opentracker",
            log=workdir / "opentracker.log",
        )
        try:
            self._process.wait_for(
                lambda: True if listening(HOST, port) and _udp_bound(HOST, udp_port) else None,
                timeout=START_TIMEOUT,
                what=f"listening on {HOST}:{port} (TCP) and {udp_port} (UDP)",
            )
        except BaseException:
            self._process.stop()
            raise
        _running[self.http_url] = self
        _running[self.udp_url] = self

    def seeders(self, torrent: Path) -> int:
        """Seeders the tracker lists for ``torrent`` now (HTTP scrape of its first hash)."""
        import libtorrent

        infohash = _tracker_hashes(torrent)[0]
        url = self.http_url.replace("/announce", "/scrape")
        query = urllib.parse.urlencode({"info_hash": infohash})
        with urllib.request.urlopen(f"{url}?{query}", timeout=10) as response:
            answer = libtorrent.bdecode(response.read())
        files = answer.get(b"files", {}) if isinstance(answer, dict) else {}
        return int(files.get(infohash, {}).get(b"complete", 0))

    def wait_seeders(self, torrent: Path, count: int = 1, timeout: float = START_TIMEOUT) -> int:
        """Wait until the tracker lists ``count`` seeders of ``torrent``; the number listed."""
        return self._process.wait_for(
            lambda: n if (n := self.seeders(torrent)) >= count else None,
            timeout=timeout,
            what=f"{count} seeder(s) announced for {torrent.name}",
        )

    def allow(self, torrent: Path) -> None:
        """Whitelist ``torrent``'s infohashes (v1, and v2 truncated to 20 bytes: BEP 52).

        Returns once the tracker answers an announce for each of them.
        """
        new = [h for h in _tracker_hashes(torrent) if h.hex() not in self._allowed]
        if not new:
            return
        self._allowed.update(h.hex() for h in new)
        self._whitelist.write_text("".join(f"{h}\n" for h in sorted(self._allowed)))
        self._process.check_alive()
        os.kill(self._process.pid, signal.SIGHUP)
        for infohash in new:
            self._process.wait_for(
                lambda infohash=infohash: True if self._authorised(infohash) else None,
                timeout=START_TIMEOUT,
                what=f"whitelisting {infohash.hex()}",
            )

    def _authorised(self, infohash: bytes) -> bool:
        """Announce a placeholder peer (port 1) and withdraw it: True if the tracker accepts it."""
        peer_id = b"-LB0001-" + secrets.token_hex(6).encode()
        query = {
            "info_hash": infohash,
            "peer_id": peer_id,
            "port": 1,
            "uploaded": 0,
            "downloaded": 0,
            "left": 0,
            "numwant": 0,
            "compact": 1,
        }
        answers = []
        for event in ("started", "stopped"):
            url = f"{self.http_url}?{urllib.parse.urlencode({**query, 'event': event})}"
            with urllib.request.urlopen(url, timeout=10) as response:
                answers.append(response.read())
        return b"failure reason" not in answers[0]

    def close(self) -> None:
        """Stop the tracker and wait for it."""
        for url in (self.http_url, self.udp_url):
            _running.pop(url, None)
        self._process.stop()


def allow_on_lab_trackers(torrent: Path) -> None:
    """Whitelist ``torrent`` on every running lab tracker its announce URLs name.

    :func:`~torframes.testing.lab.clients.launch` calls it before a client
    announces, so a seeder is never refused by the lab's own tracker.
    """
    import libtorrent

    for url in libtorrent.load_torrent_file(str(torrent)).trackers:
        tracker = _running.get(str(url).rstrip("/"))
        if tracker is not None:
            tracker.allow(torrent)


def _tracker_hashes(torrent: Path) -> list[bytes]:
    """The 20-byte hashes clients announce ``torrent`` with: v1, then v2 truncated (BEP 52)."""
    import libtorrent

    hashes = libtorrent.load_torrent_file(str(torrent)).ti.info_hashes()
    found = []
    if hashes.has_v1():
        found.append(bytes(hashes.v1.to_bytes()))
    if hashes.has_v2():
        found.append(bytes(hashes.v2.to_bytes())[:20])
    return found


def _udp_bound(host: str, port: int) -> bool:
    """True if a UDP socket is bound to ``host:port`` (``/proc/net/udp``)."""
    wanted = f"{int.from_bytes(socket.inet_aton(host), 'little'):08X}:{port:04X}"
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return True  # not Linux: the TCP check has to do
    return any(line.split()[1] == wanted for line in lines if len(line.split()) > 1)


def start_tracker(workdir: Path) -> Tracker:
    """Start opentracker with its files under ``workdir``; returns once it listens."""
    if not workdir.is_dir():
        raise FileNotFoundError(f"no workdir at {workdir}")
    return Tracker(workdir)
