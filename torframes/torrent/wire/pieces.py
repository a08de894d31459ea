"""Whole pieces over our own wire connections: each block asked of exactly one peer.

libtorrent 2.1, once every wanted block is requested, asks the blocks
still in flight of every other idle unchoked peer as well (its end-game,
``request_blocks.cpp``; no setting turns it off): with several seeders and
small pieces they upload up to 1.5x the piece floor. When a round of whole
pieces is wanted and two or more peers are connected, this module fetches
the round's blocks itself (issue 12, item 2):

* the blocks of the round wait in one queue; each connected peer pulls
  the next block it has (BEP 3 ``bitfield``/``have``, BEP 6 ``have all``)
  while it lets us request (unchoked, or the piece is ``allowed fast``)
  and its pipeline has room: a block is asked of one peer only;
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
from typing import TYPE_CHECKING

from torframes.torrent.wire import merkle
from torframes.torrent.wire.blocks import Block, blocks_for_range
from torframes.torrent.wire.connection import PeerChoked, PeerConnection, PeerFailed, PeerRefused
from torframes.torrent.wire.messages import BLOCK_SIZE, WireError
from torframes.torrent.wire.reader import BlockReader, block_reader

if TYPE_CHECKING:
    from torframes.settings import Settings
    from torframes.torrent.files import FileLayout
    from torframes.torrent.torrent import Torrent

__all__ = ["PieceRound", "piece_blocks", "start_round"]

Peer = tuple[str, int]

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
    if max(len(connected), reader.open_connections) < MIN_PEERS:
        torrent._ask_libtorrent(pieces, idle=idle)
        return
    tasks = _ROUNDS.get(torrent)
    if tasks is None:
        tasks = _ROUNDS[torrent] = set()
        torrent._on_shut.append(lambda: [task.cancel() for task in list(tasks)])
    task = asyncio.ensure_future(PieceRound(torrent, reader, settings, pieces).run())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


class PieceRound:
    """One round of whole pieces, its blocks pulled by the connected peers (one peer each)."""

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
        self._inflight: dict[Peer, int] = {}
        self._workers: dict[Peer, asyncio.Task[None]] = {}
        self._checks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._progress = asyncio.Event()

    # -- the round ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Fetch, check and hand over every piece; give libtorrent what cannot be done here."""
        reader = self._reader
        try:
            await reader._connect(MIN_PEERS)
        except WireError:
            self._give_up(list(self._left))
            return
        for future in list(reader._connecting.values()):
            future.add_done_callback(self._joined)
        for peer, connection in list(reader._connections.items()):
            self._start_worker(peer, connection)
        try:
            await self._fetch()
        except Exception:
            # a bug here must not leave the callers waiting: libtorrent takes the rest
            self._give_up(list(self._left))
            raise
        finally:
            self._left.clear()
            self._notify()
            workers = [*self._workers.values(), *self._checks]
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _fetch(self) -> None:
        """Until every piece is handed over or given up; wakes on each block, failure or peer."""
        while self._left or self._checks:
            self._drop_unwanted()
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

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- peers ----------------------------------------------------------------------------------

    def _joined(self, future: asyncio.Future[PeerConnection | None]) -> None:
        if future.cancelled() or future.exception() is not None or not self._left:
            return
        connection = future.result()
        if connection is not None:
            self._start_worker(connection.address, connection)
        self._notify()
        self._progress.set()

    def _start_worker(self, peer: Peer, connection: PeerConnection) -> None:
        if peer not in self._workers and not connection.closed:
            self._workers[peer] = asyncio.ensure_future(self._worker(peer, connection))

    @staticmethod
    def _has(connection: PeerConnection, piece: int) -> bool:
        return connection.has(piece) or not connection.announced

    def _take(self, peer: Peer, connection: PeerConnection) -> Block | None:
        """The first queued block this peer has, may be asked now, and has not failed."""
        for block in self._todo:
            if (
                self._has(connection, block.piece)
                and connection.may_request(block.piece)
                and peer not in self._tried.get(block.key, ())
            ):
                self._todo.remove(block)
                return block
        return None

    async def _worker(self, peer: Peer, connection: PeerConnection) -> None:
        """Pull blocks for ``peer`` while it serves: at most its pipeline depth in flight."""
        asks: set[asyncio.Task[None]] = set()
        try:
            while (self._left or self._checks) and not connection.closed:
                block = None
                if self._inflight.get(peer, 0) < connection.depth:
                    block = self._take(peer, connection)
                if block is None:
                    changed = asyncio.ensure_future(self._changed.wait())
                    state = asyncio.ensure_future(connection.wait_changed())
                    try:
                        await asyncio.wait({changed, state}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        changed.cancel()
                        state.cancel()
                    continue
                self._inflight[peer] = self._inflight.get(peer, 0) + 1
                ask = asyncio.ensure_future(self._ask(peer, connection, block))
                asks.add(ask)
                ask.add_done_callback(asks.discard)
        finally:
            for ask in list(asks):
                ask.cancel()
            await asyncio.gather(*asks, return_exceptions=True)

    async def _ask(self, peer: Peer, connection: PeerConnection, block: Block) -> None:
        try:
            data = await connection.request(block.piece, block.begin, block.length)
        except PeerFailed as error:
            self._tried.setdefault(block.key, set()).add(peer)
            if block.piece in self._left:
                self._todo.appendleft(block)
            if not isinstance(error, (PeerChoked, PeerRefused)):
                await self._reader._drop(peer)
            self._progress.set()  # the run looks again for pieces no peer can serve
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
        finally:
            self._inflight[peer] -= 1
            self._notify()

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
                self._notify()
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
