"""``torframes.Client``: one libtorrent session driven from asyncio.

::

    async with torframes.Client(settings) as client:
        torrent = await client.add(magnet, peers=[("127.0.0.1", 6881)])
        await torrent.wait_metadata()
        data = await torrent.read("video.mp4", 0, 65536)

The session's alerts come in through an :class:`~torframes.torrent.alerts.AlertPump`
and are routed here to the :class:`~torframes.Torrent` they concern. All
state lives on the event loop's thread; libtorrent calls that can take long
(creating and destroying the session, reading ``.torrent`` files) run in
worker threads.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import shutil
import tempfile
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from torframes.cache.layout import storage_names
from torframes.errors import BadSource, ClientClosed, SettingsError
from torframes.settings import Settings
from torframes.torrent.alerts import AlertPump
from torframes.torrent.cache import PieceCache
from torframes.torrent.sources import (
    ParsedSource,
    Source,
    hashes_of,
    hex_hashes,
    infohash_of,
    parse_source,
)
from torframes.torrent.torrent import INVALID_INFO_HASH, Peer, Torrent, _fail, _resolve

if TYPE_CHECKING:
    import libtorrent

    from torframes.api.progress import ProgressOption
    from torframes.api.video import Video
    from torframes.cache import Cache

__all__ = ["Client"]

log = logging.getLogger(__name__)

#: Seconds to wait for libtorrent to confirm a removal.
REMOVE_TIMEOUT = 10.0


@dataclass
class _PendingAdd:
    """A torrent handed to ``async_add_torrent``, waiting for its ``add_torrent_alert``."""

    future: asyncio.Future[Torrent]
    peers: list[Peer]
    save_path: str
    from_cache: bool = False
    added_at: float = field(default_factory=time.monotonic)


def _destroy_session(box: list[libtorrent.session]) -> None:
    """Drop the last reference to a session in this (worker) thread: its destructor blocks."""
    box.clear()


def _check_peers(peers: Iterable[Peer] | None) -> list[Peer]:
    checked = []
    for peer in peers or ():
        try:
            host, port = peer
        except (TypeError, ValueError):
            raise ValueError(f"a peer is a (host, port) pair, not {peer!r}") from None
        if not isinstance(host, str) or isinstance(port, bool) or not isinstance(port, int):
            raise ValueError(f"a peer is a (host, port) pair, not {peer!r}")
        if not 0 < port < 65536:
            raise ValueError(f"peer port {port} is not in 1..65535")
        checked.append((host, port))
    return checked


def _with_resume_data(parsed: ParsedSource, resume_data: bytes, *, check: bool) -> ParsedSource:
    """``parsed`` restored from ``resume_data``, if that names the same torrent.

    The source's peers are kept besides those the resume data remembers.
    With ``check``, only the metadata is taken (storage will be checked).
    """
    import libtorrent

    try:
        params = libtorrent.read_resume_data(bytes(resume_data))
    except (RuntimeError, ValueError, TypeError) as error:
        log.warning("ignoring unreadable resume data: %s", error)
        return parsed
    resumed = ParsedSource(params, "resume")
    if resumed.key != parsed.key and not (
        set(hex_hashes(hashes_of(params))) & set(hex_hashes(hashes_of(parsed.params))) - {None}
    ):
        log.warning("ignoring resume data of torrent %s for %s", resumed.key, parsed.key)
        return parsed
    known = [(str(host), int(port)) for host, port in params.peers]
    params.peers = known + [
        (str(host), int(port)) for host, port in parsed.params.peers if (host, port) not in known
    ]
    if params.ti is None and parsed.params.ti is not None:
        params.ti = parsed.params.ti
    if check:
        if params.ti is None:
            return parsed
        fresh = libtorrent.add_torrent_params()
        fresh.ti = params.ti
        fresh.peers = params.peers
        # files at priority 0 keep their pieces in libtorrent's part file: look there too
        fresh.file_priorities = params.file_priorities
        return ParsedSource(fresh, "torrent-bytes")
    return resumed


_gc_frozen = False


def _freeze_garbage_collector() -> None:
    """``gc.freeze()`` once per process (``Settings.gc_freeze``): what is alive now, mostly
    imported modules, is left out of every later collection, so a full collection no
    longer pauses the event loop (and the peer connections on it) for tens of ms."""
    global _gc_frozen
    if not _gc_frozen:
        _gc_frozen = True
        gc.collect()
        gc.freeze()


class Client:
    """A libtorrent session that fetches only the pieces asked for.

    Use as ``async with Client(settings) as client:``; ``settings`` defaults
    to :class:`~torframes.Settings` read from the environment. Closing
    fails every pending wait with :class:`~torframes.ClientClosed`, removes
    every torrent and deletes the temporary storage folder.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings if settings is not None else Settings()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: libtorrent.session | None = None
        self._pump: AlertPump | None = None
        self._storage: Path | None = None
        self._owns_storage = False
        self._cache = PieceCache(self._settings.piece_cache_bytes)
        self._disk_cache: Cache | None = None
        if self._settings.cache:
            from torframes.cache import Cache

            self._disk_cache = Cache.from_settings(self._settings)
        self._by_hash: dict[str, Torrent] = {}
        self._by_handle: dict[libtorrent.torrent_handle, Torrent] = {}
        self._adding: dict[str, _PendingAdd] = {}
        self._removing: dict[str, asyncio.Future[None]] = {}
        self._starting: asyncio.Future[None] | None = None
        self._closed = False
        self._handlers: dict[type, Callable[[Any], None]] = {}

    def __repr__(self) -> str:
        state = "closed" if self._closed else "started" if self._session else "not started"
        return f"<Client {state}, {len(self._by_handle)} torrents>"

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The settings this client's session was made with."""
        return self._settings

    @property
    def session(self) -> libtorrent.session | None:
        """The libtorrent session (None before :meth:`start` and after :meth:`close`)."""
        return self._session

    def dht_nodes(self) -> int:
        """Nodes in the session's DHT routing table (0 with the DHT off or not yet reached)."""
        if self._session is None:
            return 0
        with warnings.catch_warnings():  # session.status() is deprecated; nothing else is sync
            warnings.simplefilter("ignore", DeprecationWarning)
            return int(self._session.status().dht_nodes)

    @property
    def storage_dir(self) -> Path | None:
        """Folder holding fetched pieces (one subfolder per torrent); None before start."""
        return self._storage

    @property
    def disk_cache(self) -> Cache | None:
        """The persistent cache (:mod:`torframes.cache`), None when ``settings.cache`` is off.

        Metadata and indexes are kept there; so are pieces, unless
        ``settings.storage_dir`` names another folder for them.
        """
        return self._disk_cache

    @property
    def pieces_in_cache(self) -> bool:
        """True when fetched pieces are kept in the persistent cache (no ``storage_dir``)."""
        return self._disk_cache is not None and self._settings.storage_dir is None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    @property
    def torrents(self) -> Mapping[str, Torrent]:
        """The torrents added and not removed, by :attr:`Torrent.infohash`."""
        return MappingProxyType({t.infohash: t for t in self._by_handle.values()})

    async def __aenter__(self) -> Client:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> Client:
        """Create the session (done by ``async with`` and by the first :meth:`add`)."""
        self._check_open()
        if self._session is not None:
            return self
        if self._starting is None:
            self._loop = asyncio.get_running_loop()
            self._starting = self._loop.create_future()
            if self._settings.gc_freeze:
                _freeze_garbage_collector()
            try:
                await self._create_session()
            except BaseException as error:
                starting, self._starting = self._starting, None
                if isinstance(error, Exception):
                    _fail(starting, error)
                else:  # cancelled: whoever waits on the start is cancelled too
                    starting.cancel()
                raise
            _resolve(self._starting, None)
        else:
            await asyncio.shield(self._starting)
        self._check_open()
        return self

    async def _create_session(self) -> None:
        import libtorrent

        settings = self._settings
        if settings.storage_dir is None:
            self._storage = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="torframes-"))
            self._owns_storage = True
            # Deleted at interpreter exit too, should the client never be closed (a
            # notebook's kernel shut down with its client still open).
            weakref.finalize(self, shutil.rmtree, self._storage, ignore_errors=True)
        else:
            self._storage = Path(settings.storage_dir)
            await asyncio.to_thread(self._storage.mkdir, parents=True, exist_ok=True)
        if self._disk_cache is not None:
            try:
                await asyncio.to_thread(self._disk_cache.root.mkdir, parents=True, exist_ok=True)
            except OSError as error:
                await self._delete_storage()
                raise SettingsError(
                    f"cannot use the cache folder {str(self._disk_cache.root)!r} "
                    f"({error.strerror or error}); set another (TORFRAMES_CACHE_DIR, "
                    "Settings(cache_dir=...)) or turn the cache off (TORFRAMES_CACHE=0)"
                ) from None
        try:
            session = await asyncio.to_thread(libtorrent.session, settings.to_libtorrent())
        except (RuntimeError, ValueError, TypeError) as error:
            await self._delete_storage()
            raise SettingsError(f"libtorrent refused the settings: {error}") from None
        if self._closed:  # closed while the session was being made
            box = [session]
            del session
            await asyncio.to_thread(_destroy_session, box)
            await self._delete_storage()
            raise ClientClosed("the client was closed while starting")
        self._handlers = {
            libtorrent.add_torrent_alert: self._on_added,
            libtorrent.metadata_received_alert: self._on_metadata,
            libtorrent.piece_finished_alert: self._on_piece_finished,
            libtorrent.hash_failed_alert: self._on_hash_failed,
            libtorrent.read_piece_alert: self._on_read_piece,
            libtorrent.torrent_removed_alert: self._on_removed,
            libtorrent.torrent_checked_alert: self._on_checked,
            libtorrent.torrent_error_alert: self._on_storage_error,
            libtorrent.file_error_alert: self._on_storage_error,
            libtorrent.alerts_dropped_alert: self._on_alerts_dropped,
            libtorrent.listen_failed_alert: self._on_listen_failed,
            libtorrent.save_resume_data_alert: self._on_resume_data,
            libtorrent.save_resume_data_failed_alert: self._on_resume_data_failed,
            libtorrent.cache_flushed_alert: self._on_flushed,
            libtorrent.peer_disconnected_alert: self._on_peer_disconnected,
        }
        self._session = session
        assert self._loop is not None
        self._pump = AlertPump(session, self._on_alerts, self._loop)

    async def close(self) -> None:
        """Fail pending waits with :class:`ClientClosed`, remove torrents, end the session.

        Deletes the storage folder if it is a temporary one. Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        if self.pieces_in_cache:
            await self._flush_for_cache()
        message = "the client was closed while this was waiting"
        for pending in self._adding.values():
            _fail(pending.future, ClientClosed(message))
        self._adding.clear()
        session, self._session = self._session, None
        for torrent in list(self._by_handle.values()):
            torrent._shut(ClientClosed(message))
            if session is not None:
                session.remove_torrent(torrent.handle)
        self._by_handle.clear()
        self._by_hash.clear()
        for future in self._removing.values():
            _resolve(future, None)
        self._removing.clear()
        self._cache.clear()
        if self._pump is not None:
            self._pump.close()
            self._pump = None
        if session is not None:
            box = [session]
            del session
            await asyncio.to_thread(_destroy_session, box)
        await self._delete_storage()
        if self._disk_cache is not None:
            await asyncio.to_thread(self._disk_cache.enforce_budget)

    async def _flush_for_cache(self) -> None:
        """Write out every cached torrent's pieces, and their part file's map, before removal.

        libtorrent keeps pieces of files at priority 0 in a part file whose
        map of pieces is written only when its storage is released
        (``flush_cache``); removing a torrent with the session does not wait
        for that. A piece whose write is lost is only fetched again: the hash
        check on the next add never takes it as held.
        """
        torrents = [t for t in self._by_handle.values() if t.has_metadata and not t.removed]
        results = await asyncio.gather(
            *(t.flush(timeout=REMOVE_TIMEOUT) for t in torrents), return_exceptions=True
        )
        for torrent, result in zip(torrents, results, strict=True):
            if isinstance(result, Exception):
                log.warning("could not flush %s to the cache: %s", torrent.infohash, result)

    async def _delete_storage(self) -> None:
        if self._owns_storage and self._storage is not None:
            await asyncio.to_thread(shutil.rmtree, self._storage, ignore_errors=True)

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosed("the client is closed")

    # -- torrents ---------------------------------------------------------------------------

    async def add(
        self,
        source: Source,
        *,
        peers: Iterable[Peer] | None = None,
        resume_data: bytes | None = None,
        check: bool = False,
    ) -> Torrent:
        """Add a torrent by magnet URI, infohash, ``.torrent`` path or ``.torrent`` bytes.

        ``peers`` are (host, port) pairs to connect to besides a magnet's
        ``x.pe``; they are remembered and reconnected when pieces are asked
        for. Adding a torrent already added returns the same
        :class:`Torrent` (with the new peers added). Nothing is downloaded
        until asked for. Raises :class:`~torframes.BadSource`.

        ``resume_data`` (from :meth:`Torrent.resume_data`, saved by a
        client with the same ``storage_dir``) restores the metadata and the
        pieces held then, without fetching or checking them again; it is
        ignored when it names another torrent or cannot be read. With
        ``check=True`` only its metadata is used and storage is checked
        instead (:meth:`Torrent.wait_checked`): for resume data that may
        predate pieces written since, as after a crash.

        With the persistent cache on (:attr:`disk_cache`), a magnet or
        infohash whose metadata is cached is added with it (no peer needed),
        and a torrent added with metadata keeps its pieces in the cache,
        where libtorrent checks those already there against their hashes.
        """
        peer_list = _check_peers(peers)
        await self.start()
        if isinstance(source, str) and source.lstrip().lower().startswith("magnet:"):
            parsed = parse_source(source)
        else:
            parsed = await asyncio.to_thread(parse_source, source)
        if resume_data is not None:
            parsed = _with_resume_data(parsed, resume_data, check=check)
        if self._disk_cache is not None and parsed.params.ti is None:
            cached = await asyncio.to_thread(self._disk_cache.load_metadata, parsed.key)
            if cached is not None:
                parsed.params.ti = cached
                parsed = ParsedSource(parsed.params, "cache")
        self._check_open()
        existing = self._find(parsed)
        if existing is not None:
            existing.add_peers(peer_list)
            return existing
        key = parsed.key
        pending = self._adding.get(key)
        if pending is None:
            pending = self._start_add(parsed, peer_list)
        torrent = await asyncio.shield(pending.future)
        torrent.add_peers(peer_list)
        return torrent

    async def open(
        self,
        source: Source,
        file: int | str | None = None,
        peers: Iterable[Peer] | None = None,
        *,
        progress: ProgressOption = "auto",
        picks: int | None = None,
    ) -> Video:
        """Add ``source``, wait for its metadata and parse the video's index: a :class:`Video`.

        ``file`` is a file index or path; by default the largest video file.
        Only the pieces holding the index's headers and the index itself are
        fetched. See :mod:`torframes.api.video`. ``progress``: see
        :mod:`torframes.api.progress` (default: shown in Jupyter and on a terminal).
        ``picks``: how many frames you will pick, when known; a file without an
        index (Matroska without Cues) is probed only that far.
        """
        from torframes.api.video import open_video

        return await open_video(
            self, source, file=file, peers=list(peers or ()), progress=progress, picks=picks
        )

    def get(self, infohash: str) -> Torrent | None:
        """The torrent with this v1 or v2 infohash (hex), if added."""
        return self._by_hash.get(infohash.lower())

    def _find(self, parsed: ParsedSource) -> Torrent | None:
        for value in hex_hashes(hashes_of(parsed.params)):
            if value is not None and value in self._by_hash:
                return self._by_hash[value]
        return None

    def _start_add(self, parsed: ParsedSource, peers: list[Peer]) -> _PendingAdd:
        import libtorrent

        assert self._session is not None
        assert self._loop is not None
        assert self._storage is not None
        key = parsed.key
        params = parsed.params
        flags = libtorrent.torrent_flags
        params.flags &= ~flags.auto_managed
        params.flags &= ~flags.paused
        params.flags &= ~flags.upload_mode
        if parsed.kind == "resume":
            # Held pieces come from the resume data; nothing else is downloaded.
            params.flags |= flags.default_dont_download
            if params.ti is not None:
                params.piece_priorities = [0] * params.ti.num_pieces()
        elif params.ti is None:
            # Every piece at priority 0 the moment metadata arrives.
            params.flags |= flags.default_dont_download
        else:
            params.piece_priorities = [0] * params.ti.num_pieces()
            if self.pieces_in_cache:
                # Files at a normal priority, pieces at 0: fetched pieces go into the
                # (sparse, renamed) files rather than libtorrent's part file, whose
                # pieces libtorrent 2.1.1's check finds only in part; kept pieces
                # are hash-checked when the torrent is added.
                params.file_priorities = [4] * params.ti.num_files()
            elif self._owns_storage:
                # A fresh temporary folder holds nothing to verify, and checking
                # would hold back connecting to the peers until the next tick.
                # (libtorrent 2.1.1 crashes when this flag meets
                # default_dont_download, hence priorities set here instead.)
                params.flags |= flags.no_verify_files
            else:
                params.flags |= flags.default_dont_download
        all_peers = [(str(host), int(port)) for host, port in params.peers]
        all_peers += [peer for peer in peers if peer not in all_peers]
        params.peers = all_peers
        if self.pieces_in_cache:
            assert self._disk_cache is not None
            save_path = os.fspath(self._disk_cache.pieces_dir(key))
            if params.ti is not None:  # names on disk from file indices only
                params.renamed_files = storage_names(params.ti.num_files())
        else:
            save_path = os.fspath(self._storage / key)
        params.save_path = save_path
        pending = _PendingAdd(
            self._loop.create_future(), all_peers, save_path, from_cache=parsed.kind == "cache"
        )
        self._adding[key] = pending
        self._session.async_add_torrent(params)
        return pending

    async def _remove(self, torrent: Torrent, delete_files: bool | None = None) -> None:
        """Remove ``torrent`` from the session and wait for libtorrent to confirm it.

        ``delete_files`` defaults to deleting only from a temporary storage folder.
        """
        import libtorrent

        assert self._loop is not None
        if delete_files is None:
            delete_files = self._owns_storage and not self.pieces_in_cache
        torrent._shut(ClientClosed("the torrent was removed while this was waiting"))
        self._forget(torrent)
        future = self._loop.create_future()
        torrent._removal = future
        if self._session is None:
            _resolve(future, None)
            return
        self._removing[torrent.infohash] = future
        options = libtorrent.session.delete_files if delete_files else 0
        self._session.remove_torrent(torrent.handle, options)
        done, _ = await asyncio.wait({future}, timeout=REMOVE_TIMEOUT)
        if not done:
            # Stop waiting for good: a confirmation that never comes must not
            # keep its future (one per removal) for the client's lifetime.
            log.warning("libtorrent did not confirm removing %s", torrent.infohash)
            if self._removing.get(torrent.infohash) is future:
                del self._removing[torrent.infohash]
            _resolve(future, None)
        if delete_files:
            await asyncio.to_thread(shutil.rmtree, torrent.save_path, ignore_errors=True)

    def _register(self, torrent: Torrent) -> None:
        self._by_handle[torrent.handle] = torrent
        for value in (torrent.infohash_v1, torrent.infohash_v2):
            if value is not None:
                self._by_hash[value] = torrent

    def _forget(self, torrent: Torrent) -> None:
        self._by_handle.pop(torrent.handle, None)
        for value, known in list(self._by_hash.items()):
            if known is torrent:
                del self._by_hash[value]

    # -- alerts ---------------------------------------------------------------------------------

    def _on_alerts(self, alerts: Sequence[libtorrent.alert]) -> None:
        """Route one batch of alerts (loop thread; alerts die at the next pop)."""
        for alert in alerts:
            handler = self._handlers.get(type(alert))
            if handler is not None:
                handler(alert)

    def _torrent_of(self, alert: Any) -> Torrent | None:
        return self._by_handle.get(alert.handle)

    def _on_added(self, alert: Any) -> None:
        key = infohash_of(hashes_of(alert.params))
        pending = self._adding.pop(key, None)
        if pending is None:  # not ours, or the client is closing
            return
        if alert.error.value():
            known = self._by_handle.get(alert.handle) if alert.handle.is_valid() else None
            if known is not None:  # the same torrent under its other infohash, added meanwhile
                _resolve(pending.future, known)
                return
            _fail(
                pending.future,
                BadSource(
                    f"libtorrent could not add the torrent: {alert.error.message()}",
                    infohash=key,
                ),
            )
            return
        torrent = Torrent(
            self,
            alert.handle,
            peers=pending.peers,
            save_path=pending.save_path,
            added_at=pending.added_at,
            metadata_from_cache=pending.from_cache,
        )
        self._register(torrent)
        if alert.params.ti is not None:
            torrent._on_metadata()
            self._register(torrent)
        _resolve(pending.future, torrent)

    def _on_metadata(self, alert: Any) -> None:
        torrent = self._torrent_of(alert)
        if torrent is not None and self.pieces_in_cache:
            # Before any piece is asked for (all are at priority 0 until then), so
            # nothing is ever written under the torrent's own paths.
            for index, name in storage_names(alert.handle.torrent_file().num_files()).items():
                alert.handle.rename_file(index, name)
        if torrent is not None:
            torrent._on_metadata()
            self._register(torrent)  # a v2 magnet of a hybrid torrent learns its v1 hash here

    def _on_piece_finished(self, alert: Any) -> None:
        torrent = self._torrent_of(alert)
        if torrent is not None:
            torrent._on_piece_finished(int(alert.piece_index))

    def _on_hash_failed(self, alert: Any) -> None:
        torrent = self._torrent_of(alert)
        if torrent is not None:
            torrent._on_hash_failed(int(alert.piece_index))

    def _on_read_piece(self, alert: Any) -> None:
        torrent = self._torrent_of(alert)
        if torrent is None:
            return
        error = alert.error
        if error.value():
            torrent._on_read_piece(int(alert.piece), error.message(), b"")
        else:
            torrent._on_read_piece(int(alert.piece), None, alert.buffer)

    def _on_removed(self, alert: Any) -> None:
        future = self._removing.pop(infohash_of(alert.info_hashes), None)
        if future is not None:
            _resolve(future, None)

    def _on_checked(self, alert: Any) -> None:
        torrent = self._torrent_of(alert)
        if torrent is not None:
            torrent._on_checked()

    def _on_resume_data(self, alert: Any) -> None:
        import libtorrent

        torrent = self._torrent_of(alert)
        if torrent is not None:
            torrent._on_resume_data(bytes(libtorrent.write_resume_data_buf(alert.params)), None)

    def _on_flushed(self, alert: Any) -> None:
        torrent = self._torrent_of(alert)
        if torrent is not None:
            torrent._on_flushed()

    def _on_peer_disconnected(self, alert: Any) -> None:
        torrent = self._torrent_of(alert)
        if torrent is not None:
            error = alert.error
            wrong_hash = (
                error.value() == INVALID_INFO_HASH and error.category().name() == "libtorrent"
            )
            host, port = alert.endpoint
            torrent._on_peer_disconnected((str(host), int(port)), wrong_hash=wrong_hash)

    def _on_resume_data_failed(self, alert: Any) -> None:
        torrent = self._torrent_of(alert)
        if torrent is not None:
            torrent._on_resume_data(b"", alert.error.message())

    def _on_storage_error(self, alert: Any) -> None:
        torrent = self._torrent_of(alert)
        if torrent is None:
            return
        try:
            message = alert.message()
        except UnicodeDecodeError:  # libtorrent 2.1.1 may put undecodable bytes in it
            message = alert.error.message()
        torrent._on_storage_error(message)

    def _on_alerts_dropped(self, alert: Any) -> None:
        log.warning("libtorrent dropped alerts (queue full); re-reading torrent states")
        for torrent in list(self._by_handle.values()):
            torrent._resync()
            if torrent.has_metadata:
                self._register(torrent)

    def _on_listen_failed(self, alert: Any) -> None:
        # (not message(): libtorrent 2.1.1 may put undecodable bytes in it)
        log.warning(
            "libtorrent cannot listen on %s:%s: %s",
            alert.address,
            alert.port,
            alert.error.message(),
        )
