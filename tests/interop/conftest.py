"""Other implementations: aria2 seeds on 127.0.0.1, mktorrent and
transmission-create make the torrents, mkvmerge makes Matroska files the way
most public MKVs are made. CI installs them (``.ci/run``)."""

from __future__ import annotations

import select
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed: .ci/run installs it (Debian package)")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Aria2Seeder:
    """aria2c seeding one ``.torrent`` from ``directory`` on 127.0.0.1 (no DHT, LPD or PEX)."""

    def __init__(self, torrent: Path, directory: Path) -> None:
        self.port = free_port()
        self.address = ("127.0.0.1", self.port)
        self._process = subprocess.Popen(
            [
                tool("aria2c"),
                f"--dir={directory}",
                f"--listen-port={self.port}",
                "--interface=127.0.0.1",
                "--disable-ipv6=true",
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--bt-tracker-connect-timeout=1",
                "--seed-ratio=0.0",
                "--bt-seed-unverified=true",
                "--quiet=true",
                str(torrent),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_listening(timeout=20)

    def _wait_listening(self, timeout: float) -> None:
        """Block until aria2 accepts connections (a refused first connect makes
        libtorrent back off for a long while), or fail with what aria2 said."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                _, err = self._process.communicate()
                raise RuntimeError(f"aria2c exited: {err.decode(errors='replace')}")
            try:
                with socket.create_connection(self.address, timeout=0.2):
                    return
            except OSError:
                select.select([], [], [], 0.05)  # a short wait between connection attempts
        self.close()
        raise RuntimeError(f"aria2c did not listen on {self.address} within {timeout} s")

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


@pytest.fixture
def aria2(tmp_path: Path) -> Iterator[type[Aria2Seeder]]:
    seeders: list[Aria2Seeder] = []

    def start(torrent: Path, directory: Path) -> Aria2Seeder:
        seeder = Aria2Seeder(torrent, directory)
        seeders.append(seeder)
        return seeder

    yield start  # type: ignore[misc]
    for seeder in seeders:
        seeder.close()


@pytest.fixture
def mktorrent() -> str:
    return tool("mktorrent")


@pytest.fixture
def transmission_create() -> str:
    return tool("transmission-create")


@pytest.fixture(scope="session")
def mkvmerge() -> str:
    return tool("mkvmerge")
