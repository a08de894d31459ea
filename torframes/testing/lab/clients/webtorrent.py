"""WebTorrent 3 (node) as a lab seeder.

WebTorrent is installed from npm by ``.ci/run`` (``npm ci --ignore-scripts``
in ``torframes/testing/lab/node``, from the committed ``package-lock.json``;
WebRTC's native module is replaced by a stub there, since the lab's peers
are TCP only). ``seed.mjs`` seeds one torrent with DHT, LSD, PEX, uTP,
UPnP/NAT-PMP and web seeds off (DHT only toward the lab's nodes when given),
every socket bound to the given host. It verifies the data, then prints one
JSON line once it seeds and listens; after that each ``uploaded`` line on
its stdin is answered with the block payload of the PIECE messages sent,
counted by each wire (bittorrent-protocol's ``upload`` event). Not
``torrent.uploaded``, which in WebTorrent 3 counts every byte written to
the sockets: handshakes, metadata (BEP 9), message framing.
Closing its stdin ends it.
"""

from __future__ import annotations

import json
import select
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from torframes.testing.lab.clients.base import START_TIMEOUT, Launch
from torframes.testing.lab.clients.process import (
    ChildProcess,
    LabError,
    answers_handshake,
    free_port,
    tool,
)

__all__ = ["NODE_DIR", "WebTorrentSeeder", "start"]

#: The node project: package.json, package-lock.json, seed.mjs, node_modules once installed.
NODE_DIR = Path(__file__).resolve().parents[1] / "node"


class WebTorrentSeeder:
    """``node seed.mjs``: WebTorrent seeding one torrent, talking JSON lines."""

    client = "webtorrent"

    def __init__(self, spec: Launch) -> None:
        spec.refuse_partial("it verifies the files and then downloads what is missing")
        if not (NODE_DIR / "node_modules" / "webtorrent").is_dir():
            raise LabError(f"WebTorrent is not installed in {NODE_DIR}: .ci/run runs npm ci there")
        port = free_port(spec.host)
        self.endpoint = (spec.host, port)
        config = {
            "torrent": str(spec.torrent_to_load()),
            "contentDir": str(spec.content_dir),
            "host": spec.host,
            "port": port,
            "trackers": spec.trackers,
            "dhtBootstrap": [f"{h}:{p}" for h, p in spec.dht_bootstrap],
        }
        self._process = ChildProcess(
            [tool("node"), str(NODE_DIR / "seed.mjs"), json.dumps(config)],
            name="webtorrent",
            log=spec.workdir / "webtorrent.log",
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout_pipe=True,
        )
        self._lock = threading.Lock()
        self._final: int | None = None
        try:
            seeding = self._message(START_TIMEOUT)
            if seeding.get("event") != "seeding":
                raise LabError(f"webtorrent: {seeding}")
            infohash = spec.handshake_hash()
            self._process.wait_for(
                lambda: True if answers_handshake(self.endpoint, infohash) else None,
                timeout=START_TIMEOUT,
                what=f"answering handshakes on {spec.host}:{port}",
            )
        except BaseException:
            self._process.stop()
            raise

    def _message(self, timeout: float) -> dict[str, Any]:
        """The next JSON line from the script, within ``timeout`` seconds."""
        stdout = self._process.popen.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LabError(
                    f"webtorrent said nothing in {timeout} s: {self._process.log_tail()}"
                )
            readable, _, _ = select.select([stdout], [], [], remaining)
            if readable:
                line = stdout.readline()
                if not line:
                    self._process.popen.wait(timeout=5)
                    self._process.check_alive()
                    raise LabError("webtorrent closed its output")
                return dict(json.loads(line))

    def uploaded(self) -> int:
        """PIECE payload bytes WebTorrent's wires sent (see the module docstring)."""
        if self._final is not None:
            return self._final
        stdin = self._process.popen.stdin
        assert stdin is not None
        with self._lock:
            stdin.write(b"uploaded\n")
            stdin.flush()
            return int(self._message(10)["uploaded"])

    def close(self) -> None:
        if self._final is None and self._process.alive():
            try:
                self._final = self.uploaded()
            except (OSError, LabError, ValueError):
                self._final = 0
        self._process.stop()


def start(spec: Launch) -> WebTorrentSeeder:
    return WebTorrentSeeder(spec)
