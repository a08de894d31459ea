"""Whole pieces over our own wire connections: each block asked of exactly one peer.

libtorrent 2.1, once every wanted block is requested, asks the blocks
still in flight of every other idle unchoked peer as well (its end-game,
``request_blocks.cpp``; no setting turns it off): with several seeders and
small pieces they upload up to 1.5x the piece floor. When a round of whole
pieces is wanted and two or more peers are connected, this module fetches
the round's blocks itself (issue 12, item 2), over connections opened as
soon as two peers are known (:func:`preconnect`):

* the blocks of the round wait in one queue, in order; each is asked of
  the one peer expected to send it first among those that have it (BEP 3
  ``bitfield``/``have``, BEP 6 ``have all``) and let us request it
  (unchoked, or the piece is ``allowed fast``): the peer's round trip plus
  its queued bytes over its measured rate (issue 12, item 4;
  :meth:`PieceRound._dispatch`), so a round is spread over the fast peers
  and a slow or far one gets only what it would deliver sooner;
* a block goes back to the queue, for the other peers, only when its peer
  chokes (BEP 3), rejects (BEP 6), stalls past ``Settings.block_timeout``
  or hangs up (then it is dropped);
* a whole piece is verified before libtorrent sees it: v1 and hybrid
  torrents, SHA-1 against the info dictionary's ``pieces`` (BEP 3, BEP 52
  hybrids carry both); v2-only torrents, every block's leaf proven against
  the file's ``pieces root`` (BEP 52 hash requests, as block reads do).
  It is then given to libtorrent with ``add_piece``, so storage, the piece
  cache and ``have`` stay as for any piece, and the caller waits for its
  ``piece_finished_alert`` as always.

A piece whose blocks no peer can serve any more, that fails its check,
or a round that makes no progress for ``block_timeout`` seconds is handed
back to libtorrent (:meth:`Torrent._ask_libtorrent`). With fewer than two
connected peers, or ``Settings.duplicate_requests``, libtorrent fetches
the round itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from torframes.torrent.wire import merkle
from torframes.torrent.wire.blocks import Block, blocks_for_range
from torframes.torrent.wire.connection import (
    PeerChoked,
    PeerConnection,
    PeerFailed,
    PeerRefused,
    median_rate,
)
from torframes.torrent.wire.messages import BLOCK_SIZE, WireError
from torframes.torrent.wire.reader import BlockReader, block_reader

if TYPE_CHECKING:
    from torframes.settings import Settings
    from torframes.torrent.files import FileLayout
    from torframes.torrent.torrent import Torrent

__all__ = ["PieceRound", "piece_blocks", "preconnect", "start_round"]

Peer = tuple[str, int]

#: Requests a peer whose rate is not measured yet may have queued, plus one per block
#: it answered (its first blocks measure it; a slow peer holds back few of them).
SLOW_START = 2
#: Queued blocks looked at past those that wait for a busy fastest peer, per dispatch.
MAX_WAITING_SCAN = 64
#: Seconds between looks for pieces nobody waits for any more (a caller gave up).
SWEEP_SECONDS = 0.02

#: Fewest connected peers for which a round is fetched here rather than by libtorrent
#: (with one peer libtorrent's end-game has no second peer to ask).
MIN_PEERS = 2

_ROUNDS: weakref.WeakKeyDictionary[Torrent, set[asyncio.Task[None]]] = weakref.WeakKeyDictionary()


def piece_blocks(layout: FileLayout, piece: int) -> list[Block]:
    """The canonical blocks of ``piece`` a peer sends (BEP 3 requests), in order.

    v1 and hybrid: the piece's 16 KiB blocks, but not those made only of
    padding (BEP 47 pad files end a piece; they are zeros, never fetched).
    v2-only: the blocks of the one file the piece lies in (BEP 52).
    """
    if layout.v2_only:
        start = piece * layout.piece_length
        entry = next(f for f in layout.files if f.piece_first <= piece <= f.piece_last)
        length = min(start + layout.piece_length, entry.offset + entry.size) - start
        return blocks_for_range(layout, entry, start - entry.offset, length)
    size = layout.piece_size(piece)
    data_end = size - layout.pad_bytes.get(piece, 0)
    start = piece * layout.piece_length
    return [
        Block(piece, begin, min(BLOCK_SIZE, size - begin), start + begin, -1, -1, 0)
        for begin in range(0, data_end, BLOCK_SIZE)
    ]


def preconnect(torrent: Torrent, settings: Settings) -> None:
    """Open our connections to the torrent's peers now, so the first round finds them ready.

    Called when peers are given and when the metadata arrives: the
    handshakes (a round trip, and one more for the unchoke) then overlap the
    metadata download (BEP 9) instead of delaying the first round. Only
    where rounds are fetched here: two or more peers known, duplicate
    requests off, whole pieces (``read_mode="piece"``; a block reader dials
    by itself).
    """
    if settings.duplicate_requests or settings.read_mode != "piece" or torrent.removed:
        return
    reader = block_reader(torrent, settings)
    if len(reader._candidates()) >= MIN_PEERS:
        reader.dial()


def start_round(torrent: Torrent, settings: Settings, pieces: list[int], *, idle: bool) -> None:
    """Fetch ``pieces`` over the wire when two or more peers are connected; else by libtorrent.

    Called where :class:`Torrent` starts a round (the pieces are newly
    wanted, each has a future in ``torrent._fetching``); ``idle``: nothing
    else was in flight.
    """
    import libtorrent

    if settings.duplicate_requests or torrent.removed:
        torrent._ask_libtorrent(pieces, idle=idle)
        return
    opening = libtorrent.peer_info.connecting | libtorrent.peer_info.handshake
    connected = [p for p in torrent.handle.get_peer_info() if not p.flags & opening]
    reader = block_reader(torrent, settings)
    # our own connections count while they open (preconnect): a round asked right after
    # a .torrent is added waits for them rather than going to libtorrent
    ours = reader.open_connections + len(reader._connecting)
    if max(len(connected), ours) < MIN_PEERS:
        torrent._ask_libtorrent(pieces, idle=idle)
        return
    tasks = _ROUNDS.get(torrent)
    if tasks is None:
        tasks = _ROUNDS[torrent] = set()
        torrent._on_shut.append(lambda: [task.cancel() for task in list(tasks)])
    task = asyncio.ensure_future(PieceRound(torrent, reader, settings, pieces).run())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


class _Candidate(NamedTuple):
    """A peer as one dispatch sees it: its connection and pipeline cap."""

    connection: PeerConnection
    cap: int


def _cap(connection: PeerConnection) -> int:
    """Requests ``connection`` may have queued: its depth, or less while it is unmeasured."""
    if connection.rate is not None:
        return connection.depth
    return min(connection.depth, SLOW_START + connection.answered)


class PieceRound:
    """One round of whole pieces, each block asked of the one peer expected to send it first."""

    def __init__(
        self, torrent: Torrent, reader: BlockReader, settings: Settings, pieces: list[int]
    ) -> None:
        self._torrent = torrent
        self._reader = reader
        self._settings = settings
        layout = torrent.layout
        self._blocks = {piece: piece_blocks(layout, piece) for piece in pieces}
        self._todo: deque[Block] = deque(b for blocks in self._blocks.values() for b in blocks)
        self._tried: dict[tuple[int, int], set[Peer]] = {}
        self._got: dict[tuple[int, int], bytes] = {}
        self._source: dict[tuple[int, int], Peer] = {}
        self._left = {piece: len(blocks) for piece, blocks in self._blocks.items()}
        self._asks: set[asyncio.Task[None]] = set()
        self._checks: set[asyncio.Task[None]] = set()
        self._unlisten: dict[Peer, Callable[[], None]] = {}
        self._progress = asyncio.Event()
        #: A peer joined, failed or hung up: look for blocks no peer can serve any more.
        self._peers_changed = True

    # -- the round ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Fetch, check and hand over every piece; give libtorrent what cannot be done here."""
        reader = self._reader
        try:
            await reader._connect(1)  # the others join as they open (_joined)
        except WireError:
            self._give_up(list(self._left))
            return
        for future in list(reader._connecting.values()):
            future.add_done_callback(self._joined)
        for peer, connection in list(reader._connections.items()):
            self._listen(peer, connection)
        try:
            self._dispatch()
            await self._fetch()
        except Exception:
            # a bug here must not leave the callers waiting: libtorrent takes the rest
            self._give_up(list(self._left))
            raise
        finally:
            self._left.clear()
            for remove in self._unlisten.values():
                remove()
            self._unlisten.clear()
            tasks = [*self._asks, *self._checks]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _fetch(self) -> None:
        """Until every piece is handed over or given up; wakes on each block, failure or peer."""
        loop = asyncio.get_running_loop()
        next_sweep = 0.0
        while self._left or self._checks:
            if loop.time() >= next_sweep:
                self._drop_unwanted()
                next_sweep = loop.time() + SWEEP_SECONDS
            if self._peers_changed:
                self._peers_changed = False
                self._give_up(self._stranded())
            if not self._left and not self._checks:
                break
            self._progress.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._progress.wait(), self._settings.block_timeout)
                continue
            # nothing happened for block_timeout: libtorrent takes what is left
            self._give_up(list(self._left))

    def _wanted(self, piece: int) -> bool:
        future = self._torrent._fetching.get(piece)
        return future is not None and not future.done()

    def _drop_unwanted(self) -> None:
        """Forget pieces nobody waits for any more (the caller gave up or timed out)."""
        for piece in [p for p in self._left if not self._wanted(p)]:
            self._forget(piece)

    def _forget(self, piece: int) -> None:
        self._left.pop(piece, None)
        self._todo = deque(b for b in self._todo if b.piece != piece)

    def _give_up(self, pieces: list[int]) -> None:
        """Hand ``pieces`` to libtorrent (blocks no peer can serve, a bad piece, a stall)."""
        for piece in pieces:
            self._forget(piece)
        wanted = [p for p in pieces if self._wanted(p)]
        if wanted:
            self._torrent._ask_libtorrent(wanted)

    def _stranded(self) -> list[int]:
        """Pieces with a queued block that no connected or connecting peer can serve."""
        if self._reader._connecting:
            return []
        stranded = set()
        for block in self._todo:
            tried = self._tried.get(block.key, set())
            if not any(
                not c.closed and p not in tried and self._has(c, block.piece)
                for p, c in self._reader._connections.items()
            ):
                stranded.add(block.piece)
        return sorted(stranded)

    # -- peers ----------------------------------------------------------------------------------

    def _joined(self, future: asyncio.Future[PeerConnection | None]) -> None:
        if future.cancelled() or future.exception() is not None or not self._left:
            return
        connection = future.result()
        if connection is not None:
            self._listen(connection.address, connection)
            self._dispatch()
        self._peers_changed = True
        self._progress.set()

    def _listen(self, peer: Peer, connection: PeerConnection) -> None:
        """Dispatch again whenever ``connection`` unchokes, chokes, or ends a request."""
        if peer not in self._unlisten and not connection.closed:
            self._unlisten[peer] = connection.on_change(self._dispatch)

    @staticmethod
    def _has(connection: PeerConnection, piece: int) -> bool:
        return connection.has(piece) or not connection.announced

    def _dispatch(self) -> None:
        """Ask each queued block of the peer expected to send it first (issue 12, item 4).

        A peer's expected time is its round trip plus what it has queued
        (every round's requests and block reads) and the block, over its
        measured rate (:meth:`PeerConnection.expected_seconds`; peers not
        measured yet count at the median of those that are, and take at most
        :data:`SLOW_START` requests, one more per block answered, until they
        are). A block whose fastest peer has no room in its pipeline waits for
        it rather than going to a slower one (a peer far away shows in its
        handshake's round trip before any block); only peers that let us
        request now are considered.
        """
        if not self._left or not self._todo:
            return
        candidates = [
            c
            for c in self._reader._connections.values()
            if not c.closed and (not c.choked or c.allowed_fast)
        ]
        if not candidates:
            return
        prior = median_rate(candidates)
        peers = [_Candidate(c, _cap(c)) for c in candidates]
        waited: list[Block] = []
        while self._todo and len(waited) <= MAX_WAITING_SCAN:
            if not any(p.connection.queued < p.cap for p in peers):
                break
            block = self._todo.popleft()
            chosen, passed_over = self._fastest(block, peers, prior)
            if chosen is None:
                waited.append(block)
                if not passed_over:
                    break  # every block behind it waits for the same busy peers
                continue
            connection = chosen.connection
            request = connection.request(block.piece, block.begin, block.length)
            ask = asyncio.ensure_future(self._ask(connection.address, request, block))
            self._asks.add(ask)
            ask.add_done_callback(self._asks.discard)
            # an ask cancelled before it ran never awaits its request: end that too
            ask.add_done_callback(
                lambda done, request=request: done.cancelled() and request.cancel()
            )
        self._todo.extendleft(reversed(waited))

    def _fastest(
        self, block: Block, peers: list[_Candidate], prior: float
    ) -> tuple[_Candidate | None, bool]:
        """The peer to ask ``block`` of now, or None to wait for room at the fastest one;
        and whether a peer with room was passed over because it cannot serve this block
        (then a later block may still go to it)."""
        tried = self._tried.get(block.key, ())
        best: _Candidate | None = None
        best_seconds = 0.0
        passed_over = False
        for peer in peers:
            connection = peer.connection
            if (
                connection.address in tried
                or not self._has(connection, block.piece)
                or not connection.may_request(block.piece)
            ):
                passed_over = passed_over or connection.queued < peer.cap
                continue
            seconds = connection.expected_seconds(block.length, prior)
            if best is None or seconds < best_seconds:
                best, best_seconds = peer, seconds
        if best is None or best.connection.queued >= best.cap:
            return None, passed_over
        return best, passed_over

    async def _ask(self, peer: Peer, request: asyncio.Task[bytes], block: Block) -> None:
        try:
            data = await request
        except PeerFailed as error:
            self._tried.setdefault(block.key, set()).add(peer)
            if block.piece in self._left:
                self._todo.appendleft(block)
            if not isinstance(error, (PeerChoked, PeerRefused)):
                await self._reader._drop(peer)
            self._peers_changed = True  # the run looks again for pieces no peer can serve
            self._progress.set()
            self._dispatch()
        except asyncio.CancelledError:
            if block.piece in self._left:
                self._todo.appendleft(block)
            raise
        else:
            self._torrent._wire_bytes += len(data)
            self._reader.piece_bytes += len(data)
            if block.piece in self._left:
                self._got[block.key] = data
                self._source[block.key] = peer
                self._left[block.piece] -= 1
                if self._left[block.piece] == 0:
                    del self._left[block.piece]
                    check = asyncio.ensure_future(self._hand_over(block.piece))
                    self._checks.add(check)
                    check.add_done_callback(self._checks.discard)
            self._progress.set()

    # -- a whole piece --------------------------------------------------------------------------

    async def _hand_over(self, piece: int) -> None:
        """Verify ``piece`` and give it to libtorrent (``add_piece``).

        A piece that fails its check counts as failed bytes and as a hash
        failure of the torrent (:meth:`Torrent._on_hash_failed`: the last
        allowed one fails the piece). When one peer sent all of it, that peer
        is dropped and the piece asked again of the others; otherwise (which
        peer lied is unknown) libtorrent fetches it.
        """
        torrent = self._torrent
        layout = torrent.layout
        blocks = self._blocks[piece]
        data = b"".join(self._got.pop(b.key) for b in blocks)
        # v1, hybrid: pad bytes are zeros (BEP 47); a v2 piece ends with its file (BEP 52)
        size = layout.transfer_size(piece) if layout.v2_only else layout.piece_size(piece)
        data += bytes(size - len(data))
        sources = {self._source.pop(b.key) for b in blocks}
        try:
            good = await self._verified(piece, blocks, data)
        except WireError:
            good = False
        if good:
            if self._wanted(piece):
                torrent.handle.add_piece(piece, data, 0)
        else:
            self._reader.bad_blocks += 1
            torrent._wire_failed += sum(b.length for b in blocks)
            torrent._on_hash_failed(piece)  # counted as libtorrent's are; the last one fails it
            if len(sources) == 1 and self._wanted(piece):
                (peer,) = sources
                await self._reader._drop(peer)
                for block in blocks:
                    self._tried.setdefault(block.key, set()).add(peer)
                self._left[piece] = len(blocks)
                self._todo.extend(blocks)
                self._peers_changed = True
                self._dispatch()
            else:
                self._give_up([piece])
        self._progress.set()

    async def _verified(self, piece: int, blocks: list[Block], data: bytes) -> bool:
        """BEP 3: SHA-1 of the piece against ``pieces`` (v1, hybrid); BEP 52 leaves (v2-only)."""
        torrent = self._torrent
        if not torrent.layout.v2_only:
            expected = bytes(torrent.handle.torrent_file().hash_for_piece(piece))
            return hashlib.sha1(data).digest() == expected
        entry = torrent.layout.entry(blocks[0].file)
        reader = self._reader
        missing = [b.leaf for b in blocks if (entry.index, b.leaf) not in reader._leaves]
        if missing:
            await reader._prove(entry, missing)
        at = 0
        for block in blocks:
            chunk = data[at : at + block.length]
            at += block.length
            leaf = reader._leaves[(entry.index, block.leaf)]
            if merkle.leaf_hash(chunk[: block.file_bytes]) != leaf:
                return False
        return True
