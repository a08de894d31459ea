"""One torrent in a :class:`~torframes.Client`: metadata, files, and pieces on demand.

Every piece starts at priority 0 (``default_dont_download`` for a magnet,
piece priorities given up front for a ``.torrent``); a piece is asked for,
at top priority, only when a caller needs bytes it holds. Each awaited thing has one
future: the metadata, each piece being fetched (shared by every caller that
wants it), each piece being read back from storage. The client's alert pump
resolves them; :meth:`Torrent.remove` and :meth:`Client.close
<torframes.Client.close>` fail whatever is still pending.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

from torframes.errors import (
    ClientClosed,
    MetadataTimeout,
    NoPeers,
    PieceFailed,
    PieceTimeout,
    ReadTooLarge,
    TorframesError,
    TorrentError,
)
from torframes.plural import plural
from torframes.torrent.files import FileEntry, FileLayout
from torframes.torrent.pieces import piece_range, slice_pieces
from torframes.torrent.progress import TorrentProgress
from torframes.torrent.sources import hex_hashes
from torframes.torrent.stats import TorrentStats

if TYPE_CHECKING:
    import libtorrent
    import pandas as pd

    from torframes.torrent.client import Client

__all__ = ["INVALID_INFO_HASH", "MAX_HASH_FAILURES", "MAX_HASH_REDIALS", "Peer", "Torrent"]

#: A peer address: (host, port).
Peer = tuple[str, int]

#: A piece failing its hash check this many times in a row raises PieceFailed
#: (at once if no peer is left, connected or to connect to, to send it again).
MAX_HASH_FAILURES = 3

#: What to try when no peer is found, named by setting and command-line flag.
_PEER_HINT = (
    "add a peer that has it (--peer HOST:PORT, peers=[(host, port)], or x.pe in the "
    "magnet) or a source with trackers"
)
_DHT_HINT = ", or enable the DHT (Settings(enable_dht=True), TORFRAMES_ENABLE_DHT=1)"

#: First pause between two rounds of discovery (DHT lookups, tracker announces) while
#: metadata or pieces are awaited; doubled each round up to DISCOVERY_MAX_PAUSE.
DISCOVERY_FIRST_PAUSE = 2.0
DISCOVERY_MAX_PAUSE = 30.0
#: Seconds the DHT may take to reach its first node, when it is a torrent's only
#: way to find peers, before waiting for it raises NoPeers.
DHT_BOOTSTRAP_WAIT = 5.0
_DHT_NODES_HINT = (
    ", or give the DHT bootstrap nodes that answer "
    "(Settings(libtorrent={'dht_bootstrap_nodes': 'host:port,...'}))"
)

#: libtorrent's ``errors::invalid_info_hash``: a peer answered our handshake with another hash.
INVALID_INFO_HASH = 39
#: Times one peer that answered with another infohash is dialled again at once.
MAX_HASH_REDIALS = 3

_TOP_PRIORITY = 7
_DONT_DOWNLOAD = 0


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    """Fail ``future`` if still pending, without "exception never retrieved" noise."""
    if not future.done():
        future.set_exception(error)
        future.exception()  # marks it retrieved; awaiting it still raises


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


class Torrent:
    """A torrent added to a :class:`~torframes.Client`; made by :meth:`Client.add`.

    Metadata-derived attributes (``name``, ``piece_length``, ``files``…) need
    the metadata: ``await torrent.wait_metadata()`` first (every coroutine
    here waits for it by itself).
    """

    def __init__(
        self,
        client: Client,
        handle: libtorrent.torrent_handle,
        *,
        peers: Iterable[Peer] = (),
        save_path: str,
        added_at: float,
        metadata_from_cache: bool = False,
    ) -> None:
        self._client = client
        self._handle = handle
        self._loop = client._loop
        self._peers: list[Peer] = []
        self._save_path = save_path
        self._added_at = added_at
        self._metadata_at: float | None = None
        self._layout: FileLayout | None = None
        self._files: pd.DataFrame | None = None
        self._v1, self._v2 = hex_hashes(handle.info_hashes())
        self._metadata = self._loop.create_future()
        self._fetching: dict[int, asyncio.Future[None]] = {}
        #: Callers waiting for each piece being fetched; at 0 the piece is dropped.
        self._waiters: dict[int, int] = {}
        self._reading: dict[int, asyncio.Future[bytes]] = {}
        self._hash_failures: dict[int, int] = {}
        self._held: set[int] = set()
        #: Pieces found in storage by libtorrent's check (the cache), not fetched.
        self._stored: set[int] = set()
        self._metadata_from_cache = metadata_from_cache
        #: Until torrent_checked_alert: pieces reported finished that nobody asked
        #: for were found in storage by the check (piece storage in the cache).
        self._checking_storage = client.pieces_in_cache
        self._piece_times: dict[int, float] = {}
        #: The next round of discovery (DHT lookup, tracker announce), while something is awaited.
        self._discovery: asyncio.TimerHandle | None = None
        #: Failed with NoPeers when no discovery source can work (a DHT without nodes).
        self._stranded: asyncio.Future[None] | None = None
        #: The pending check that a round is not held up by peers choking us.
        self._choke_check: asyncio.TimerHandle | None = None
        #: Times every peer was reconnected because all of them kept us choked.
        self._reconnects = 0
        #: libtorrent's transfer counters restart when a torrent is paused and
        #: resumed (a reconnect): (payload, redundant, failed) bytes counted before.
        self._counted_before = (0, 0, 0)
        self._pieces_fetched = 0
        self._rounds = 0
        #: PIECE payload of whole pieces fetched over our own connections (wire/pieces.py).
        self._wire_bytes = 0
        #: Of those, bytes of pieces that failed their check.
        self._wire_failed = 0
        self._final_status: libtorrent.torrent_status | None = None
        self._gone: TorframesError | None = None
        self._removal: asyncio.Future[None] | None = None
        self._saving: list[asyncio.Future[bytes]] = []
        self._flushing: list[asyncio.Future[None]] = []
        self._checking: list[asyncio.Future[None]] = []
        #: Called with each newly verified piece (widgets follow the download through this).
        self._piece_listeners: list[Callable[[int], object]] = []
        #: Peers dialled again after answering our handshake with another infohash.
        self._hash_redials: dict[Peer, int] = {}
        #: Called when the torrent is shut (the block reader closes its connections).
        self._on_shut: list[Callable[[], object]] = []
        self.add_peers(peers)

    # -- identity ----------------------------------------------------------------

    @property
    def infohash(self) -> str:
        """v1 infohash in hex if the torrent has one, else its v2 infohash in hex."""
        return self._v1 or self._v2 or ""

    @property
    def infohash_v1(self) -> str | None:
        """The v1 (SHA-1) infohash in hex, None for a v2-only torrent."""
        return self._v1

    @property
    def infohash_v2(self) -> str | None:
        """The v2 (SHA-256) infohash in hex, None for a v1-only torrent (or not known yet)."""
        return self._v2

    @property
    def handle(self) -> libtorrent.torrent_handle:
        """libtorrent's handle, for what this class does not cover."""
        return self._handle

    @property
    def save_path(self) -> str:
        """Folder libtorrent stores this torrent's pieces under."""
        return self._save_path

    @property
    def peers(self) -> tuple[Peer, ...]:
        """Peers given explicitly (``peers=`` and magnet ``x.pe``); reconnected as needed."""
        return tuple(self._peers)

    @property
    def has_metadata(self) -> bool:
        """True once the info dictionary is known."""
        return self._layout is not None

    @property
    def removed(self) -> bool:
        """True once removed from its client (or the client closed)."""
        return self._gone is not None

    def __repr__(self) -> str:
        if self._layout is None:
            return f"<Torrent {self.infohash} (no metadata yet)>"
        layout = self._layout
        return (
            f"<Torrent {self.infohash} {layout.name!r}: {plural(len(layout.files), 'file')}, "
            f"{plural(layout.num_pieces, 'piece')} of {layout.piece_length} B, "
            f"{len(self._held)} held>"
        )

    def _repr_html_(self) -> str:
        from torframes.widgets.reprs import torrent_html

        return torrent_html(self)

    # -- metadata ------------------------------------------------------------------

    @property
    def layout(self) -> FileLayout:
        """Where files and pieces lie (raises :class:`TorrentError` before metadata)."""
        if self._layout is None:
            raise TorrentError(
                "the torrent's metadata is not known yet: await wait_metadata() first",
                infohash=self.infohash,
            )
        return self._layout

    @property
    def name(self) -> str:
        """The torrent's name (a magnet's ``dn`` before metadata, if it had one)."""
        if self._layout is not None:
            return self._layout.name
        if self._gone is None:
            return str(self._handle.status().name)
        return ""

    @property
    def piece_length(self) -> int:
        """Bytes per piece (all but the last piece)."""
        return self.layout.piece_length

    @property
    def num_pieces(self) -> int:
        """Number of pieces."""
        return self.layout.num_pieces

    @property
    def total_size(self) -> int:
        """Bytes in the torrent's byte space, pad files included."""
        return self.layout.total_size

    @property
    def files(self) -> pd.DataFrame:
        """One row per file, pad files left out; see :data:`torframes.torrent.files.FILE_DTYPES`.

        Columns ``index`` (libtorrent's file index, also the frame's index),
        ``path``, ``size``, ``offset`` (where the file starts in the torrent),
        ``piece_first``/``piece_last`` (the pieces holding it).
        """
        if self._files is None:
            self._files = self.layout.table()
        return self._files.copy()

    async def wait_metadata(self, timeout: float | None = None) -> None:
        """Wait until the metadata is known (at once for a ``.torrent`` source).

        ``timeout`` defaults to ``settings.metadata_timeout``. Raises
        :class:`NoPeers` at once when there is no way to find a peer (none
        given, no tracker, DHT and local discovery off), and at the timeout
        when no peer was found; :class:`MetadataTimeout` when peers were known
        but none sent the metadata; :class:`ClientClosed` if the client closes.
        """
        if self._layout is not None:
            return
        self._check_alive()
        self._check_peer_sources("wait for its metadata")
        if timeout is None:
            timeout = self._client.settings.metadata_timeout
        stranded = self._stranded_future()
        self._keep_discovering()
        done, _ = await asyncio.wait(
            {self._metadata, stranded}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if stranded in done:
            self._stranded = None
            stranded.result()
        if done:
            self._metadata.result()
            return
        if self._gone is None and not self._peers:
            status = self._handle.status()
            if status.list_peers == 0 and status.num_peers == 0:
                raise NoPeers(
                    f"no peer found for the torrent within {timeout:g} s "
                    f"({self._peer_summary()}); {self._peer_hint()}",
                    infohash=self.infohash,
                )
        raise MetadataTimeout(
            f"no metadata within {timeout:g} s ({self._peer_summary()}); "
            f"raise the timeout (Settings(metadata_timeout=...), "
            f"TORFRAMES_METADATA_TIMEOUT), or {self._peer_hint()}",
            infohash=self.infohash,
        )

    def _peer_hint(self) -> str:
        """What to try to find peers; the DHT only if it is off."""
        dht_on = self._client.settings.to_libtorrent().get("enable_dht")
        return _PEER_HINT + ("" if dht_on else _DHT_HINT)

    def _can_find_peers(self) -> bool:
        """True if a peer may come: given, connected, or from trackers, the DHT or LSD."""
        if self._gone is not None or self._peers:
            return True
        pack = self._client.settings.to_libtorrent()
        if pack.get("enable_lsd") or self._handle.trackers():
            return True
        if pack.get("enable_dht") and not self._dht_cannot_start(pack):
            return True
        return self._handle.status().num_peers > 0

    def _dht_cannot_start(self, pack: dict[str, Any]) -> bool:
        """True when the DHT has no node and no bootstrap node to ask (BEP 5)."""
        return not pack.get("dht_bootstrap_nodes", "x") and self._client.dht_nodes() == 0

    def _check_peer_sources(self, doing: str) -> None:
        """Raise :class:`NoPeers` at once when no peer can ever be found (nothing to wait for)."""
        if not self._can_find_peers():
            pack = self._client.settings.to_libtorrent()
            dht = (
                "the DHT has no nodes and no bootstrap nodes"
                if pack.get("enable_dht")
                else "DHT off"
            )
            lsd = "local service discovery off"
            raise NoPeers(
                f"cannot {doing}: no peer given, no tracker in the source, {dht}, {lsd}; "
                f"{self._peer_hint()}" + (_DHT_NODES_HINT if pack.get("enable_dht") else ""),
                infohash=self.infohash,
            )

    # -- discovery -------------------------------------------------------------------

    def _stranded_future(self) -> asyncio.Future[None]:
        if self._stranded is None or self._stranded.done():
            self._stranded = self._loop.create_future()
        return self._stranded

    def _awaiting(self) -> bool:
        """True while metadata or some piece is awaited."""
        return not self._metadata.done() or any(not f.done() for f in self._fetching.values())

    def _keep_discovering(self) -> None:
        """Start the rounds of discovery, unless they are running."""
        if self._discovery is None and self._gone is None:
            pause = DISCOVERY_FIRST_PAUSE
            self._discovery = self._loop.call_later(pause, self._discover, pause)

    def _discover(self, pause: float) -> None:
        """One round of discovery while something is awaited; the next after twice the pause.

        libtorrent asks the DHT for peers (BEP 5 ``get_peers``) when a torrent
        starts, about 4 s later, then only every ``dht_announce_interval``
        (15 min): a seeder that joins later is never found while metadata is
        awaited. Here the DHT is asked again, and trackers (BEP 3, BEP 15)
        announced to, at 2, 6, 14, 30 s… (at most every 30 s), and the
        explicit peers dialled. A torrent whose only source is a DHT that
        still has no node after :data:`DHT_BOOTSTRAP_WAIT` seconds fails its
        waits with :class:`NoPeers`.
        """
        import libtorrent

        self._discovery = None
        if self._gone is not None or not self._awaiting():
            return
        pack = self._client.settings.to_libtorrent()
        trackers = bool(self._handle.trackers())
        if pack.get("enable_dht"):
            if self._client.dht_nodes() > 0:
                self._handle.force_dht_announce()
            elif not (self._peers or trackers or pack.get("enable_lsd")) and (
                time.monotonic() - self._added_at >= DHT_BOOTSTRAP_WAIT
                and self._handle.status().list_peers == 0
            ):
                self._strand(pack)
                return
        if trackers:
            self._handle.force_reannounce(0, -1, libtorrent.reannounce_flags_t.ignore_min_interval)
        self._connect_peers()
        pause = min(2 * pause, DISCOVERY_MAX_PAUSE)
        self._discovery = self._loop.call_later(pause, self._discover, pause)

    def _strand(self, pack: dict[str, Any]) -> None:
        """Fail every wait: the DHT, this torrent's only source, reached no node."""
        nodes = pack.get("dht_bootstrap_nodes", "libtorrent's default routers")
        error = NoPeers(
            f"the DHT has no nodes: none of its bootstrap nodes ({nodes}) answered within "
            f"{DHT_BOOTSTRAP_WAIT:g} s, and it is the only way to find peers for this torrent; "
            f"{_PEER_HINT}{_DHT_NODES_HINT}",
            infohash=self.infohash,
        )
        _fail(self._stranded_future(), error)
        dropped = [piece for piece, future in self._fetching.items() if not future.done()]
        for piece in dropped:
            _fail(self._fetching.pop(piece), error)
        if dropped:
            self._handle.prioritize_pieces([(piece, _DONT_DOWNLOAD) for piece in dropped])

    def _peer_summary(self) -> str:
        given = f"{len(self._peers)} peer(s) given"
        if self._gone is not None:
            return given
        status = self._handle.status()
        return f"{given}, {status.num_peers} connected, {status.list_peers} known"

    # -- files and pieces ---------------------------------------------------------

    def file_index(self, file: int | str) -> int:
        """libtorrent's index of ``file`` (an index or a path); raises :class:`NoSuchFile`."""
        return self._entry(file).index

    def file_offset(self, file: int | str) -> int:
        """Where ``file`` starts in the torrent's byte space."""
        return self._entry(file).offset

    def file_size(self, file: int | str) -> int:
        """Size of ``file`` in bytes."""
        return self._entry(file).size

    def file_path(self, file: int | str) -> str:
        """Path of ``file`` as shown in :attr:`files`."""
        return self._entry(file).path

    def _entry(self, file: int | str) -> FileEntry:
        try:
            return self.layout.entry(file)
        except TorframesError as error:
            raise error.where(infohash=self.infohash) from None

    def _byte_range(self, entry: FileEntry, start: int, length: int) -> int:
        """Check ``[start, start + length)`` lies in the file; its offset in the torrent."""
        if isinstance(start, bool) or isinstance(length, bool):
            raise TypeError("start and length are byte counts, not bools")
        if start < 0 or length < 0 or start + length > entry.size:
            raise ValueError(
                f"bytes {start}..{start + length} are outside {entry.path!r} "
                f"({entry.size} bytes) of torrent {self.infohash}"
            )
        return entry.offset + start

    def pieces_for(self, file: int | str, start: int, length: int) -> range:
        """Indices of the pieces holding bytes ``[start, start + length)`` of ``file``."""
        entry = self._entry(file)
        offset = self._byte_range(entry, start, length)
        return piece_range(offset, length, self.layout.piece_length)

    def piece_size(self, piece: int) -> int:
        """Size of ``piece`` in bytes (pad bytes included; the last piece may be short)."""
        return self.layout.piece_size(self._check_piece(piece))

    def transfer_size(self, piece: int) -> int:
        """Payload bytes fetching ``piece`` costs: its size less v2 padding, never sent."""
        return self.layout.transfer_size(self._check_piece(piece))

    def have(self, piece: int) -> bool:
        """True when ``piece`` is downloaded and verified."""
        return piece in self._held

    def held_pieces(self) -> frozenset[int]:
        """Every piece downloaded and verified so far."""
        return frozenset(self._held)

    def on_piece(self, listener: Callable[[int], object]) -> Callable[[], None]:
        """Call ``listener(piece)`` on the client's loop for every piece verified from now on.

        Whoever fetched it (any caller, any widget). Returns the function that
        stops the calls. The listener runs as its own loop callback, so an
        error in it cannot disturb the alert handling.
        """
        self._piece_listeners.append(listener)

        def remove() -> None:
            if listener in self._piece_listeners:
                self._piece_listeners.remove(listener)

        return remove

    def stored_pieces(self) -> frozenset[int]:
        """Pieces found in storage (the persistent cache) and verified by libtorrent's check."""
        return frozenset(self._stored)

    @property
    def metadata_from_cache(self) -> bool:
        """True when the metadata came from the persistent cache, not from a source or peer."""
        return self._metadata_from_cache

    def _check_piece(self, piece: int) -> int:
        num_pieces = self.layout.num_pieces
        if isinstance(piece, bool) or not isinstance(piece, int) or not 0 <= piece < num_pieces:
            raise ValueError(
                f"no piece {piece!r} in torrent {self.infohash} (pieces 0..{num_pieces - 1})"
            )
        return piece

    # -- fetching -------------------------------------------------------------------

    async def fetch(self, pieces: Iterable[int], timeout: float | None = None) -> None:
        """Download ``pieces`` (one round), returning once every one is verified.

        All are asked for at once; pieces already held are not fetched again
        and a piece another caller is already waiting for is shared. Raises
        :class:`PieceTimeout` (its ``pieces`` are those that did not arrive
        within ``timeout``, default ``settings.piece_timeout``),
        :class:`PieceFailed` or :class:`ClientClosed`.
        """
        await self.wait_metadata()
        await self._wait_storage_checked()
        waits = self._request(pieces)
        try:
            if waits:
                await self._wait_all(waits, timeout)
        finally:
            self._release(waits)

    async def stream_pieces(
        self, pieces: Iterable[int], timeout: float | None = None
    ) -> AsyncIterator[tuple[int, bytes]]:
        """Ask for all ``pieces`` at once; yield ``(index, bytes)`` for each as soon as it is here.

        Held pieces come first. ``timeout`` (default ``settings.piece_timeout``)
        bounds the whole stream; raises like :meth:`fetch`.
        """
        await self.wait_metadata()
        await self._wait_storage_checked()
        wanted = self._check_pieces(pieces)
        waits = self._request(wanted)
        try:
            deadline = self._deadline(timeout)
            for piece in wanted:
                if piece not in waits:
                    yield piece, await self._read_back(piece)
            pending = {future: piece for piece, future in waits.items()}
            while pending:
                remaining = deadline - self._loop.time()
                done = set()
                if remaining > 0:
                    done, _ = await asyncio.wait(
                        pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                    )
                if not done:
                    raise self._timeout(sorted(pending.values()), len(waits), timeout)
                for piece in sorted(pending.pop(future) for future in done):
                    waits[piece].result()
                    yield piece, await self._read_back(piece)
        finally:
            self._release(waits)

    async def piece(self, piece: int, timeout: float | None = None) -> bytes:
        """The bytes of ``piece`` (exactly :meth:`piece_size` long), fetched if needed."""
        await self.wait_metadata()
        self._check_piece(piece)
        cached = self._client._cache.get((self.infohash, piece))
        if cached is not None:
            return cached
        await self.fetch([piece], timeout)
        return await self._read_back(piece)

    async def read(
        self, file: int | str, start: int, length: int, timeout: float | None = None
    ) -> bytes:
        """Exactly bytes ``[start, start + length)`` of ``file`` (index or path).

        Fetches only the pieces covering the range, in one round. Raises
        :class:`NoSuchFile`, :class:`ValueError` for a range outside the file,
        :class:`ReadTooLarge` for a range longer than ``settings.max_read_bytes``
        (checked before anything is fetched: the covering pieces are joined
        in memory), and whatever :meth:`fetch` raises.
        """
        await self.wait_metadata()
        entry = self._entry(file)
        offset = self._byte_range(entry, start, length)
        if length == 0:
            return b""
        limit = self._client.settings.max_read_bytes
        if length > limit:
            raise ReadTooLarge(
                f"a read of {length} bytes is longer than max_read_bytes ({limit}); "
                "read in smaller ranges or raise Settings(max_read_bytes=...)",
                infohash=self.infohash,
                file=entry.path,
            )
        covering = piece_range(offset, length, self.layout.piece_length)
        try:
            await self.fetch(covering, timeout)
            chunks = await asyncio.gather(*(self._read_back(piece) for piece in covering))
        except TorframesError as error:
            raise error.where(infohash=self.infohash, file=entry.path) from None
        return slice_pieces(chunks, covering.start, offset, length, self.layout.piece_length)

    def _check_pieces(self, pieces: Iterable[int]) -> list[int]:
        return sorted({self._check_piece(piece) for piece in pieces})

    def _deadline(self, timeout: float | None) -> float:
        if timeout is None:
            timeout = self._client.settings.piece_timeout
        return self._loop.time() + timeout

    def _request(self, pieces: Iterable[int]) -> dict[int, asyncio.Future[None]]:
        """Futures for every piece of ``pieces`` not held; ask libtorrent for the new ones."""
        self._check_alive()
        waits: dict[int, asyncio.Future[None]] = {}
        new: list[int] = []
        wanted = self._check_pieces(pieces)
        if not set(wanted) <= self._held:
            self._check_peer_sources("fetch pieces")
        for piece in wanted:
            if piece in self._held:
                continue
            future = self._fetching.get(piece)
            if future is None or future.done():
                future = self._loop.create_future()
                self._fetching[piece] = future
                self._hash_failures.pop(piece, None)
                new.append(piece)
            waits[piece] = future
            self._waiters[piece] = self._waiters.get(piece, 0) + 1
        if new:
            self._rounds += 1
            idle = len(self._fetching) == len(new)  # nothing else in flight
            if idle:
                self._wake()
            from torframes.torrent.wire.pieces import start_round

            start_round(self, self._client.settings, new, idle=idle)
        if waits:
            self._connect_peers()
            self._keep_discovering()
        return waits

    def _ask_libtorrent(self, pieces: list[int], *, idle: bool = False) -> None:
        """Let libtorrent fetch ``pieces`` (top priority), watching that peers let them through.

        ``idle``: nothing else was in flight (see :meth:`_watch_chokes`).
        """
        if self._gone is not None:
            return
        self._handle.prioritize_pieces([(piece, _TOP_PRIORITY) for piece in pieces])
        self._watch_chokes(idle)

    def _wake(self) -> None:
        """Before a round on an idle torrent: let every known peer be dialled again at once.

        While no piece is wanted the torrent looks upload-only (BEP 21), so
        seeds found by trackers, the DHT or PEX hang up on it (qBittorrent
        does within milliseconds), and libtorrent then waits
        ``min_reconnect_time`` before dialling them again. Leaving upload mode
        clears every known peer's last-connected time (libtorrent's own
        fast-reconnect path); entering it first cancels no request, since
        none is in flight.
        """
        import libtorrent

        upload_mode = libtorrent.torrent_flags.upload_mode
        self._handle.set_flags(upload_mode)
        self._handle.unset_flags(upload_mode)

    def _watch_chokes(self, idle: bool) -> None:
        """Check, ``rechoke_grace`` seconds from now, that some peer lets this round through.

        A round on an idle torrent starts the wait afresh; a round joining
        others keeps the pending check.
        """
        if idle and self._choke_check is not None:
            self._choke_check.cancel()
            self._choke_check = None
        if self._choke_check is None:
            grace = self._client.settings.rechoke_grace
            self._choke_check = self._loop.call_later(grace, self._on_choke_check, grace)

    def _on_choke_check(self, grace: float) -> None:
        """Reconnect when every peer still chokes us while pieces are wanted.

        Between rounds libtorrent tells each peer it is not interested (BEP 3:
        nothing is wanted). rTorrent chokes at once and, for a peer it choked
        less than 10 s ago, waits for its 30 s unchoke cycle even once the
        peer is interested again; a fresh connection is unchoked at once.
        libtorrent cannot stay interested without asking for bytes nobody
        wants, so a round that every connected peer still chokes after
        ``grace`` seconds (and four round trips of the slowest) reconnects
        them (pause and resume the torrent), if one of them had sent us
        pieces on its connection. The check repeats,
        doubling its wait, while the round is waiting.
        """
        import libtorrent

        self._choke_check = None
        if self._gone is not None or not any(not f.done() for f in self._fetching.values()):
            return
        peers = [
            info
            for info in self._handle.get_peer_info()
            if not info.flags & libtorrent.peer_info.connecting
            and not info.flags & libtorrent.peer_info.handshake
        ]
        choked = all(info.flags & libtorrent.peer_info.remote_choked for info in peers)
        # Only a peer that served this connection before and chokes it now was
        # choked by our NOT_INTERESTED; one that never unchoked it (Transmission
        # before its first 10 s cycle) would treat a new connection no better.
        served = any(info.total_download > 0 for info in peers)
        # A far peer needs round trips to answer our INTERESTED: four of the slowest.
        rtt = max((info.rtt for info in peers), default=0) / 1000
        if peers and choked and served and grace >= 4 * rtt:
            self._reconnects += 1
            self._counted_before = self._counters(self._handle.status())
            self._handle.pause()
            self._handle.resume()
            self._wake()
            self._connect_peers()
        self._choke_check = self._loop.call_later(2 * grace, self._on_choke_check, 2 * grace)

    def _release(self, waits: dict[int, asyncio.Future[None]]) -> None:
        """A caller stops waiting for ``waits`` (done, failed, timed out or cancelled).

        A piece nobody waits for any more, and not in yet, goes back to
        priority 0, so a cancelled or abandoned fetch stops costing bytes
        (blocks already in flight may still arrive).
        """
        dropped = []
        for piece in waits:
            count = self._waiters.get(piece, 0) - 1
            if count > 0:
                self._waiters[piece] = count
                continue
            self._waiters.pop(piece, None)
            future = self._fetching.get(piece)
            if future is not None and not future.done() and piece not in self._held:
                del self._fetching[piece]
                future.cancel()
                dropped.append(piece)
        if dropped and self._gone is None:
            self._handle.prioritize_pieces([(piece, _DONT_DOWNLOAD) for piece in dropped])

    async def _wait_all(
        self, waits: dict[int, asyncio.Future[None]], timeout: float | None
    ) -> None:
        if timeout is None:
            timeout = self._client.settings.piece_timeout
        _, pending = await asyncio.wait(
            set(waits.values()), timeout=timeout, return_when=asyncio.FIRST_EXCEPTION
        )
        for piece in sorted(waits):
            future = waits[piece]
            if future.done():
                future.result()
        if pending:
            missing = sorted(piece for piece, future in waits.items() if not future.done())
            raise self._timeout(missing, len(waits), timeout)

    def _timeout(self, missing: list[int], asked: int, timeout: float | None) -> PieceTimeout:
        if timeout is None:
            timeout = self._client.settings.piece_timeout
        shown = ", ".join(map(str, missing[:10])) + (", …" if len(missing) > 10 else "")
        return PieceTimeout(
            f"{len(missing)} of {asked} pieces did not arrive within {timeout:g} s "
            f"(pieces {shown}; {self._peer_summary()})",
            pieces=tuple(missing),
            infohash=self.infohash,
        )

    async def _read_back(self, piece: int) -> bytes:
        """Read a held piece back from storage (``read_piece`` → ``read_piece_alert``)."""
        key = (self.infohash, piece)
        cached = self._client._cache.get(key)
        if cached is not None:
            return cached
        self._check_alive()
        future = self._reading.get(piece)
        if future is None:
            future = self._loop.create_future()
            self._reading[piece] = future
            self._handle.read_piece(piece)
        timeout = self._client.settings.piece_timeout
        done, _ = await asyncio.wait({future}, timeout=timeout)
        if not done:
            # The answer is late or lost: forget this read, so the next caller
            # issues a new read_piece instead of waiting on this one forever.
            error = PieceFailed(
                f"piece {piece} could not be read back from storage within {timeout:g} s",
                infohash=self.infohash,
            )
            if self._reading.get(piece) is future:
                del self._reading[piece]
            _fail(future, error)
        return future.result()

    def _connect_peers(self) -> None:
        """(Re)connect the explicit peers; libtorrent ignores ones already connected."""
        for peer in self._peers:
            self._handle.connect_peer(peer)

    def add_peers(self, peers: Iterable[Peer]) -> None:
        """Remember more explicit peers and connect to them."""
        new = [(str(host), int(port)) for host, port in peers]
        new = [peer for peer in new if peer not in self._peers]
        self._peers.extend(new)
        if self._gone is None:
            for peer in new:
                self._handle.connect_peer(peer)
            if new:
                self._preconnect()

    def _preconnect(self) -> None:
        """Let our own peer connections open early (see :func:`.wire.pieces.preconnect`)."""
        from torframes.torrent.wire.pieces import preconnect

        preconnect(self, self._client.settings)

    # -- statistics -----------------------------------------------------------------

    def _counters(self, status: libtorrent.torrent_status | None) -> tuple[int, int, int]:
        """(payload, redundant, failed) bytes downloaded since the torrent was added.

        libtorrent's ``total_*`` counters restart at each resume; the counts
        from before each reconnect are added back.
        """
        if status is None:
            return self._counted_before
        payload, redundant, failed = self._counted_before
        return (
            payload + int(status.total_payload_download) + self._wire_bytes,
            redundant + int(status.total_redundant_bytes),
            failed + int(status.total_failed_bytes) + self._wire_failed,
        )

    @property
    def stats(self) -> TorrentStats:
        """Transfer counters right now (exact: read from libtorrent's status)."""
        status = self._final_status if self._gone is not None else self._handle.status()
        payload, redundant, failed = self._counters(status)
        return TorrentStats(
            pieces_fetched=self._pieces_fetched,
            bytes_fetched=payload,
            redundant_bytes=redundant,
            failed_bytes=failed,
            rounds=self._rounds,
            added_at=self._added_at,
            metadata_at=self._metadata_at,
            piece_times=self._piece_times,
        )

    def progress(self) -> TorrentProgress:
        """A cheap snapshot for progress displays: metadata, peers, pieces and bytes."""
        # status(0): none of the optional parts (no piece bitfield)
        status = self._final_status if self._gone is not None else self._handle.status(0)
        return TorrentProgress(
            has_metadata=self._layout is not None,
            peers_known=int(status.list_peers) if status else 0,
            peers_connected=int(status.num_peers) if status else 0,
            pieces_wanted=sum(not future.done() for future in self._fetching.values()),
            pieces_done=self._pieces_fetched,
            bytes_fetched=self._counters(status)[0],
        )

    # -- resume data and checking ----------------------------------------------------

    async def resume_data(self, *, pause: bool = False, timeout: float = 30.0) -> bytes:
        """libtorrent's resume data for this torrent: metadata and held pieces, as bytes.

        Give it back to :meth:`Client.add <torframes.Client.add>` (``resume_data=``)
        in a client with the same ``storage_dir`` to pick up where this one
        stopped without fetching or checking the held pieces again. Stored
        data is flushed first. ``pause=True`` pauses the torrent first, so no
        piece arrives after the data was taken (for a torrent about to be
        removed). Raises :class:`TorrentError` if libtorrent cannot save it.
        """
        import libtorrent

        self._check_alive()
        if pause:
            self._handle.pause()
        # A piece is reported finished once its hash passed, which can be before its
        # blocks are written; resume data counts only written pieces. Flushing first
        # (cache_flushed_alert) makes it count every piece held now.
        flushed: asyncio.Future[None] = self._loop.create_future()
        self._flushing.append(flushed)
        self._handle.flush_cache()
        await self._wait_for(flushed, self._flushing, timeout, "flush its storage")
        future: asyncio.Future[bytes] = self._loop.create_future()
        self._saving.append(future)
        flags = libtorrent.torrent_handle
        self._handle.save_resume_data(flags.save_info_dict | flags.flush_disk_cache)
        return await self._wait_for(future, self._saving, timeout, "save resume data")

    async def flush(self, timeout: float = 30.0) -> None:
        """Return once every piece held is written to storage (``flush_cache``)."""
        self._check_alive()
        flushed: asyncio.Future[None] = self._loop.create_future()
        self._flushing.append(flushed)
        self._handle.flush_cache()
        await self._wait_for(flushed, self._flushing, timeout, "flush its storage")

    async def _wait_for(
        self, future: asyncio.Future[Any], waiting: list[Any], timeout: float, what: str
    ) -> Any:
        done, _ = await asyncio.wait({future}, timeout=timeout)
        if not done:
            if future in waiting:
                waiting.remove(future)
            raise TorrentError(
                f"libtorrent did not {what} within {timeout:g} s", infohash=self.infohash
            )
        return future.result()

    async def _wait_storage_checked(self) -> None:
        """Before asking for pieces of a torrent kept in the cache: let the check find them.

        Pieces found in storage are then held and read back, never asked of
        a peer (and no peer is needed for them).
        """
        if self._checking_storage:
            await self.wait_checked()

    async def wait_checked(self, timeout: float | None = None) -> None:
        """Return once libtorrent has checked what storage holds (at once if not checking).

        A torrent added with metadata into a kept ``storage_dir`` is checked
        first; pieces found there are held, not fetched. ``timeout`` (default
        ``settings.piece_timeout``) raises :class:`TorrentError`.
        """
        import libtorrent

        self._check_alive()
        checking = (
            libtorrent.torrent_status.checking_files,
            libtorrent.torrent_status.checking_resume_data,
        )
        if self._layout is None:
            return
        if self._handle.status().state not in checking:
            # done, though its torrent_checked_alert may still be on its way
            self._sync_held()
            self._checking_storage = False
            return
        future: asyncio.Future[None] = self._loop.create_future()
        self._checking.append(future)
        if timeout is None:
            timeout = self._client.settings.piece_timeout
        done, _ = await asyncio.wait({future}, timeout=timeout)
        if not done:
            self._checking.remove(future)
            raise TorrentError(f"checking did not end within {timeout:g} s", infohash=self.infohash)
        future.result()

    # -- removal ---------------------------------------------------------------------

    async def remove(self, *, delete_files: bool | None = None) -> None:
        """Stop and remove the torrent from its client (its stored pieces too, if temporary).

        ``delete_files`` deletes the stored pieces even from a kept
        ``storage_dir`` (``False``: keep them even in a temporary one until the
        client closes). Pending waits on this torrent fail with :class:`ClientClosed`.
        """
        if self._gone is not None:
            if self._removal is not None:
                await asyncio.wait({self._removal}, timeout=10)
            return
        await self._client._remove(self, delete_files)

    def _check_alive(self) -> None:
        if self._gone is not None:
            raise type(self._gone)(self._gone.message, infohash=self.infohash)

    def _shut(self, error: TorframesError) -> None:
        """Fail every pending wait with ``error``; the torrent is unusable after."""
        if self._gone is not None:
            return
        self._gone = error
        for timer in (self._choke_check, self._discovery):
            if timer is not None:
                timer.cancel()
        self._choke_check = self._discovery = None
        try:
            self._final_status = self._handle.status()
        except RuntimeError:  # the handle is already invalid
            self._final_status = None
        pending = [self._metadata, *self._fetching.values(), *self._reading.values()]
        for future in [*pending, *self._saving, *self._flushing, *self._checking]:
            _fail(future, ClientClosed(error.message, infohash=self.infohash))
        self._fetching.clear()
        self._reading.clear()
        self._saving.clear()
        self._flushing.clear()
        self._checking.clear()
        self._client._cache.discard_where(self.infohash)
        for hook in self._on_shut:
            hook()

    # -- alerts (called by the client's alert handler, on the loop thread) ----------------

    def _on_metadata(self) -> None:
        if self._layout is not None:
            return
        info = self._handle.torrent_file()
        if info is None:
            return
        self._layout = FileLayout.from_torrent_info(info)
        self._v1, self._v2 = hex_hashes(info.info_hashes())
        self._metadata_at = time.monotonic()
        self._sync_held()
        _resolve(self._metadata, None)
        self._preconnect()

    def _on_piece_finished(self, piece: int) -> None:
        if self._checking_storage and piece not in self._fetching:
            self._held.add(piece)
            self._stored.add(piece)
            return
        if piece not in self._held:
            self._held.add(piece)
            self._pieces_fetched += 1
            self._piece_times[piece] = time.monotonic() - self._added_at
            for listener in self._piece_listeners:
                self._loop.call_soon(listener, piece)
        future = self._fetching.pop(piece, None)
        if future is not None:
            _resolve(future, None)

    def _on_hash_failed(self, piece: int) -> None:
        """A piece failed its hash check (``hash_failed_alert``, BEP 3 piece hashes).

        libtorrent asks for the piece again by itself, from peers it still
        trusts; a peer that alone sent a corrupt piece is banned and
        disconnected before this alert is handled. So the piece fails for
        good after :data:`MAX_HASH_FAILURES` failures, or at once when no
        peer is left, connected or to connect to, that could send it again
        (waiting would only end in a timeout).
        """
        if self._gone is not None:
            return
        failures = self._hash_failures.get(piece, 0) + 1
        self._hash_failures[piece] = failures
        if failures < MAX_HASH_FAILURES:
            status = self._handle.status()
            # a peer being dialled (one given while the bad one sent) may still send it
            if status.num_peers > 0 or status.connect_candidates > 0:
                return
            reason = "and no peer is left connected or to connect to, to send it again"
        else:
            reason = f"{failures} times"
        self._handle.prioritize_pieces([(piece, _DONT_DOWNLOAD)])
        future = self._fetching.pop(piece, None)
        if future is not None:
            _fail(
                future,
                PieceFailed(
                    f"piece {piece} failed its hash check {reason}",
                    infohash=self.infohash,
                ),
            )

    def _on_peer_disconnected(self, peer: Peer, *, wrong_hash: bool) -> None:
        """Dial ``peer`` again at once if it answered our handshake with another infohash.

        A hybrid torrent has two infohashes (BEP 52: v1, and v2 truncated to
        20 bytes in handshakes). qBittorrent 4.5 (libtorrent 2.0) remembers a
        peer by address and whether it last spoke v2: after a v2 connection
        from our address it answers a v1 handshake with the truncated v2
        hash, which a torrent that knows only its v1 hash (v1 magnet or
        infohash) rejects. The failed connection makes it forget the address,
        so a second handshake is answered with the v1 hash; libtorrent
        itself would dial again only after ``min_reconnect_time`` times the
        failures. At most :data:`MAX_HASH_REDIALS` times per peer, so a peer
        that holds another torrent is not dialled forever.
        """
        if not wrong_hash or self._gone is not None or not self._awaiting():
            return
        redials = self._hash_redials.get(peer, 0)
        if redials >= MAX_HASH_REDIALS:
            return
        self._hash_redials[peer] = redials + 1
        if not any(not future.done() for future in self._fetching.values()):
            self._wake()  # nothing in flight: clear libtorrent's wait before redialling
        self._handle.connect_peer(peer)

    def _on_read_piece(self, piece: int, error: str | None, data: bytes) -> None:
        future = self._reading.pop(piece, None)
        if error is not None:
            if future is not None:
                _fail(
                    future,
                    PieceFailed(
                        f"piece {piece} could not be read back from storage: {error}",
                        infohash=self.infohash,
                    ),
                )
            return
        if self._layout is not None:
            size = self._layout.piece_size(piece)
            if len(data) < size:  # v2: libtorrent leaves out the pad bytes at a file's end
                data += bytes(size - len(data))
        self._client._cache.put((self.infohash, piece), data)
        if future is not None:
            _resolve(future, data)

    def _on_resume_data(self, data: bytes, error: str | None) -> None:
        waiting, self._saving = self._saving, []
        for future in waiting:
            if error is None:
                _resolve(future, data)
            else:
                _fail(
                    future,
                    TorrentError(f"libtorrent could not save resume data: {error}",
                                 infohash=self.infohash),
                )  # fmt: skip

    def _on_flushed(self) -> None:
        waiting, self._flushing = self._flushing, []
        for future in waiting:
            _resolve(future, None)

    def _on_checked(self) -> None:
        self._sync_held()
        self._checking_storage = False
        waiting, self._checking = self._checking, []
        for future in waiting:
            _resolve(future, None)

    def _on_storage_error(self, message: str) -> None:
        for piece, future in list(self._fetching.items()):
            _fail(
                future,
                PieceFailed(f"piece {piece}: storage error: {message}", infohash=self.infohash),
            )
        self._fetching.clear()

    def _sync_held(self) -> None:
        """Re-read which pieces libtorrent holds: after a check, or after alerts were dropped.

        Pieces found that a caller was waiting for count as fetched; pieces
        that were already in storage (a kept ``storage_dir``) do not.
        """
        if self._gone is not None or self._layout is None:
            return
        status = self._handle.status(self._handle.query_pieces)
        for piece, have in enumerate(status.pieces):
            if not have or piece in self._held:
                continue
            if piece in self._fetching:
                self._on_piece_finished(piece)
            else:
                self._held.add(piece)
                self._stored.add(piece)

    def _resync(self) -> None:
        """Catch up after libtorrent dropped alerts (its queue was full).

        Reads still waiting for their ``read_piece_alert`` are issued again:
        the answer may be among the dropped alerts (a second answer to the
        same read is harmless).
        """
        if self._gone is not None:
            return
        for piece in self._reading:
            self._handle.read_piece(piece)
        if self._layout is None:
            if self._handle.status().has_metadata:
                self._on_metadata()
            return
        self._sync_held()
