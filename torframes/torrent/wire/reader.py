"""``BlockReader``: byte ranges of a torrent's file, read as 16 KiB blocks from several peers.

Given a range, the reader asks exactly the blocks covering it
(:mod:`~torframes.torrent.wire.blocks`) of the peers the libtorrent
session knows (the torrent's explicit peers, and every peer libtorrent
connected out to), spreading them over the peers that have the piece and
are not choking. A peer that chokes, rejects (BEP 6), stalls or drops the
connection loses the request to the next peer; with no peer left that can
serve a block, the whole range is read as today, in whole pieces verified
by libtorrent (:meth:`Torrent.read <torframes.Torrent.read>`).

Verification, before a byte is used:

* v2 and hybrid torrents: every block's SHA-256 against its leaf, the
  leaves proven against the file's ``pieces root`` with BEP 52 ``hash
  request`` messages (:mod:`~torframes.torrent.wire.merkle`). The hashes
  are asked after the blocks: a libtorrent seeder in seed mode knows a
  piece's leaf hashes only once it has read (and checked) that piece.
* v1 torrents, ``Settings.verify``: ``"piece"`` reads whole pieces (block
  mode changes nothing), ``"peers"`` takes each block from two distinct
  peers and uses it only if the bytes agree (a third peer settles a
  disagreement; the peer outvoted is dropped), ``"none"`` uses one peer's
  bytes and says so (:attr:`BlockRead.verified` is False).

Blocks are kept in memory for later reads: verified ones for any read,
unverified ones (``"none"``) apart, only for reads that are unverified
anyway. No block is given to libtorrent's storage or the piece cache.
libtorrent keeps discovery, metadata and whole pieces; this module owns
only its own connections, closed with the torrent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torframes.torrent.files import FileEntry
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

if TYPE_CHECKING:
    from torframes.settings import Settings
    from torframes.torrent.torrent import Torrent

__all__ = ["BlockRead", "BlockReader", "NoBlockPeers", "block_reader", "reads_unverified"]

Peer = tuple[str, int]


class NoBlockPeers(WireError):
    """No connected peer can serve (or vouch for) a block: read whole pieces instead."""


@dataclass(frozen=True)
class BlockRead:
    """Bytes of a file and how they were checked."""

    data: bytes
    #: True when every byte was verified (merkle, two agreeing peers, or whole pieces).
    verified: bool
    #: True when the bytes came from whole pieces through libtorrent (the fallback).
    from_pieces: bool = False


class BlockReader:
    """Block-level reads for one torrent; one per torrent (:func:`block_reader`)."""

    def __init__(self, torrent: Torrent, settings: Settings) -> None:
        self._torrent = torrent
        self._settings = settings
        self._connections: dict[Peer, PeerConnection] = {}
        self._connecting: dict[Peer, asyncio.Future[PeerConnection | None]] = {}
        #: Peers that could not be reached, broke the protocol or sent bad bytes.
        self._dropped: set[Peer] = set()
        self._verified: dict[tuple[int, int], bytes] = {}
        #: ``verify="none"``: blocks no check vouched for, kept apart and only ever
        #: served to reads that are themselves unverified.
        self._unchecked: dict[tuple[int, int], bytes] = {}
        self._leaves: dict[tuple[int, int], bytes] = {}
        self._gone_payload = 0
        self._gone_hashes = 0
        self._closed = False
        self._state = asyncio.Event()
        #: The source address for loopback peers: one of our own in 127.0.0.0/8, not the
        #: 127.0.0.1 libtorrent's session dials from (Transmission drops a second
        #: connection from an address it is connected to).
        self._loopback_source = "127.{}.{}.{}".format(*os.urandom(3))
        #: PIECE payload fetched here for rounds of whole pieces (:mod:`.pieces`): counted
        #: in the torrent's ``bytes_fetched``, not in :attr:`block_bytes`.
        self.piece_bytes = 0
        #: Reads answered from whole pieces because no peer could serve blocks.
        self.fallbacks = 0
        #: Blocks whose bytes failed their check (merkle leaf, or outvoted by peers).
        self.bad_blocks = 0

    # -- counters --------------------------------------------------------------------------

    @property
    def block_bytes(self) -> int:
        """PIECE payload bytes received for block reads, from every peer (duplicates too)."""
        received = self._gone_payload + sum(c.payload_bytes for c in self._connections.values())
        return received - self.piece_bytes

    @property
    def hash_bytes(self) -> int:
        """BEP 52 hash bytes received (32 per hash, leaves and uncles)."""
        return self._gone_hashes + sum(c.hash_bytes for c in self._connections.values())

    @property
    def open_connections(self) -> int:
        """Peer connections open now (0 once the torrent is shut)."""
        return sum(not c.closed for c in self._connections.values())

    @property
    def ready_connections(self) -> int:
        """Peer connections open whose peer lets us request now (it unchoked us)."""
        return sum(not c.closed and not c.choked for c in self._connections.values())

    async def wait_changed(self, timeout: float) -> None:
        """Until a connection opens, or one's state changes (choke, unchoke, a request
        ending, the end), or ``timeout`` seconds pass."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._state.wait(), max(timeout, 0))

    def _state_changed(self) -> None:
        self._state.set()
        self._state = asyncio.Event()

    # -- reading ---------------------------------------------------------------------------

    @property
    def _v2(self) -> bool:
        return self._torrent.infohash_v2 is not None

    @property
    def _checked_by_blocks(self) -> bool:
        """True when blocks can be checked here (v2 merkle or v1 ``peers``) or need not be."""
        return self._v2 or self._settings.verify in ("peers", "none")

    async def read(self, file: int | str, start: int, length: int) -> BlockRead:
        """Bytes ``[start, start + length)`` of ``file``: from blocks, else from whole pieces."""
        covering, at = await self.read_blocks(file, start, length)
        data = covering.data[start - at : start - at + length]
        return BlockRead(data, covering.verified, covering.from_pieces)

    async def read_blocks(self, file: int | str, start: int, length: int) -> tuple[BlockRead, int]:
        """Like :meth:`read`, but the bytes of every covering block (clipped to the file).

        Returns the read and where its bytes start in the file (at or before
        ``start``): a parser is fed whole blocks, as it is fed whole pieces.
        """
        torrent = self._torrent
        await torrent.wait_metadata()
        entry = torrent.layout.entry(file)
        blocks = blocks_for_range(torrent.layout, entry, start, length)
        if not blocks:
            return BlockRead(b"", True), start
        lo = max(blocks[0].offset, entry.offset)
        hi = min(blocks[-1].offset + blocks[-1].length, entry.offset + entry.size)
        if not self._checked_by_blocks:
            return await self._from_pieces(entry, lo, hi), lo - entry.offset
        try:
            got, verified = await self._fetch(entry, blocks)
        except NoBlockPeers:
            return await self._from_pieces(entry, lo, hi), lo - entry.offset
        joined = b"".join(got[block.key] for block in blocks)
        skip = lo - blocks[0].offset
        return BlockRead(joined[skip : skip + hi - lo], verified), lo - entry.offset

    async def _from_pieces(self, entry: FileEntry, lo: int, hi: int) -> BlockRead:
        self.fallbacks += 1
        data = await self._torrent.read(entry.index, lo - entry.offset, hi - lo)
        return BlockRead(data, True, from_pieces=True)

    async def _fetch(
        self, entry: FileEntry, blocks: list[Block]
    ) -> tuple[dict[tuple[int, int], bytes], bool]:
        """Every block's bytes, checked as the torrent and settings allow; and whether verified."""
        got = {b.key: self._verified[b.key] for b in blocks if b.key in self._verified}
        unchecked = not self._v2 and self._settings.verify == "none"
        if unchecked:
            got.update((b.key, self._unchecked[b.key]) for b in blocks if b.key in self._unchecked)
        wanted = [b for b in blocks if b.key not in got]
        if not wanted:
            return got, not unchecked
        await self._connect(2 if not self._v2 and self._settings.verify == "peers" else 1)
        if self._v2:
            fetched = await self._merkle_blocks(entry, wanted)
        elif self._settings.verify == "peers":
            fetched = await asyncio.gather(*(self._agreed_block(b) for b in wanted))
        else:
            answers = await asyncio.gather(*(self._any_block(b, set()) for b in wanted))
            for block, (data, _) in zip(wanted, answers, strict=True):
                self._unchecked[block.key] = data
                got[block.key] = data
            return got, False
        for block, data in zip(wanted, fetched, strict=True):
            self._verified[block.key] = data  # type: ignore[assignment]
            got[block.key] = data  # type: ignore[assignment]
        return got, True

    # -- one block ---------------------------------------------------------------------------

    async def _any_block(self, block: Block, exclude: set[Peer]) -> tuple[bytes, Peer]:
        """The block from some peer not in ``exclude`` (which gains each peer that failed)."""
        while True:
            peer = self._pick(block.piece, exclude)
            if peer is None:
                raise NoBlockPeers(
                    f"no peer left to serve block {block.begin} of piece {block.piece}"
                )
            connection = self._connections[peer]
            try:
                return await connection.request(block.piece, block.begin, block.length), peer
            except (PeerChoked, PeerRefused):
                exclude.add(peer)
            except PeerFailed:
                exclude.add(peer)
                await self._drop(peer)

    async def _merkle_blocks(self, entry: FileEntry, blocks: list[Block]) -> list[bytes]:
        """v2 blocks, each matching its leaf hash, proven against the pieces root (BEP 52).

        The leaf hashes are asked at once, beside the blocks, of one peer per
        aligned subtree (a peer that has them answers within the same round
        trip); what is refused then (a libtorrent seeder in seed mode knows a
        piece's leaves only once it has read the piece) is asked again once
        the blocks are in, of every peer in turn. A block that does not match
        its leaf is asked again of another peer, and the peer that sent it is
        dropped.
        """
        missing = [b.leaf for b in blocks if (entry.index, b.leaf) not in self._leaves]
        early = asyncio.ensure_future(self._prove(entry, missing, once=True)) if missing else None
        try:
            fetched = await asyncio.gather(*(self._any_block(b, set()) for b in blocks))
        except BaseException:
            if early is not None:
                early.cancel()
                with contextlib.suppress(asyncio.CancelledError, WireError):
                    await early
            raise
        if early is not None:
            await early
        still = [leaf for leaf in missing if (entry.index, leaf) not in self._leaves]
        if still:
            await self._prove(entry, still, prefer=fetched[0][1])
        out = []
        for block, (data, peer) in zip(blocks, fetched, strict=True):
            exclude = {peer}
            while (
                merkle.leaf_hash(data[: block.file_bytes])
                != self._leaves[(entry.index, block.leaf)]
            ):
                self.bad_blocks += 1
                await self._drop(peer)
                data, peer = await self._any_block(block, exclude)
                exclude.add(peer)
            out.append(data)
        return out

    async def _agreed_block(self, block: Block) -> bytes:
        """A v1 block from two distinct peers whose bytes agree; a third settles a tie."""
        exclude: set[Peer] = set()
        if len(self._usable(block.piece, exclude)) < 2:
            raise NoBlockPeers(f"fewer than two peers can serve piece {block.piece}")
        first, peer_a = await self._any_block(block, exclude)
        exclude.add(peer_a)
        second, peer_b = await self._any_block(block, exclude)
        if first == second:
            return first
        exclude.add(peer_b)
        third, _ = await self._any_block(block, exclude)
        self.bad_blocks += 1
        if third == first:
            await self._drop(peer_b)
            return first
        if third == second:
            await self._drop(peer_a)
            return second
        raise NoBlockPeers(f"three peers disagree on block {block.begin} of piece {block.piece}")

    # -- leaf hashes (BEP 52) -----------------------------------------------------------------

    async def _prove(
        self,
        entry: FileEntry,
        leaves: Iterable[int],
        *,
        prefer: Peer | None = None,
        once: bool = False,
    ) -> None:
        """Learn the leaf hashes of ``leaves``, each answer checked against the pieces root.

        One hash request per aligned subtree, all at once. ``once``: ask one
        peer per subtree and leave unproven what it refuses (no error);
        otherwise every peer in turn, then :class:`NoBlockPeers`.
        """
        total = merkle.num_leaves(entry.size)
        root = self._pieces_root(entry)
        if total == 1:  # a one-block file: its root is its leaf
            self._leaves[(entry.index, 0)] = root
            return
        groups = merkle.leaf_groups(leaves, total)
        await asyncio.gather(
            *(self._prove_group(entry, root, group, prefer=prefer, once=once) for group in groups)
        )

    async def _prove_group(
        self,
        entry: FileEntry,
        root: bytes,
        group: tuple[int, int],
        *,
        prefer: Peer | None,
        once: bool,
    ) -> None:
        index, length = group
        total = merkle.num_leaves(entry.size)
        layers = merkle.proof_layers(entry.size)
        exclude: set[Peer] = set()
        while True:
            usable = self._usable(None, exclude)
            peer = prefer if prefer in usable else self._pick(None, exclude)
            if peer is None:
                if once:
                    return
                raise NoBlockPeers(f"no peer answers hash requests for {entry.path!r}")
            try:
                hashes = await self._connections[peer].hashes(root, 0, index, length, layers)
                proven = merkle.verify_leaves(root, index, length, hashes, total)
            except merkle.HashMismatch:
                exclude.add(peer)
                await self._drop(peer)
                continue
            except PeerRefused:
                if once:
                    return
                exclude.add(peer)
                continue
            except PeerFailed:
                exclude.add(peer)
                await self._drop(peer)
                continue
            for offset, leaf in enumerate(proven):
                self._leaves[(entry.index, index + offset)] = leaf
            return

    def _pieces_root(self, entry: FileEntry) -> bytes:
        info = self._torrent.handle.torrent_file()
        return bytes(info.layout().root(entry.index).to_bytes())

    # -- peers ---------------------------------------------------------------------------------

    def _pick(self, piece: int | None, exclude: set[Peer]) -> Peer | None:
        """The usable peer that has ``piece`` and is expected to answer first: unchoked
        ones first, then choked ones that allow it fast (BEP 6), then choked ones (which
        are waited for); among them by round trip and queued bytes over measured rate
        (:meth:`PeerConnection.expected_seconds`, unmeasured peers at the median rate).
        A peer that has not said yet what it has may have it: it is asked too."""
        usable = self._usable(piece, exclude)
        prior = median_rate(self._connections.values())
        ranked = [
            (
                c.choked,
                piece is not None and not c.may_request(piece),
                c.expected_seconds(BLOCK_SIZE, prior),
                i,
                p,
            )
            for i, (p, c) in enumerate(self._connections.items())
            if p in usable
        ]
        return min(ranked)[-1] if ranked else None

    def _usable(self, piece: int | None, exclude: set[Peer]) -> set[Peer]:
        """Connected peers not in ``exclude`` that have ``piece`` (or have not said)."""
        return {
            p
            for p, c in self._connections.items()
            if p not in exclude
            and not c.closed
            and (piece is None or c.has(piece) or not c.announced)
        }

    def _candidates(self) -> list[Peer]:
        """Peers to dial: the torrent's explicit peers, then those libtorrent connected out to."""
        import libtorrent

        found = list(self._torrent.peers)
        if not self._torrent.removed:
            outgoing = libtorrent.peer_info.outgoing_connection
            for info in self._torrent.handle.get_peer_info():
                if info.flags & outgoing:
                    found.append((str(info.ip[0]), int(info.ip[1])))
        unique = list(dict.fromkeys(found))
        return [p for p in unique if p not in self._dropped][: self._settings.block_peers]

    def dial(self) -> None:
        """Start connecting to every candidate not connected or connecting yet.

        Connections may open before the torrent's metadata is in (they learn
        its piece count when it is).
        """
        if self._closed:
            return
        if self._torrent.has_metadata:
            for connection in list(self._connections.values()):
                connection.set_num_pieces(self._torrent.num_pieces)
        for peer in self._candidates():
            if peer in self._connections or peer in self._connecting:
                continue
            self._connecting[peer] = asyncio.ensure_future(self._open(peer))

    async def _connect(self, wanted: int = 1) -> None:
        """Dial every candidate not connected yet; return once ``wanted`` peers are connected.

        The others keep connecting in the background (each within
        ``block_timeout``) and join as they come: a peer that accepts the
        connection but never answers delays nothing while others serve.
        """
        if self._closed:
            raise NoBlockPeers("the block reader is closed")
        self.dial()
        while self.open_connections < wanted and self._connecting:
            await asyncio.wait(set(self._connecting.values()), return_when=asyncio.FIRST_COMPLETED)

    async def _open(self, peer: Peer) -> PeerConnection | None:
        torrent = self._torrent
        info_hash = bytes.fromhex(torrent.infohash_v2 or torrent.infohash)
        try:
            connection = await PeerConnection.open(
                peer,
                info_hash,
                num_pieces=torrent.num_pieces if torrent.has_metadata else None,
                v2=self._v2,
                timeout=self._settings.block_timeout,
                local_host=self._loopback_source if _is_loopback_v4(peer[0]) else None,
            )
        except PeerFailed:
            self._dropped.add(peer)
            return None
        finally:
            self._connecting.pop(peer, None)
        if self._closed:
            await connection.close()
            return None
        if torrent.has_metadata:
            connection.set_num_pieces(torrent.num_pieces)
        self._connections[peer] = connection
        connection.on_change(self._state_changed)
        self._state_changed()
        return connection

    async def _drop(self, peer: Peer) -> None:
        """Stop using ``peer`` (it failed or sent bad bytes); its counters are kept."""
        self._dropped.add(peer)
        connection = self._connections.pop(peer, None)
        if connection is not None:
            self._gone_payload += connection.payload_bytes
            self._gone_hashes += connection.hash_bytes
            await connection.close()

    # -- closing --------------------------------------------------------------------------------

    def abort(self) -> None:
        """Close every connection at once (the torrent is being removed)."""
        self._closed = True
        for future in self._connecting.values():
            future.cancel()
        for connection in self._connections.values():
            connection.abort()

    async def close(self) -> None:
        """Close every connection and wait for their tasks."""
        self._closed = True
        for future in list(self._connecting.values()):
            future.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await future
        for connection in list(self._connections.values()):
            await connection.close()


def reads_unverified(torrent: Torrent, settings: Settings) -> bool:
    """True when block reads of ``torrent`` use bytes no check vouched for.

    That is block mode on a v1 torrent with ``verify="none"``: an index
    parsed from them must not be kept in the persistent cache.
    """
    return (
        settings.read_mode == "block" and torrent.infohash_v2 is None and settings.verify == "none"
    )


def _is_loopback_v4(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 and address.is_loopback


_READERS: weakref.WeakKeyDictionary[Torrent, BlockReader] = weakref.WeakKeyDictionary()


def block_reader(torrent: Torrent, settings: Settings) -> BlockReader:
    """The torrent's block reader, made on first use; closed when the torrent is shut."""
    reader = _READERS.get(torrent)
    if reader is None:
        reader = BlockReader(torrent, settings)
        _READERS[torrent] = reader
        torrent._on_shut.append(reader.abort)
    return reader
