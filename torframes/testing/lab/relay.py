"""A user-space TCP relay in front of one peer: latency, bandwidth and misbehaviour.

This kernel has no ``netem``, so a peer's link is shaped here instead. A
:class:`Relay` listens on its own ``127.0.0.x`` address (so per-IP rules of
the clients still see one address per peer) and forwards every connection to
the peer's real endpoint, connecting from that same address. Each direction
is shaped on its own by a :class:`Shape`:

* ``latency_s``: every chunk read is held back that long (one way), so a
  request/answer round costs ``2 * latency_s`` more;
* ``rate``: bytes per second; a chunk leaves once the chunks before it and
  itself have been "serialised" at that rate, so the bytes delivered by any
  instant ``t`` never exceed ``rate * (t - first arrival)``.

The relay follows the stream from the peer as BitTorrent's wire protocol
frames it (BEP 3: the 68-byte handshake, then ``<length:4><id:1><payload>``
messages; PIECE is id 7 with ``<index:4><begin:4><block>``), counts the
block bytes of PIECE messages it delivered (:meth:`Relay.relayed`, a second
counter beside the seeder's own), and misbehaves on request:

* ``"silent"``: accepts connections, reads and discards what it is sent,
  never answers and never connects to the peer;
* ``"drop_mid_piece"``: closes each connection in the middle of the first
  PIECE message's block (the block's first half delivered, the rest never);
* ``"corrupt"``: inverts the first byte of every PIECE block, so every piece
  it serves fails the leecher's hash check (BEP 3 ``pieces`` SHA-1, BEP 52
  merkle roots).

An encrypted stream (MSE/PE: the peer's first bytes are not the BEP 3
handshake) is forwarded untouched and unparsed: nothing is counted and no
misbehaviour applies. :meth:`torframes.testing.lab.Lab.settings` turns
encryption off on the leecher for that reason.

Relays run on an asyncio loop in a thread of their own (:class:`RelayLoop`);
several relays may share one loop. Shaping waits use the loop's clock: they
are the link being modelled, not a test waiting for something.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, NamedTuple, TypeVar

from torframes.torrent.wire.connection import open_stream

__all__ = ["BEHAVIOURS", "Relay", "RelayLoop", "Shape", "WireScanner"]

T = TypeVar("T")

#: What a relayed peer may do besides forwarding faithfully.
BEHAVIOURS = ("normal", "silent", "drop_mid_piece", "corrupt")

#: BEP 3: ``<pstrlen=19>"BitTorrent protocol"<reserved:8><info_hash:20><peer_id:20>``.
HANDSHAKE_PREFIX = b"\x13BitTorrent protocol"
HANDSHAKE_LENGTH = 68
#: BEP 3 message id of PIECE.
PIECE_ID = 7
#: Largest read per chunk: one block, so a rate applies smoothly.
CHUNK = 16 * 1024
#: Bytes held per direction before the relay stops reading (the link's buffer).
BUFFER_UNSHAPED = 8 * 1024 * 1024
BUFFER_MIN = 256 * 1024


class Shape(NamedTuple):
    """A link's shape, applied to each direction: added one-way latency (s), rate (bytes/s)."""

    latency_s: float = 0.0
    rate: float | None = None

    def buffer_bytes(self) -> int:
        """Bytes one direction may hold in flight: about twice its bandwidth-delay product."""
        if self.rate is None:
            return BUFFER_UNSHAPED
        return max(BUFFER_MIN, int(2 * self.rate * max(self.latency_s, 0.05)))


class Segment(NamedTuple):
    """Bytes to forward; ``piece_bytes`` of them are PIECE block bytes; ``cut`` closes after.

    ``pieces``: PIECE messages whose block starts in these bytes.
    """

    data: bytes
    piece_bytes: int
    cut: bool
    pieces: int = 0


class WireScanner:
    """Follows the byte stream a peer sends (BEP 3 framing) and applies a misbehaviour.

    Feed it the stream in any chunks; each :meth:`feed` returns what to
    forward. No I/O: the relay does the sockets. Every length is taken from
    the stream and only ever compared, never used to allocate.
    """

    def __init__(self, behaviour: str = "normal") -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour is one of {BEHAVIOURS}, not {behaviour!r}")
        self.behaviour = behaviour
        #: True once the stream turned out not to be a plain BEP 3 stream (MSE/PE).
        self.opaque = False
        #: PIECE messages whose block started.
        self.pieces_seen = 0
        self._handshake_left = HANDSHAKE_LENGTH
        self._prefix = bytearray()
        self._header = bytearray()  # the current message's <length:4><id:1>, or PIECE's 8 more
        self._skip = 0  # bytes of a non-PIECE payload still to pass
        self._block_left = 0  # bytes of the current PIECE block still to pass
        self._block_at = 0  # bytes of the current PIECE block passed
        self._cut_at: int | None = None  # drop_mid_piece: where in the block to close
        self._closed = False

    def feed(self, data: bytes) -> Segment:
        """The part of ``data`` to forward, how much of it is PIECE blocks, and whether to close."""
        before = self.pieces_seen
        segment = self._feed(data)
        return segment._replace(pieces=self.pieces_seen - before)

    def _feed(self, data: bytes) -> Segment:
        if self._closed or not data:
            return Segment(b"", 0, self._closed)
        if self.opaque:
            return Segment(bytes(data), 0, False)
        out = bytearray()
        piece_bytes = 0
        view = memoryview(data)
        at = 0
        while at < len(view):
            if self._handshake_left:
                take = min(self._handshake_left, len(view) - at)
                chunk = view[at : at + take]
                if len(self._prefix) < len(HANDSHAKE_PREFIX):
                    self._prefix += chunk[: len(HANDSHAKE_PREFIX) - len(self._prefix)]
                    if not HANDSHAKE_PREFIX.startswith(bytes(self._prefix)):
                        self.opaque = True
                        out += view[at:]
                        return Segment(bytes(out), piece_bytes, False)
                out += chunk
                self._handshake_left -= take
                at += take
            elif self._skip:
                take = min(self._skip, len(view) - at)
                out += view[at : at + take]
                self._skip -= take
                at += take
            elif self._block_left:
                take = min(self._block_left, len(view) - at)
                if self._cut_at is not None:
                    take = min(take, self._cut_at - self._block_at)
                block = bytearray(view[at : at + take])
                if self.behaviour == "corrupt" and self._block_at == 0 and block:
                    block[0] ^= 0xFF
                out += block
                piece_bytes += take
                self._block_left -= take
                self._block_at += take
                at += take
                if self._cut_at is not None and self._block_at >= self._cut_at:
                    self._closed = True
                    return Segment(bytes(out), piece_bytes, True)
            else:
                at = self._read_header(view, at, out)
        return Segment(bytes(out), piece_bytes, False)

    def _read_header(self, view: memoryview, at: int, out: bytearray) -> int:
        """Take header bytes from ``view[at:]`` into ``out``; set up the payload that follows."""
        have = len(self._header)
        wanted = 4 if have < 4 else 5 if have < 5 else 13
        take = min(wanted - have, len(view) - at)
        self._header += view[at : at + take]
        out += view[at : at + take]
        at += take
        if len(self._header) == 4:
            (length,) = struct.unpack_from(">I", self._header)
            if length == 0:  # keep-alive: no id
                self._header.clear()
        elif len(self._header) == 5:
            (length,) = struct.unpack_from(">I", self._header)
            if self._header[4] != PIECE_ID or length < 9:
                self._skip = length - 1
                self._header.clear()
        elif len(self._header) == 13:
            (length,) = struct.unpack_from(">I", self._header)
            self._block_left = length - 9
            self._block_at = 0
            self.pieces_seen += 1
            if self.behaviour == "drop_mid_piece":
                self._cut_at = max(1, self._block_left // 2)
            self._header.clear()
        return at


class RelayLoop:
    """An asyncio loop in a daemon thread, for relays; :meth:`close` stops and joins it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="torframes-relay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run ``coroutine`` on the loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        """Cancel what still runs, stop the loop and join its thread."""
        if self.loop.is_closed() or not self._thread.is_alive():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.call(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()


class Relay:
    """Forwards connections from its own ``host:port`` to ``target``, shaped; see the module doc.

    ``loop``: a :class:`RelayLoop` to run on (shared with other relays);
    without one the relay starts and later stops its own.
    """

    def __init__(
        self,
        target: tuple[str, int] | None,
        *,
        host: str = "127.0.0.1",
        shape: Shape | None = None,
        behaviour: str = "normal",
        loop: RelayLoop | None = None,
    ) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour is one of {BEHAVIOURS}, not {behaviour!r}")
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"relays stay on loopback; {host!r} is not a loopback address")
        self.target = target
        self.host = host
        self.shape = shape or Shape()
        self.behaviour = behaviour
        self._own_loop = loop is None
        self._loop = loop or RelayLoop()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._relayed = 0
        self._lock = threading.Condition()
        #: Connections accepted, PIECE messages seen, connections cut mid-piece.
        self.accepted = 0
        self.pieces_seen = 0
        self.cuts = 0
        try:
            self._loop.call(self._start())
        except BaseException:
            if self._own_loop:
                self._loop.close()
            raise

    @property
    def endpoint(self) -> tuple[str, int]:
        """Where leechers connect: (this relay's host, its port)."""
        assert self._server is not None
        return (self.host, self._port)

    def retarget(self, target: tuple[str, int]) -> None:
        """Forward new connections to ``target`` (a peer that started after its relay)."""
        self.target = target

    def relayed(self) -> int:
        """PIECE block bytes this relay has delivered to leechers so far."""
        with self._lock:
            return self._relayed

    def wait_for(self, condition: Callable[[Relay], bool], timeout: float = 10.0) -> bool:
        """Block until ``condition(self)`` holds (re-checked on every counter change).

        Returns whether it held within ``timeout`` seconds.
        """
        with self._lock:
            return self._lock.wait_for(lambda: condition(self), timeout)

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)
            self._lock.notify_all()

    def close(self) -> None:
        """Stop listening, close every connection, and stop the loop if the relay owns it."""
        if self._server is None:
            return
        with contextlib.suppress(Exception):
            self._loop.call(self._stop())
        self._server = None
        if self._own_loop:
            self._loop.close()

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- on the loop -------------------------------------------------------------------

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        """Close the listener, reset every connection and wait for their tasks to end."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            _abort(writer)
        tasks = list(self._tasks)
        if tasks:
            # Reset sockets end every read at once; a cancelled connection task
            # would make asyncio's stream callback log a spurious traceback.
            _, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:
                task.cancel()
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._count("accepted")
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            if self.behaviour == "silent" or self.target is None:
                if self.target is None and self.behaviour != "silent":
                    return  # the peer has not started yet: refuse, as a closed port would
                while await reader.read(CHUNK):
                    pass
                return
            try:
                # Ethernet-sized segments toward the peer, as on the modelled link: over
                # loopback a 16 KiB block is one segment, and a peer with Nagle's algorithm
                # on (libtorrent) would hold the next one for the relay's delayed ACK.
                up_reader, up_writer = await open_stream(*self.target, local_host=self.host)
            except OSError:
                return
            self._writers.add(up_writer)
            try:
                scanner = WireScanner(self.behaviour)
                done = asyncio.Event()
                closers = (writer, up_writer)
                await asyncio.gather(
                    self._pipe(reader, up_writer, None, closers, done),
                    self._pipe(up_reader, writer, scanner, closers, done),
                )
            finally:
                self._writers.discard(up_writer)
                up_writer.close()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        scanner: WireScanner | None,
        closers: tuple[asyncio.StreamWriter, ...],
        done: asyncio.Event,
    ) -> None:
        """One direction: read, hold back by the shape's latency and rate, write."""
        loop = asyncio.get_running_loop()
        latency, rate = self.shape.latency_s, self.shape.rate
        queue: asyncio.Queue[tuple[float, Segment] | None] = asyncio.Queue()
        room = asyncio.Event()
        room.set()
        held = 0
        limit = self.shape.buffer_bytes()

        async def read_side() -> None:
            nonlocal held
            try:
                while not done.is_set():
                    await room.wait()
                    data = await reader.read(CHUNK)
                    if not data:
                        break
                    segment = scanner.feed(data) if scanner else Segment(data, 0, False)
                    held += len(segment.data)
                    if held >= limit:
                        room.clear()
                    queue.put_nowait((loop.time() + latency, segment))
                    if segment.cut:
                        return
            except OSError:
                pass
            queue.put_nowait(None)

        async def write_side() -> None:
            nonlocal held
            free_at = 0.0
            while True:
                item = await queue.get()
                if item is None:  # end of stream: pass the half-close on
                    with contextlib.suppress(OSError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                due, segment = item
                if rate:
                    free_at = max(due, free_at) + len(segment.data) / rate
                    due = free_at
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if segment.data:
                    writer.write(segment.data)
                    await writer.drain()
                held -= len(segment.data)
                if held < limit:
                    room.set()
                if segment.piece_bytes:
                    self._count("_relayed", segment.piece_bytes)
                if segment.pieces:
                    self._count("pieces_seen", segment.pieces)
                if segment.cut:
                    self._count("cuts")
                    done.set()
                    for closer in closers:
                        _abort(closer)
                    return

        reading = loop.create_task(read_side())
        try:
            await write_side()
        except OSError:  # one side is gone: so is the link
            done.set()
            for closer in closers:
                _abort(closer)
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close at once, discarding unsent bytes (a reset, as a dropped link)."""
    transport = writer.transport
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
