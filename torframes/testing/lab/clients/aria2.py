"""aria2c (1.36) as a lab seeder.

``--seed-ratio=0`` seeds with no ratio limit; DHT, LPD and PEX are off
unless the lab's DHT nodes are given (``--dht-entry-point``: aria2 has no
built-in router); peer sockets bound to the given host (``--interface``).
``--check-integrity`` hashes the data before seeding. aria2 announces to
UDP trackers (BEP 15) through its DHT socket, hence only when DHT nodes are
given; HTTP trackers always. Its JSON-RPC listens on
127.0.0.1 only; the launch returns once ``aria2.tellActive`` reports the
download as a seeder and the peer port listens. Counter: ``uploadLength``
of ``aria2.tellStatus`` (payload only).
"""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from typing import Any

from torframes.testing.lab.clients.base import START_TIMEOUT, Launch
from torframes.testing.lab.clients.process import (
    ChildProcess,
    LabError,
    free_port,
    listening,
    tool,
)

__all__ = ["Aria2Seeder", "start"]


class Aria2Seeder:
    """aria2c with JSON-RPC, seeding the one torrent given on its command line."""

    client = "aria2"

    def __init__(self, spec: Launch) -> None:
        spec.refuse_partial("it verifies the files and then downloads what is missing")
        port = free_port(spec.host)
        self._rpc_port = free_port("127.0.0.1")
        self.endpoint = (spec.host, port)
        argv = [
            tool("aria2c"),
            "--enable-rpc=true",
            f"--rpc-listen-port={self._rpc_port}",
            "--rpc-listen-all=false",
            f"--dir={spec.content_dir}",
            f"--listen-port={port}",
            f"--interface={spec.host}",
            "--disable-ipv6=true",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--seed-ratio=0",
            "--check-integrity=true",
            "--bt-max-peers=0",
            "--bt-tracker-connect-timeout=2",
            "--bt-tracker-timeout=5",
            "--auto-save-interval=0",
            "--file-allocation=none",
            "--console-log-level=warn",
            "--summary-interval=0",
            f"--log={spec.workdir / 'aria2-debug.log'}",
            "--log-level=notice",
            # aria2 also stops by itself once the test process is gone
            f"--stop-with-process={os.getpid()}",
        ]
        if spec.dht_bootstrap:
            node_host, node_port = spec.dht_bootstrap[0]
            argv += [
                "--enable-dht=true",
                f"--dht-listen-port={free_port(spec.host, socket.SOCK_DGRAM)}",
                f"--dht-entry-point={node_host}:{node_port}",
                f"--dht-file-path={spec.workdir / 'aria2-dht.dat'}",
            ]
        else:
            argv.append("--enable-dht=false")
        argv.append(str(spec.torrent_to_load()))
        self._process = ChildProcess(argv, name="aria2c", log=spec.workdir / "aria2.log")
        self._final: int | None = None
        try:
            self._gid: str = self._process.wait_for(
                self._seeding_gid, timeout=START_TIMEOUT, what="seeding"
            )
            self._process.wait_for(
                lambda: True if listening(*self.endpoint) else None,
                timeout=START_TIMEOUT,
                what=f"listening on {spec.host}:{port}",
            )
        except BaseException:
            self._process.stop()
            raise

    def _rpc(self, method: str, *params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": "lab", "method": method, "params": params})
        request = urllib.request.Request(
            f"http://127.0.0.1:{self._rpc_port}/jsonrpc",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.load(response)
        if "error" in answer:
            raise LabError(f"aria2 {method}: {answer['error']}")
        return answer["result"]

    def _seeding_gid(self) -> str | None:
        try:
            active = self._rpc("aria2.tellActive", ["gid", "seeder", "status", "errorMessage"])
        except OSError:
            return None  # RPC not up yet
        for download in active:
            if download.get("seeder") == "true":
                return str(download["gid"])
        return None

    def uploaded(self) -> int:
        """``uploadLength``: payload bytes aria2 uploaded for this torrent."""
        if self._final is not None:
            return self._final
        return int(self._rpc("aria2.tellStatus", self._gid, ["uploadLength"])["uploadLength"])

    def close(self) -> None:
        if self._final is None and self._process.alive():
            try:
                self._final = self.uploaded()
            except (OSError, LabError):
                self._final = 0
        self._process.stop()


def start(spec: Launch) -> Aria2Seeder:
    return Aria2Seeder(spec)
