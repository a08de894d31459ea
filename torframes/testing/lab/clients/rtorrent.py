"""rTorrent (0.9.8, libtorrent 0.13) as a lab seeder.

Started non-interactively: ``rtorrent -n -o import=rtorrent.rc`` with
``system.daemon.set = true`` (no terminal), its session and configuration
in the workdir, the peer port bound to the given host
(``network.bind_address``), DHT and PEX off unless the lab's DHT nodes are
given (``dht.add_node``; rTorrent has no built-in router; without them the
DHT is initialised but never started, ``dht.mode.set = off``, because rTorrent
refuses a torrent with no tracker when its DHT is disabled), encrypted and
plain handshakes accepted. Control is XML-RPC over an SCGI socket
(``network.scgi.open_local``) in a short temporary folder of its own (a
Unix socket path has at most 107 bytes; a deep workdir would exceed it). The torrent is loaded with
``load.start``; rTorrent hashes the data first. The launch returns once
``d.complete`` is 1, the download is active and not hashing, and the peer
port answers a handshake for the torrent. rTorrent accepts incoming peers
for any started download: no tracker is needed when peers are given.
It does not announce itself (no tracker, DHT off), so a leecher must be
given its endpoint, or the torrent a tracker.
Counter: ``d.up.total`` (payload only).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import xmlrpc.client
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

__all__ = ["RTorrentSeeder", "scgi_call", "start"]


def scgi_call(socket_path: Path, method: str, *params: Any) -> Any:
    """One XML-RPC call over SCGI on a Unix socket: netstring headers, then the body.

    SCGI: ``len:CONTENT_LENGTH\\0<n>\\0SCGI\\01\\0,`` followed by the
    request body; the answer is CGI-style headers, a blank line, the XML.
    """
    body = xmlrpc.client.dumps(params, method).encode()
    headers = f"CONTENT_LENGTH\0{len(body)}\0SCGI\x001\0".encode()
    request = f"{len(headers)}:".encode() + headers + b"," + body
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(10)
        connection.connect(str(socket_path))
        connection.sendall(request)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    _, _, xml = answer.partition(b"\r\n\r\n")
    (result,), _ = xmlrpc.client.loads(xml.decode())
    return result


class RTorrentSeeder:
    """rtorrent in daemon mode, driven over its SCGI socket."""

    client = "rtorrent"

    def __init__(self, spec: Launch) -> None:
        spec.refuse_partial("it hashes the files and then downloads what is missing")
        port = free_port(spec.host)
        self.endpoint = (spec.host, port)
        # A Unix socket path is at most 107 bytes (sun_path): not under a deep workdir.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="torframes-rt-"))
        self._socket = self._socket_dir / "scgi.sock"
        self._final: int | None = None
        self._process: ChildProcess | None = None
        try:
            session = spec.workdir / "rtorrent-session"
            session.mkdir(exist_ok=True)
            config = spec.workdir / "rtorrent.rc"
            config.write_text(_config(spec, port, session, self._socket))
            self._process = ChildProcess(
                [tool("rtorrent"), "-n", "-o", f"import={config}"],
                name="rtorrent",
                log=spec.workdir / "rtorrent.log",
                cwd=spec.workdir,
                env={"HOME": str(spec.workdir), "TERM": "dumb"},
                client_log=spec.workdir / "rtorrent-main.log",
            )
            self._hash: str = self._process.wait_for(
                self._seeding_hash, timeout=START_TIMEOUT, what="seeding"
            )
            infohash = spec.handshake_hash()
            self._process.wait_for(
                lambda: True if answers_handshake(self.endpoint, infohash) else None,
                timeout=START_TIMEOUT,
                what=f"answering handshakes on {spec.host}:{port}",
            )
        except BaseException:
            if self._process is not None:
                self._process.stop()
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            raise

    def _call(self, method: str, *params: Any) -> Any:
        return scgi_call(self._socket, method, *params)

    def _seeding_hash(self) -> str | None:
        try:
            rows = self._call(
                "d.multicall2",
                "",
                "main",
                "d.hash=",
                "d.complete=",
                "d.is_active=",
                "d.hashing=",
                "d.message=",
            )
        except (OSError, xmlrpc.client.Fault, ValueError):
            return None  # socket not there yet, or rTorrent still starting
        for infohash, complete, active, hashing, message in rows:
            if message and "tracker" not in message.lower():
                raise LabError(f"rtorrent: {message}")
            if complete == 1 and active == 1 and hashing == 0:
                return str(infohash)
        return None

    def uploaded(self) -> int:
        """``d.up.total``: payload bytes rTorrent uploaded for the torrent."""
        if self._final is not None:
            return self._final
        return int(self._call("d.up.total", self._hash))

    def close(self) -> None:
        assert self._process is not None  # made by __init__, or __init__ raised
        if self._final is None and self._process.alive() and hasattr(self, "_hash"):
            try:
                self._final = self.uploaded()
            except (OSError, xmlrpc.client.Fault):
                self._final = 0
        self._process.stop()
        shutil.rmtree(self._socket_dir, ignore_errors=True)


def _config(spec: Launch, port: int, session: Path, rpc_socket: Path) -> str:
    """``rtorrent.rc``: daemon, loopback only, no discovery but the lab's, SCGI in the workdir."""
    lines = [
        "system.daemon.set = true",
        f"directory.default.set = {spec.content_dir}",
        f"session.path.set = {session}",
        "session.use_lock.set = no",
        f"network.port_range.set = {port}-{port}",
        "network.port_random.set = no",
        f"network.bind_address.set = {spec.host}",
        f"network.local_address.set = {spec.host}",
        f"network.scgi.open_local = {rpc_socket}",
        "protocol.pex.set = no",
        "protocol.encryption.set = allow_incoming,try_outgoing,enable_retry",
        "pieces.hash.on_completion.set = no",
        "throttle.max_uploads.set = 100",
        "throttle.max_uploads.global.set = 200",
        "trackers.use_udp.set = yes",
        f'log.open_file = "main", {spec.workdir / "rtorrent-main.log"}',
        'log.add_output = "info", "main"',
    ]
    if spec.dht_bootstrap:
        lines += [
            "dht.mode.set = on",
            f"dht.port.set = {free_port(spec.host, socket.SOCK_DGRAM)}",
            # nodes can be added only once the DHT runs, after the configuration is read
            *(
                f'schedule2 = lab_dht_node_{i}, 1, 0, "dht.add_node={host}:{node_port}"'
                for i, (host, node_port) in enumerate(spec.dht_bootstrap)
            ),
        ]
    else:
        # "off", not "disable": rTorrent refuses a torrent without trackers ("Could not
        # find any trackers") unless its DHT is initialised; "off" never starts it.
        lines.append("dht.mode.set = off")
    lines.append(f"load.start_verbose = {spec.torrent_to_load()}")
    return "\n".join(lines) + "\n"


def start(spec: Launch) -> RTorrentSeeder:
    return RTorrentSeeder(spec)
