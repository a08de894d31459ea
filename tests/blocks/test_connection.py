"""One peer connection against hand-written hostile peers: bounded reads, one clear error."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable

import pytest

from torframes.torrent.wire import messages as m
from torframes.torrent.wire.connection import PeerConnection, PeerGone, PeerRefused

INFO_HASH = bytes(range(20))
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(script: Script) -> tuple[asyncio.Server, tuple[str, int]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(m.HANDSHAKE_SIZE)
        writer.write(m.Handshake(INFO_HASH, b"-XX0000-" + bytes(12), bytes(8)).encode())
        try:
            await script(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[:2]


async def test_a_peer_announcing_a_huge_message_is_dropped_before_it_is_read() -> None:
    sent = asyncio.Event()

    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(m.encode(m.Unchoke()) + struct.pack(">I", 2**31) + b"\x07")
        await writer.drain()
        sent.set()
        await reader.read()  # stays open: only the length can be the reason to hang up

    server, address = await serve(huge)
    async with server:
        peer = await PeerConnection.open(address, INFO_HASH, num_pieces=4, timeout=5)
        await sent.wait()
        with pytest.raises(PeerGone, match="more than 16393"):
            await peer.request(0, 0, m.BLOCK_SIZE)
        await peer.close()
        assert peer.closed


async def test_a_reject_fails_only_its_request_and_a_wrong_infohash_is_refused() -> None:
    async def rejecting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(m.encode(m.HaveAll()) + m.encode(m.Unchoke()))
        while True:
            prefix = await reader.readexactly(4)
            message = m.decode(await reader.readexactly(struct.unpack(">I", prefix)[0]))
            if isinstance(message, m.Request):
                if message.piece == 1:
                    writer.write(m.encode(m.Reject(1, message.begin, message.length)))
                else:
                    data = bytes([message.piece]) * message.length
                    writer.write(m.encode(m.Piece(message.piece, message.begin, data)))

    server, address = await serve(rejecting)
    async with server:
        peer = await PeerConnection.open(address, INFO_HASH, num_pieces=4, timeout=5)
        with pytest.raises(PeerRefused):
            await peer.request(1, 0, 100)
        assert await peer.request(2, 0, 100) == b"\x02" * 100
        assert peer.payload_bytes == 100
        assert peer.has(3)
        await peer.close()
        with pytest.raises(PeerGone, match="another torrent"):
            await PeerConnection.open(address, bytes(20), num_pieces=4, timeout=5)
