"""rTorrent 0.9.8 seeding one torrent on 127.0.0.1, for the rechoke tests.

rTorrent loads only torrents that name a tracker, so the torrent given must
have one (an address on loopback that nobody answers is enough). Its own
upload counter (``d.up.total``) is read over XML-RPC on an SCGI port
(rTorrent's control interface), never from our side of the wire.
"""

from __future__ import annotations

import socket
import xmlrpc.client
from pathlib import Path

from torframes.testing.lab.clients.process import ChildProcess, free_port, tool

#: Seconds rTorrent may take to check the data and listen.
START_TIMEOUT = 60.0


class RtorrentSeeder:
    """``rtorrent`` in daemon mode: DHT, PEX and UDP trackers off, bound to 127.0.0.1."""

    client = "rtorrent"

    def __init__(self, workdir: Path, torrent: Path, content_dir: Path, infohash: str) -> None:
        self.infohash = infohash.upper()
        port, self._scgi = free_port(), free_port()
        self.endpoint = ("127.0.0.1", port)
        (workdir / "session").mkdir(parents=True, exist_ok=True)
        config = workdir / "rtorrent.rc"
        config.write_text(
            "\n".join(
                [
                    "system.daemon.set = true",
                    f"directory.default.set = {content_dir}",
                    f"session.path.set = {workdir / 'session'}",
                    f"network.port_range.set = {port}-{port}",
                    "network.port_random.set = no",
                    "network.bind_address.set = 127.0.0.1",
                    f"network.scgi.open_port = 127.0.0.1:{self._scgi}",
                    "dht.mode.set = disable",
                    "protocol.pex.set = no",
                    "trackers.use_udp.set = no",
                    f'load.start_verbose = "{torrent}"',
                    "",
                ]
            )
        )
        self._process = ChildProcess(
            [tool("rtorrent"), "-n", "-o", f"import={config}"],
            name="rtorrent",
            log=workdir / "rtorrent.log",
        )
        try:
            self._process.wait_for(
                lambda: self._seeding() or None, timeout=START_TIMEOUT, what="rTorrent seeding"
            )
        except BaseException:
            self.close()
            raise

    def _call(self, method: str, *params: object) -> object:
        """One XML-RPC call over SCGI (rTorrent's control protocol)."""
        body = xmlrpc.client.dumps(params, method).encode()
        headers = f"CONTENT_LENGTH\0{len(body)}\0SCGI\x001\0".encode()
        with socket.create_connection(("127.0.0.1", self._scgi), timeout=10) as connection:
            connection.sendall(f"{len(headers)}:".encode() + headers + b"," + body)
            answer = b"".join(iter(lambda: connection.recv(65536), b""))
        payload = answer.split(b"\r\n\r\n", 1)[1]
        return xmlrpc.client.loads(payload)[0][0]

    def _seeding(self) -> bool:
        self._process.check_alive()
        try:  # (rTorrent listens on IPv4-mapped IPv6 sockets: connect to see)
            complete = bool(self._call("d.complete", self.infohash))
            socket.create_connection(self.endpoint, timeout=1).close()
        except (OSError, xmlrpc.client.Fault, IndexError):
            return False
        return complete

    def uploaded(self) -> int:
        """Payload bytes rTorrent says it uploaded (``d.up.total``: payload only)."""
        return int(self._call("d.up.total", self.infohash))  # type: ignore[call-overload]

    def close(self) -> None:
        self._process.stop()
