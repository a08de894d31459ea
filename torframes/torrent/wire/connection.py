"""One peer over the BitTorrent wire: handshake, choke state, pipelined requests, hash requests.

A :class:`PeerConnection` is one TCP connection and one state machine
(anacrolix/torrent's ``peerconn.go`` shape): the BEP 3 handshake (a v2 or
hybrid torrent's SHA-256 infohash truncated to 20 bytes, BEP 52), our BEP
10 extension handshake (the peer's ``reqq`` bounds our pipeline), ``have
none`` when the peer speaks the fast extension (BEP 6), then
``interested``. A reader task decodes every message (lengths checked
first, :mod:`~torframes.torrent.wire.messages`) and resolves the future of
the request it answers.

:meth:`PeerConnection.request` waits for an unchoke (or an ``allowed
fast`` piece), keeps at most :attr:`depth` requests in flight, and fails
with a :class:`PeerFailed` subclass the caller can act on: the peer
choked (:class:`PeerChoked`), refused (:class:`PeerRefused`, BEP 6
``reject``), did not answer in time (:class:`PeerStalled`) or went away
(:class:`PeerGone`). This module decides nothing about which peer to ask,
but measures what a scheduler needs to choose: the round trip of the
handshake, the bytes queued, and the rate at which blocks arrive while
the pipeline is busy (:meth:`PeerConnection.expected_seconds`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Iterable
from typing import Any

from torframes.torrent.wire import messages as m
from torframes.torrent.wire.messages import WireError

__all__ = [
    "DEFAULT_DEPTH",
    "ETHERNET_MSS",
    "UNMEASURED_RATE",
    "PeerChoked",
    "PeerConnection",
    "PeerFailed",
    "PeerGone",
    "PeerRefused",
    "PeerStalled",
    "median_rate",
    "open_stream",
]

#: Requests in flight per peer unless its BEP 10 ``reqq`` says fewer.
DEFAULT_DEPTH = 16
#: The MSS our connections announce: Ethernet's 1500-byte MTU less IPv4, TCP and
#: timestamp headers (see :func:`open_stream`).
ETHERNET_MSS = 1448
#: Bytes/s assumed for every peer until one is measured (only round trips differ then).
UNMEASURED_RATE = 1_000_000.0
#: Seconds of busy pipeline the rate estimate looks back over (older samples fade).
RATE_WINDOW = 2.0
#: Blocks timed on a busy pipeline, and seconds they took, before the rate counts as
#: measured: blocks come in bursts (TCP segments, a shaper's ticks), so a few gaps
#: inside one burst say nothing of the link.
RATE_SAMPLES = 4
RATE_SPAN = 0.01
#: Pieces a torrent is taken to have at most while its metadata is not in: bounds the
#: bitfield a peer may send before we can check it (512 KiB).
UNKNOWN_PIECES = 1 << 22
#: Our peer id (BEP 20 style: client code and version, then random bytes).
_ID_PREFIX = b"-TF0100-"


class PeerFailed(WireError):
    """A request could not be answered by this peer; ask another."""


class PeerChoked(PeerFailed):
    """The peer choked us with the request outstanding (BEP 3: the request is dropped)."""


class PeerRefused(PeerFailed):
    """The peer rejected the request (BEP 6 ``reject``, BEP 52 ``hash reject``)."""


class PeerStalled(PeerFailed):
    """The peer did not unchoke or answer within the timeout."""


class PeerGone(PeerFailed):
    """The connection closed, or the peer broke the protocol."""


def new_peer_id() -> bytes:
    return _ID_PREFIX + os.urandom(12)


def _bencode(value: Any) -> bytes:
    """Bencode the few types our extension handshake uses (BEP 3 "bencoding")."""
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(_bencode(k) + _bencode(v) for k, v in items) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")


def _reqq(payload: bytes) -> int | None:
    """The ``reqq`` of a BEP 10 handshake (bounded), or None."""
    import libtorrent

    try:
        decoded = libtorrent.bdecode(payload)
    except RuntimeError:
        return None
    if not isinstance(decoded, dict):
        return None
    value = decoded.get(b"reqq")
    return value if isinstance(value, int) and value > 0 else None


async def open_stream(
    host: str, port: int, local_host: str | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection announcing an Ethernet-sized MSS (:data:`ETHERNET_MSS`).

    Over loopback (or jumbo frames) a 16 KiB block is one segment: the
    receiver acknowledges it only after its delayed-ACK timer (40 ms on
    Linux), and a peer that leaves Nagle's algorithm on (libtorrent does)
    holds the next block until then, 40 ms for every other block. In
    segments of Ethernet size every second one is acknowledged at once
    (RFC 1122 §4.2.3.2), as on any real link.
    """
    loop = asyncio.get_running_loop()
    family, kind, proto, _, target = (await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))[
        0
    ]
    sock = socket.socket(family, kind, proto)
    try:
        with contextlib.suppress(OSError, AttributeError):  # not every platform has it
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, ETHERNET_MSS)
        if local_host:
            sock.bind((local_host, 0))
        sock.setblocking(False)
        await loop.sock_connect(sock, target)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


def median_rate(connections: Iterable[PeerConnection]) -> float:
    """The median measured rate of ``connections``, bytes/s: what a peer not measured yet
    counts at (:data:`UNMEASURED_RATE` while none is)."""
    rates = sorted(rate for c in connections if (rate := c.rate) is not None)
    return rates[len(rates) // 2] if rates else UNMEASURED_RATE


class PeerConnection:
    """One connected peer; made by :meth:`open`, ended by :meth:`close`."""

    def __init__(
        self,
        address: tuple[str, int],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        theirs: m.Handshake,
        *,
        num_pieces: int | None,
        timeout: float,
        depth: int = DEFAULT_DEPTH,
        rtt: float = 0.0,
    ) -> None:
        self.address = address
        self.handshake = theirs
        self.timeout = timeout
        self.depth = depth
        self._reader = reader
        self._writer = writer
        self._num_pieces = num_pieces
        self._limit = m.max_message_size(UNKNOWN_PIECES if num_pieces is None else num_pieces)
        self.choked = True
        #: Chokes received after an unchoke.
        self._chokes = 0
        self.have_all = False
        #: True once the peer said what it has (bitfield, have all/none, have).
        self.announced = False
        self._bitfield: m.Bitfield | None = None
        self._haves: set[int] = set()
        self.allowed_fast: set[int] = set()
        self._interested = False
        self._changed = asyncio.Event()
        self._slots = asyncio.Semaphore(depth)
        self._requests: dict[tuple[int, int, int], asyncio.Future[bytes]] = {}
        self._hash_requests: dict[
            tuple[bytes, int, int, int], asyncio.Future[tuple[bytes, ...]]
        ] = {}
        self._error: PeerFailed | None = None
        #: PIECE payload bytes received (asked for or not) and BEP 52 hash bytes received.
        self.payload_bytes = 0
        self.hash_bytes = 0
        #: Round trip, seconds: the handshake's, then refined by blocks asked of an idle pipe.
        self.rtt = rtt
        #: Requests taken by :meth:`request` and not ended (waiting for a slot or in flight).
        self.queued = 0
        self.queued_bytes = 0
        self._sent: dict[tuple[int, int, int], float] = {}
        self._last_arrival: float | None = None
        self._busy_bytes = 0.0
        self._busy_seconds = 0.0
        self._busy_samples = 0
        #: Blocks this peer answered.
        self.answered = 0
        self._listeners: list[Callable[[], object]] = []
        self._task = asyncio.ensure_future(self._read_loop())

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        address: tuple[str, int],
        info_hash: bytes,
        *,
        num_pieces: int | None,
        v2: bool = False,
        timeout: float = 10.0,
        peer_id: bytes | None = None,
        local_host: str | None = None,
    ) -> PeerConnection:
        """Connect, exchange handshakes (BEP 3, BEP 10), say ``interested``.

        ``info_hash`` is the v1 SHA-1 or the v2 SHA-256 infohash (truncated
        to 20 bytes on the wire). Each connection gets its own random peer id
        unless given: a seeder reached twice (directly and through a relay)
        drops a second connection with a peer id it already has. Raises
        :class:`PeerGone` when the peer cannot be reached, answers for another
        torrent, or not in time. ``num_pieces`` is None while the torrent's
        metadata is not in (then :meth:`set_num_pieces`).
        """
        host, port = address
        try:
            reader, writer = await asyncio.wait_for(open_stream(host, port, local_host), timeout)
        except (OSError, asyncio.TimeoutError) as error:
            raise PeerGone(f"cannot connect to {host}:{port}: {error or 'timed out'}") from None
        ours = m.Handshake.ours(info_hash, peer_id or new_peer_id(), v2=v2)
        loop = asyncio.get_running_loop()
        try:
            writer.write(ours.encode())
            sent = loop.time()
            raw = await asyncio.wait_for(reader.readexactly(m.HANDSHAKE_SIZE), timeout)
            rtt = loop.time() - sent
            theirs = m.Handshake.decode(raw)
            if theirs.info_hash != ours.info_hash:
                raise PeerGone(f"{host}:{port} answered for another torrent")
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, WireError) as error:
            writer.close()
            raise PeerGone(f"no handshake from {host}:{port}: {error or 'timed out'}") from None
        connection = cls(
            address, reader, writer, theirs, num_pieces=num_pieces, timeout=timeout, rtt=rtt
        )
        if theirs.extended:
            handshake = {"m": {}, "v": "torframes", "reqq": 256}
            connection._send(m.Extended(0, _bencode(handshake)))
        if theirs.fast:
            connection._send(m.HaveNone())
        connection._send(m.Interested())
        return connection

    # -- state -----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._error is not None

    def has(self, piece: int) -> bool:
        """True when the peer said it has ``piece`` (bitfield, have, have all)."""
        if self.have_all or piece in self._haves:
            return True
        return self._bitfield is not None and self._bitfield.has(piece)

    def may_request(self, piece: int) -> bool:
        """True when a request for ``piece`` would be served now (unchoked or allowed fast)."""
        return not self.choked or piece in self.allowed_fast

    def set_num_pieces(self, num_pieces: int) -> None:
        """The torrent's piece count, once its metadata is in (for a connection opened before).

        The bitfield that came meanwhile is checked now (BEP 3: one bit per
        piece, padded to whole bytes); a wrong one ends the connection.
        """
        if self._num_pieces is not None:
            return
        self._num_pieces = num_pieces
        self._limit = m.max_message_size(num_pieces)
        try:
            self._check_bitfield()
        except WireError as error:
            self._fail(PeerGone(f"{self._name} broke the protocol: {error.message}"))
            self._task.cancel()
            self._writer.close()

    def _check_bitfield(self) -> None:
        bits = self._bitfield
        if bits is not None and len(bits.bits) != -(-(self._num_pieces or 0) // 8):
            raise WireError(f"a bitfield of {len(bits.bits)} bytes (BEP 3)")

    # -- speed ------------------------------------------------------------------------------

    @property
    def rate(self) -> float | None:
        """Bytes/s the peer sends while our pipeline to it is busy; None before it is measured.

        Measured only over blocks that were asked before the previous block
        arrived (so the time between arrivals is the link's, not a round
        trip), over the last :data:`RATE_WINDOW` seconds of such time, once
        :data:`RATE_SAMPLES` blocks were, over :data:`RATE_SPAN` seconds at least.
        """
        if self._busy_samples < RATE_SAMPLES or self._busy_seconds < RATE_SPAN:
            return None
        return self._busy_bytes / self._busy_seconds

    def expected_seconds(self, length: int, rate: float) -> float:
        """Seconds until a block of ``length`` asked now would arrive, behind what is queued.

        ``rate`` stands in for :attr:`rate` while it is unmeasured.
        """
        return self.rtt + (self.queued_bytes + length) / (self.rate or rate)

    def on_change(self, listener: Callable[[], object]) -> Callable[[], None]:
        """Call ``listener`` on every unchoke, choke, allowed-fast piece, ended request or
        failure; returns the function that stops it."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    def _arrived(self, key: tuple[int, int, int], length: int) -> None:
        """Account one answered request in the rate and round-trip estimates."""
        sent = self._sent.pop(key, None)
        now = asyncio.get_running_loop().time()
        self.answered += 1
        last = self._last_arrival
        if sent is not None and last is not None and sent < last:
            # asked before the previous block came: the pipe was busy since then
            self._busy_bytes += length
            self._busy_seconds += now - last
            self._busy_samples += 1
            if self._busy_seconds > RATE_WINDOW:
                self._busy_bytes /= 2
                self._busy_seconds /= 2
        elif sent is not None and self.rate is not None:
            # asked of an idle pipe: what is not transfer time is the round trip
            sample = max(0.0, now - sent - length / self.rate)
            self.rtt = 0.7 * self.rtt + 0.3 * sample
        self._last_arrival = now

    # -- requests --------------------------------------------------------------------------

    def request(self, piece: int, begin: int, length: int) -> asyncio.Task[bytes]:
        """The block ``(piece, begin, length)`` from this peer; the task raises :class:`PeerFailed`.

        The block counts in :attr:`queued` from this call on, so a scheduler
        asking several blocks in one go sees each of them.
        """
        self._check_open()
        self.queued += 1
        self.queued_bytes += length
        task = asyncio.ensure_future(self._request((piece, begin, length)))
        task.add_done_callback(lambda _: self._ended(length))
        return task

    def _ended(self, length: int) -> None:
        self.queued -= 1
        self.queued_bytes -= length
        self._tell_listeners()

    async def _request(self, key: tuple[int, int, int]) -> bytes:
        piece, begin, length = key
        async with self._slots:
            await self._wait_unchoked(piece)
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._requests[key] = future
            self._sent[key] = loop.time()
            self._send(m.Request(piece, begin, length))
            try:
                return await asyncio.wait_for(asyncio.shield(future), self.timeout)
            except asyncio.TimeoutError:
                self._drop_request(key)
                raise PeerStalled(
                    f"{self._name} did not send block {begin} of piece {piece} "
                    f"within {self.timeout:g} s"
                ) from None
            except asyncio.CancelledError:
                self._drop_request(key)
                raise
            finally:
                if self._requests.get(key) is future:
                    del self._requests[key]
                self._sent.pop(key, None)

    def _drop_request(self, key: tuple[int, int, int]) -> None:
        if self._requests.pop(key, None) is not None and not self.closed:
            self._send(m.Cancel(*key))

    async def _wait_unchoked(self, piece: int) -> None:
        """Until the peer unchokes us or allows ``piece`` fast (BEP 6), within the timeout.

        Only a peer that has not unchoked us yet is waited for: one that
        choked us after unchoking (a rechoke, or a peer that stops serving)
        fails the request at once with :class:`PeerChoked`, so it moves on.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while not self.may_request(piece):
            self._check_open()
            if self._chokes:
                raise PeerChoked(f"{self._name} choked us")
            remaining = deadline - loop.time()
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), max(remaining, 0))
            except asyncio.TimeoutError:
                raise PeerStalled(
                    f"{self._name} did not unchoke within {self.timeout:g} s"
                ) from None
        self._check_open()

    async def wait_changed(self) -> None:
        """Until the next unchoke, choke, allowed-fast piece or the end of the connection."""
        await self._changed.wait()

    def _state_changed(self) -> None:
        """Wake whoever waits for an unchoke, an allowed-fast piece or the end."""
        self._changed.set()
        self._changed = asyncio.Event()
        self._tell_listeners()

    def _tell_listeners(self) -> None:
        for listener in list(self._listeners):
            listener()

    async def hashes(
        self, pieces_root: bytes, base: int, index: int, length: int, proof_layers: int
    ) -> tuple[bytes, ...]:
        """BEP 52: ``length`` hashes of layer ``base`` from ``index``, then uncles (unchecked)."""
        self._check_open()
        key = (pieces_root, base, index, length)
        future = self._hash_requests.get(key)
        if future is None:  # the same request already on its way is shared
            future = asyncio.get_running_loop().create_future()
            self._hash_requests[key] = future
            self._send(m.HashRequest(pieces_root, base, index, length, proof_layers))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except asyncio.TimeoutError:
            if self._hash_requests.get(key) is future:
                del self._hash_requests[key]
            raise PeerStalled(f"{self._name} did not answer a hash request in time") from None

    # -- the read loop ---------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while True:
                prefix = await self._reader.readexactly(4)
                length = m.check_length(prefix, self._limit)
                body = await self._reader.readexactly(length) if length else b""
                self._on_message(m.decode(body))
        except asyncio.CancelledError:
            self._fail(PeerGone(f"{self._name}: connection closed by us"))
            raise
        except (OSError, asyncio.IncompleteReadError) as error:
            self._fail(PeerGone(f"{self._name} closed the connection ({type(error).__name__})"))
        except WireError as error:
            self._fail(PeerGone(f"{self._name} broke the protocol: {error.message}"))
        finally:
            self._writer.close()

    def _on_message(self, message: m.Message) -> None:
        if isinstance(message, m.Piece):
            self.payload_bytes += len(message.data)
            key = (message.piece, message.begin, len(message.data))
            future = self._requests.pop(key, None)
            if future is not None and not future.done():
                self._arrived(key, len(message.data))
                future.set_result(message.data)
        elif isinstance(message, m.Hashes):
            self.hash_bytes += 32 * len(message.hashes)
            key = (message.pieces_root, message.base, message.index, message.length)
            future = self._hash_requests.pop(key, None)
            if future is not None and not future.done():
                future.set_result(message.hashes)
        elif isinstance(message, m.Unchoke):
            self.choked = False
            self._state_changed()
        elif isinstance(message, m.Choke):
            self._on_choke()
        elif isinstance(message, m.Reject):
            key = (message.piece, message.begin, message.length)
            self._fail_one(
                self._requests.pop(key, None), PeerRefused(f"{self._name} rejected {key}")
            )
        elif isinstance(message, m.HashReject):
            key = (message.pieces_root, message.base, message.index, message.length)
            error = PeerRefused(f"{self._name} rejected a hash request (BEP 52)")
            self._fail_one(self._hash_requests.pop(key, None), error)
        elif isinstance(message, m.Have):
            self._haves.add(message.piece)
            self.announced = True
        elif isinstance(message, m.Bitfield):
            self._bitfield = message
            self.announced = True
            if self._num_pieces is not None:
                self._check_bitfield()
        elif isinstance(message, m.HaveAll):
            self.have_all = self.announced = True
        elif isinstance(message, m.HaveNone):
            self.have_all = False
            self.announced = True
        elif isinstance(message, m.AllowedFast):
            self.allowed_fast.add(message.piece)
            self._state_changed()
        elif isinstance(message, m.Extended) and message.ext_id == 0:
            reqq = _reqq(message.payload)
            if reqq is not None and reqq < self.depth:
                self._shrink(reqq)
        # keep-alive, interested, request (we serve nothing), suggest, port, unknown: ignored

    def _on_choke(self) -> None:
        """BEP 3: a choke drops our requests. BEP 6 peers may still serve allowed-fast
        ones, or reject them; either way every pending request moves to another peer
        now, and is cancelled here (a block that comes anyway is counted, then dropped)."""
        if not self.choked:
            self._chokes += 1
        self.choked = True
        self._state_changed()
        pending, self._requests = self._requests, {}
        for key, future in pending.items():
            self._send(m.Cancel(*key))
            self._fail_one(future, PeerChoked(f"{self._name} choked us"))

    def _shrink(self, depth: int) -> None:
        """Honour a smaller BEP 10 ``reqq``; it comes right after the handshake, before any
        request, so the pipeline is rebuilt only while nothing waits on it."""
        if not self._requests and not self._slots.locked():
            self._slots = asyncio.Semaphore(depth)
            self.depth = depth

    @staticmethod
    def _fail_one(future: asyncio.Future[Any] | None, error: PeerFailed) -> None:
        if future is not None and not future.done():
            future.set_exception(error)
            future.exception()  # marks it retrieved: its waiter may have given up already

    def _fail(self, error: PeerFailed) -> None:
        if self._error is None:
            self._error = error
        self._state_changed()  # waiters wake and see the error
        for future in [*self._requests.values(), *self._hash_requests.values()]:
            self._fail_one(future, error)
        self._requests.clear()
        self._hash_requests.clear()

    def _check_open(self) -> None:
        if self._error is not None:
            raise type(self._error)(self._error.message)

    def _send(self, message: m.Message) -> None:
        if self._writer.is_closing():
            self._fail(PeerGone(f"{self._name}: connection closed"))
            self._check_open()
        self._writer.write(m.encode(message))

    @property
    def _name(self) -> str:
        return f"peer {self.address[0]}:{self.address[1]}"

    async def close(self) -> None:
        """End the connection and its reader task; fails whatever is pending."""
        self.abort()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    def abort(self) -> None:
        """Close at once, from sync code (a torrent being shut)."""
        self._fail(PeerGone(f"{self._name}: connection closed by us"))
        self._task.cancel()
        self._writer.close()
