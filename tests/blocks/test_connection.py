"""One peer connection against hand-written hostile peers: bounded reads, one clear error."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest

from torframes.torrent.wire import messages as m
from torframes.torrent.wire.connection import (
    ETHERNET_MSS,
    PeerConnection,
    PeerGone,
    PeerRefused,
)

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


async def test_the_peer_sends_ethernet_sized_segments_even_over_loopback() -> None:
    """Our SYN announces an Ethernet MSS: a Nagle peer's 16 KiB block is then many
    segments, acknowledged at once, instead of one that waits for our delayed ACK."""
    seen: list[int] = []

    async def note_mss(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG))
        await reader.read()

    server, address = await serve(note_mss)
    async with server:
        peer = await PeerConnection.open(address, INFO_HASH, num_pieces=4, timeout=5)
        while not seen:
            await peer.wait_changed()  # the script notes the MSS before anything else
        await peer.close()
    assert 0 < seen[0] <= ETHERNET_MSS


async def test_a_connection_opened_before_the_metadata_checks_the_bitfield_once_it_is_in() -> None:
    async def bitfield(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(m.encode(m.Bitfield(b"\xa0")) + m.encode(m.Unchoke()))
        await reader.read()

    server, address = await serve(bitfield)
    async with server:
        right = await PeerConnection.open(address, INFO_HASH, num_pieces=None, timeout=5)
        wrong = await PeerConnection.open(address, INFO_HASH, num_pieces=None, timeout=5)
        for peer in (right, wrong):
            while peer.choked:
                await peer.wait_changed()
        right.set_num_pieces(3)  # one byte of bitfield: pieces 0 and 2
        assert (right.has(0), right.has(1), right.has(2)) == (True, False, True)
        assert not right.closed
        wrong.set_num_pieces(9)  # would need two bytes
        assert wrong.closed
        with pytest.raises(PeerGone, match="bitfield of 1 bytes"):
            await wrong.request(0, 0, m.BLOCK_SIZE)
        await right.close()
        await wrong.close()


async def test_queued_requests_count_at_once_and_the_rate_is_measured_on_a_busy_pipe() -> None:
    """Blocks asked in one go count in ``queued`` before any is sent; answers that come
    one after another on a busy pipeline give a rate."""

    async def steady(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(m.encode(m.HaveAll()) + m.encode(m.Unchoke()))
        while True:
            prefix = await reader.readexactly(4)
            message = m.decode(await reader.readexactly(struct.unpack(">I", prefix)[0]))
            if isinstance(message, m.Request):
                await asyncio.sleep(0.005)  # the modelled link: 5 ms per block
                data = bytes(message.length)
                writer.write(m.encode(m.Piece(message.piece, message.begin, data)))

    server, address = await serve(steady)
    async with server:
        peer = await PeerConnection.open(address, INFO_HASH, num_pieces=4, timeout=5)
        while peer.choked:
            await peer.wait_changed()
        assert peer.rate is None
        asked = [
            peer.request(0, begin, m.BLOCK_SIZE)
            for begin in range(0, 8 * m.BLOCK_SIZE, m.BLOCK_SIZE)
        ]
        assert (peer.queued, peer.queued_bytes) == (8, 8 * m.BLOCK_SIZE)
        assert peer.expected_seconds(m.BLOCK_SIZE, 1e6) > peer.rtt + 8 * m.BLOCK_SIZE / 1e6
        await asyncio.gather(*asked)  # each request's own end callback ran before gather's
        assert (peer.queued, peer.queued_bytes) == (0, 0)
        assert peer.rate is not None
        # 16 KiB each 5 ms at most: about 3.3 MB/s (with room for a late first answer)
        assert peer.rate <= 2 * m.BLOCK_SIZE / 0.005
        await peer.close()
