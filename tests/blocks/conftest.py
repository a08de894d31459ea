"""Fixtures for block-mode tests: a noisy fixture video, and a misbehaving relay peer.

``Relay`` is a TCP relay in front of a real seeder. It forwards the BEP 3
stream both ways, message by message, and misbehaves as told:
``"corrupt"`` flips the first byte of every PIECE payload, ``"choke"``
answers the first REQUEST with a CHOKE and never serves (nor forwards) a
request again, ``"silent"`` accepts connections and never says a word,
``"drop_mid_block"`` closes the connection in the middle of the first PIECE
message. It counts the PIECE payload bytes it passed on. Tests get the
class from the ``relay`` fixture (test modules cannot import a conftest).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from torframes.testing.videos import make_video


@pytest.fixture(scope="session")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 frames of 640x360 noise, a keyframe every 24: larger than a 4 MiB piece."""
    path = tmp_path_factory.mktemp("blocks-movie") / "movie.mp4"
    return make_video(path, frames=120, gop=24, noise=True, width=640, height=360)


@pytest.fixture
def relay() -> type[Relay]:
    """The :class:`Relay` class, to open as ``async with relay(target, behaviour)``."""
    return Relay


HANDSHAKE = 68
BEHAVIOURS = ("normal", "corrupt", "choke", "silent", "drop_mid_block")
CHOKE = struct.pack(">IB", 1, 0)


class Relay:
    """``async with Relay(target, behaviour) as relay: relay.address``."""

    def __init__(self, target: tuple[str, int], behaviour: str = "normal") -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour is one of {BEHAVIOURS}")
        self.target = target
        self.behaviour = behaviour
        self.relayed = 0
        self.corrupted = 0
        self.requests_seen = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Relay:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return (host, port)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, down_r: asyncio.StreamReader, down_w: asyncio.StreamWriter) -> None:
        self._writers.append(down_w)
        if self.behaviour == "silent":
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while await down_r.read(65536):
                    pass
            return
        up_r, up_w = await asyncio.open_connection(*self.target)
        self._writers.append(up_w)
        try:
            await asyncio.gather(
                self._upstream(down_r, up_w, down_w), self._downstream(up_r, down_w)
            )
        except (OSError, asyncio.IncompleteReadError, _Hangup):
            pass
        finally:
            up_w.close()
            down_w.close()

    async def _upstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, back: asyncio.StreamWriter
    ) -> None:
        """Leecher to seeder: handshake, then messages (requests may be swallowed)."""
        writer.write(await reader.readexactly(HANDSHAKE))
        choked = False
        while True:
            prefix = await reader.readexactly(4)
            body = await reader.readexactly(struct.unpack(">I", prefix)[0])
            if body[:1] == b"\x06":  # REQUEST
                self.requests_seen += 1
                if self.behaviour == "choke":
                    if not choked:
                        back.write(CHOKE)
                        choked = True
                    continue
            writer.write(prefix + body)

    async def _downstream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Seeder to leecher: handshake, then messages (PIECE payloads may be harmed)."""
        writer.write(await reader.readexactly(HANDSHAKE))
        while True:
            prefix = await reader.readexactly(4)
            body = bytearray(await reader.readexactly(struct.unpack(">I", prefix)[0]))
            if body[:1] == b"\x07":  # PIECE: id, piece, begin, data
                if self.behaviour == "drop_mid_block":
                    writer.write(prefix + body[: len(body) // 2])
                    await writer.drain()
                    raise _Hangup
                if self.behaviour == "corrupt":
                    body[9] ^= 0xFF
                    self.corrupted += 1
                self.relayed += len(body) - 9
            writer.write(prefix + bytes(body))


class _Hangup(Exception):
    """The relay hangs up on purpose."""


@pytest.fixture
def lab_seeders(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``lab_seeders(client, torrent=..., content_dir=...)``: a client seeding, closed after."""
    from torframes.testing.lab.clients import launch

    started: list[Any] = []

    def start(client: str, **options: Any) -> Any:
        workdir = tmp_path / f"{client}-{len(started)}"
        workdir.mkdir()
        seeder = launch(client, workdir=workdir, **options)
        started.append(seeder)
        return seeder

    yield start
    for seeder in started:
        seeder.close()
