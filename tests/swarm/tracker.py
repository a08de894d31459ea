"""opentracker on 127.0.0.1 (HTTP and UDP, BEP 3 and BEP 15), until the lab has its own."""

from __future__ import annotations

import socket
from pathlib import Path

from torframes.testing.lab.clients.process import ChildProcess, free_port, tool


class OpenTracker:
    """``opentracker`` on one port for both HTTP and UDP announces.

    Debian's opentracker is built with a whitelist: it tracks only the
    ``infohashes`` (v1, hex) given.
    """

    def __init__(self, workdir: Path, infohashes: list[str]) -> None:
        port = free_port()
        # Run as root, it chroots into its folder (-d) and drops to "nobody":
        # the folder and the whitelist (named inside it) must be readable there.
        root = workdir / "opentracker"
        root.mkdir(mode=0o755)
        root.chmod(0o755)
        (root / "whitelist").write_text("".join(f"{infohash}\n" for infohash in infohashes))
        self.http_url = f"http://127.0.0.1:{port}/announce"
        self.udp_url = f"udp://127.0.0.1:{port}"
        self._process = ChildProcess(
            [
                *(tool("opentracker"), "-i", "127.0.0.1", "-p", str(port), "-P", str(port)),
                *("-d", str(root), "-w", "whitelist"),
            ],
            name="opentracker",
            log=workdir / "opentracker.log",
        )

        def answers() -> bool | None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return None
            return True

        try:
            self._process.wait_for(answers, timeout=20, what="opentracker listening")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._process.stop()
