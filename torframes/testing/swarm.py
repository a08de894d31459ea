"""``LocalSwarm``: a libtorrent seeder on 127.0.0.1, for tests, demos and notebooks.

::

    with LocalSwarm() as swarm:
        seed = swarm.seed({"movie.mp4": data}, piece_size=16 * 1024, version="hybrid")
        async with torframes.Client(Settings.loopback()) as client:
            torrent = await client.add(seed.magnet)       # magnet carries x.pe=127.0.0.1:PORT
            ...
        assert seed.wait_uploaded(expected) == expected  # exact payload bytes sent

One session, bound to 127.0.0.1 (an ephemeral port unless ``port`` is
given), DHT, LSD, UPnP, NAT-PMP and uTP off, every peer unchoked
(``unchoke_slots_limit = -1``). It seeds any number of torrents, each made
from given files (v1, v2 or hybrid; piece size given or chosen by
libtorrent) and added in seed mode, so seeding starts at once without a
hash check. Nothing leaves the loopback interface.

Usable from sync code (``with``) and from async code (``async with``,
:meth:`LocalSwarm.aseed`, :meth:`LocalSwarm.aremove`: the blocking work runs
in a worker thread).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from torframes.settings import Settings
from torframes.torrent.files import FileLayout
from torframes.torrent.sources import hex_hashes

if TYPE_CHECKING:
    import libtorrent

__all__ = ["Files", "LocalSwarm", "PathLike", "Seed", "Version"]

#: Torrent flavours: BitTorrent v1, v2 (BEP 52) or hybrid (both).
Version = Literal["v1", "v2", "hybrid"]

#: What to seed: one path (a file or a folder), several paths, or
#: ``{relative path: bytes or path}``.
PathLike = str | os.PathLike
Files = PathLike | Iterable[PathLike] | Mapping[str, object]

MIN_PIECE_SIZE = 16 * 1024
MAX_PIECE_SIZE = 16 * 1024 * 1024


@dataclass(eq=False)
class Seed:
    """One torrent a :class:`LocalSwarm` seeds."""

    #: The swarm seeding it.
    swarm: LocalSwarm = field(repr=False)
    #: libtorrent's handle in the seeder session.
    handle: libtorrent.torrent_handle = field(repr=False)
    #: v1 infohash in hex if the torrent has one, else v2.
    infohash: str
    infohash_v1: str | None
    infohash_v2: str | None
    #: ``"v1"``, ``"v2"`` or ``"hybrid"``.
    version: str
    #: The ``.torrent`` file's bytes.
    torrent_bytes: bytes = field(repr=False)
    #: Magnet URI with ``dn`` and ``x.pe`` pointing at the swarm.
    magnet: str = field(repr=False)
    #: Files and pieces as libtorrent lays them out (pad files included in offsets).
    layout: FileLayout = field(repr=False)
    #: Folder the seeded files live in.
    save_path: Path = field(repr=False)
    #: Pieces whose stored bytes were flipped after checking (see ``LocalSwarm.seed``).
    corrupt_pieces: frozenset[int] = field(default=frozenset())
    _final_upload: int | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The torrent's name."""
        return self.layout.name

    @property
    def piece_length(self) -> int:
        """Bytes per piece."""
        return self.layout.piece_length

    @property
    def num_pieces(self) -> int:
        """Number of pieces."""
        return self.layout.num_pieces

    @property
    def removed(self) -> bool:
        """True once :meth:`LocalSwarm.remove` stopped seeding it."""
        return self._final_upload is not None

    def uploaded(self) -> int:
        """Exact payload bytes this seeder has sent for this torrent, read fresh now.

        The status query goes through libtorrent's network thread, after any
        send completion already queued there, so once a leecher has verified
        a piece its bytes are counted.
        """
        if self._final_upload is not None:
            return self._final_upload
        return int(self.handle.status().total_payload_upload)

    def wait_uploaded(self, expected: int, timeout: float = 5.0) -> int:
        """Wait up to ``timeout`` s until ``expected`` bytes are counted; return the count.

        Returns early with the count as soon as it reaches ``expected``; a
        test then asserts equality, so an over-count shows up at once.
        """
        deadline = time.monotonic() + timeout
        while True:
            count = self.uploaded()
            remaining = deadline - time.monotonic()
            if count >= expected or remaining <= 0 or self.removed:
                return count
            self.swarm._wait_for_alert(min(remaining, 0.05))

    def transfer_size(self, pieces: Iterable[int]) -> int:
        """Payload bytes a leecher downloads for ``pieces`` (see ``FileLayout.transfer_size``)."""
        return sum(self.layout.transfer_size(piece) for piece in set(pieces))


class LocalSwarm:
    """A seeder on the loopback interface; see the module docstring.

    ``port=0`` picks a free port; ``host`` must be a loopback address
    (127.0.0.0/8 or ::1).
    """

    def __init__(self, *, port: int = 0, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"LocalSwarm stays on loopback; {host!r} is not a loopback address")
        self._host = host
        self._wanted_port = port
        self._timeout = timeout
        self._session: libtorrent.session | None = None
        self._root: Path | None = None
        self._seeds: dict[str, Seed] = {}
        self._counter = 0
        self._lock = threading.RLock()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LocalSwarm:
        """Open the session and wait until it listens (done by ``with``)."""
        import libtorrent

        with self._lock:
            if self._session is not None:
                return self
            host = f"[{self._host}]" if ":" in self._host else self._host
            settings = Settings.loopback(
                self._wanted_port,
                listen_interfaces=f"{host}:{self._wanted_port}",
                libtorrent={
                    "unchoke_slots_limit": -1,
                    "alert_queue_size": 1000,
                    # a port asked for is that port, not the next free one
                    "max_retry_port_bind": 0,
                    "listen_system_port_fallback": False,
                },
            )
            pack = settings.to_libtorrent()
            category = libtorrent.alert.category_t
            pack["alert_mask"] = int(category.status_notification | category.error_notification)
            self._root = Path(tempfile.mkdtemp(prefix="torframes-swarm-"))
            # Deleted at interpreter exit too, should the swarm never be closed.
            weakref.finalize(self, shutil.rmtree, self._root, ignore_errors=True)
            self._session = libtorrent.session(pack)
            deadline = time.monotonic() + self._timeout
            while True:
                alerts = self._session.pop_alerts()
                if self._session.listen_port():
                    return self
                failed = [a for a in alerts if isinstance(a, libtorrent.listen_failed_alert)]
                if failed or time.monotonic() > deadline:
                    # Copy the reason out first: alerts die with the session.
                    # (Not message(): libtorrent 2.1.1 may put undecodable bytes in it.)
                    reason = failed[0].error.message() if failed else "no listen socket in time"
                    del alerts, failed
                    self.close()
                    raise RuntimeError(
                        f"the seeder cannot listen on {host}:{self._wanted_port}: {reason}"
                    )
                self._session.wait_for_alert(max(1, int((deadline - time.monotonic()) * 1000)))

    def close(self) -> None:
        """Stop seeding everything, end the session and delete the seeded copies."""
        with self._lock:
            session, self._session = self._session, None
            for seed in self._seeds.values():
                if seed._final_upload is None:
                    seed._final_upload = int(seed.handle.status().total_payload_upload)
            self._seeds.clear()
            del session  # the session's destructor waits for its threads
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None

    def __enter__(self) -> LocalSwarm:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> LocalSwarm:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.close)

    @property
    def address(self) -> tuple[str, int]:
        """The seeder's (host, port), for ``Client.add(..., peers=[swarm.address])``."""
        return (self._host, self.port)

    @property
    def port(self) -> int:
        """The port the seeder listens on."""
        return int(self._live().listen_port())

    @property
    def seeds(self) -> tuple[Seed, ...]:
        """Torrents being seeded."""
        return tuple(self._seeds.values())

    def _live(self) -> libtorrent.session:
        if self._session is None:
            raise RuntimeError("the LocalSwarm is not started (use `with LocalSwarm() as swarm:`)")
        return self._session

    def _wait_for_alert(self, seconds: float) -> None:
        """Block until the seeder posts an alert (or ``seconds`` pass); discard alerts."""
        with self._lock:
            session = self._live()
            session.wait_for_alert(max(1, int(seconds * 1000)))
            session.pop_alerts()

    # -- seeding -----------------------------------------------------------------------

    def seed(
        self,
        files: Files,
        *,
        piece_size: int | None = None,
        version: Version = "v1",
        name: str | None = None,
        pad_files: bool = False,
        corrupt_pieces: Iterable[int] = (),
    ) -> Seed:
        """Make a torrent of ``files`` and seed it; returns once it is seeding.

        ``files``: a path (a file gives a single-file torrent, a folder a
        multi-file one named after it), a list of paths, or ``{relative
        path: bytes or path}``. Without ``name``, a dict of one plain file
        name gives a single-file torrent, and a dict whose paths all start
        with the same folder gives a multi-file torrent named after that
        folder; otherwise the torrent is named ``name`` (default ``"files"``)
        and the paths are relative to it.
        ``piece_size``: a power of two from 16 KiB to 16 MiB, or None for
        libtorrent's choice. ``version``: ``"v1"``, ``"v2"`` or ``"hybrid"``
        (v2 and hybrid align files to pieces with pad files; ``pad_files=True``
        does the same for v1). Seeding the same content twice returns the
        same :class:`Seed`.

        ``corrupt_pieces``: pieces to serve corrupt, for hash-failure tests.
        The torrent's hashes come from the good files; the torrent is added
        without seed mode (libtorrent checks the files in full, finding every
        piece good), then the first byte of each of these pieces is flipped
        in the seeded copy, so the seeder sends bytes that fail the
        leecher's hash check. (In seed mode libtorrent would check each piece
        before its first upload and refuse to send a corrupt one.) A torrent
        is seeded corrupt or not, never both, in one swarm.
        """
        import libtorrent

        if piece_size is not None and (
            piece_size < MIN_PIECE_SIZE
            or piece_size > MAX_PIECE_SIZE
            or piece_size & (piece_size - 1)
        ):
            raise ValueError(f"piece size {piece_size} is not a power of two in 16 KiB..16 MiB")
        create = libtorrent.create_torrent
        flags = {
            "v1": create.v1_only | (create.canonical_files if pad_files else 0),
            "v2": create.v2_only,
            "hybrid": 0,
        }.get(version)
        if flags is None:
            raise ValueError(f"version is 'v1', 'v2' or 'hybrid', not {version!r}")
        corrupt = frozenset(corrupt_pieces)
        with self._lock:
            session = self._live()
            assert self._root is not None
            self._counter += 1
            folder = self._root / f"seed-{self._counter}"
            entries = _place_files(files, name, folder)
            creator = create(
                [libtorrent.create_file_entry(path, size) for path, size in entries],
                piece_size or 0,
                flags,
            )
            creator.set_creator("torframes LocalSwarm")
            libtorrent.set_piece_hashes(creator, os.fspath(folder))
            torrent_bytes = bytes(libtorrent.bencode(creator.generate()))
            params = libtorrent.load_torrent_buffer(torrent_bytes)
            info = params.ti
            v1, v2 = hex_hashes(info.info_hashes())
            infohash = v1 or v2 or ""
            if corrupt and not corrupt <= set(range(info.num_pieces())):
                shutil.rmtree(folder, ignore_errors=True)
                raise ValueError(
                    f"corrupt_pieces {sorted(corrupt)} not all in 0..{info.num_pieces() - 1}"
                )
            if infohash in self._seeds:
                shutil.rmtree(folder, ignore_errors=True)
                known = self._seeds[infohash]
                if known.corrupt_pieces != corrupt:
                    raise ValueError(
                        f"torrent {infohash} is already seeded with corrupt pieces "
                        f"{sorted(known.corrupt_pieces)}; use another LocalSwarm"
                    )
                return known
            params.save_path = os.fspath(folder)
            if not corrupt:
                params.flags |= libtorrent.torrent_flags.seed_mode
            params.flags &= ~libtorrent.torrent_flags.auto_managed
            params.flags &= ~libtorrent.torrent_flags.paused
            handle = session.add_torrent(params)
            self._wait_seeding(handle)
            for piece in sorted(corrupt):
                _flip_first_byte(info, piece, folder)
            magnet = f"{libtorrent.make_magnet_uri(info)}&x.pe={self._peer_address()}"
            seed = Seed(
                swarm=self,
                handle=handle,
                infohash=infohash,
                infohash_v1=v1,
                infohash_v2=v2,
                version=version,
                torrent_bytes=torrent_bytes,
                magnet=magnet,
                layout=FileLayout.from_torrent_info(info),
                save_path=folder,
                corrupt_pieces=corrupt,
            )
            self._seeds[infohash] = seed
            return seed

    async def aseed(
        self,
        files: Files,
        *,
        piece_size: int | None = None,
        version: Version = "v1",
        name: str | None = None,
        pad_files: bool = False,
        corrupt_pieces: Iterable[int] = (),
    ) -> Seed:
        """:meth:`seed` in a worker thread, for async code."""
        return await asyncio.to_thread(
            self.seed,
            files,
            piece_size=piece_size,
            version=version,
            name=name,
            pad_files=pad_files,
            corrupt_pieces=corrupt_pieces,
        )

    def remove(self, seed: Seed) -> None:
        """Stop seeding ``seed`` (waits until libtorrent confirms); its upload count is kept."""
        import libtorrent

        with self._lock:
            if self._seeds.get(seed.infohash) is not seed:
                return
            session = self._live()
            seed._final_upload = int(seed.handle.status().total_payload_upload)
            del self._seeds[seed.infohash]
            session.remove_torrent(seed.handle)
            deadline = time.monotonic() + self._timeout
            while time.monotonic() < deadline:
                session.wait_for_alert(max(1, int((deadline - time.monotonic()) * 1000)))
                for alert in session.pop_alerts():
                    if isinstance(alert, libtorrent.torrent_removed_alert) and seed.infohash in (
                        hex_hashes(alert.info_hashes)
                    ):
                        shutil.rmtree(seed.save_path, ignore_errors=True)
                        return
            raise RuntimeError(f"the seeder did not confirm removing {seed.infohash}")

    async def aremove(self, seed: Seed) -> None:
        """:meth:`remove` in a worker thread, for async code."""
        await asyncio.to_thread(self.remove, seed)

    def _peer_address(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"

    def _wait_seeding(self, handle: libtorrent.torrent_handle) -> None:
        """Block until ``handle`` is seeding, within the swarm's timeout."""
        import libtorrent

        deadline = time.monotonic() + self._timeout
        while True:
            status = handle.status()
            if status.errc.value():
                raise RuntimeError(f"the seeder cannot seed: {status.errc.message()}")
            if status.state == libtorrent.torrent_status.seeding:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"the seeder is still {status.state} after {self._timeout} s")
            self._wait_for_alert(remaining)


def _flip_first_byte(info: libtorrent.torrent_info, piece: int, folder: Path) -> None:
    """Invert the first byte of ``piece`` in the seeded copy under ``folder``.

    A linked file is replaced by a copy first, so the caller's file stays intact.
    """
    where = info.map_block(piece, 0, 1)[0]  # a piece never starts inside a pad file
    path = folder / info.layout().file_path(where.file_index)
    if path.is_symlink():
        source = path.resolve()
        path.unlink()
        shutil.copyfile(source, path)
    with path.open("r+b") as stored:
        stored.seek(where.offset)
        byte = stored.read(1)[0]
        stored.seek(where.offset)
        stored.write(bytes([byte ^ 0xFF]))


def _place_files(files: Files, name: str | None, folder: Path) -> list[tuple[str, int]]:
    """Lay ``files`` out under ``folder`` as the torrent will name them; (path, size) each.

    Bytes are written; given paths are linked (copied if links fail).
    """
    sources: dict[str, object]
    single = False
    if isinstance(files, (str, os.PathLike)):
        path = Path(files)
        if path.is_dir():
            sources = {
                item.relative_to(path).as_posix(): item
                for item in sorted(path.rglob("*"))
                if item.is_file()
            }
            name = name or path.name
        elif path.is_file():
            sources = {name or path.name: path}
            single = True
        else:
            raise FileNotFoundError(f"nothing to seed at {os.fspath(path)!r}")
    elif isinstance(files, Mapping):
        sources = {str(key).strip("/"): value for key, value in files.items()}
        roots = {key.split("/", 1)[0] for key in sources}
        if name is None and len(sources) == 1 and "/" not in next(iter(sources)):
            single = True
        elif name is None and len(roots) == 1 and all("/" in key for key in sources):
            # {"movie/a.mkv": ..., "movie/b.srt": ...}: the torrent is named "movie"
            name = roots.pop()
            sources = {key.split("/", 1)[1]: value for key, value in sources.items()}
    else:
        sources = {}
        for item in files:
            path = Path(item)
            if path.name in sources:
                raise ValueError(f"two files named {path.name!r}; use a dict to name them")
            sources[path.name] = path
    if not sources:
        raise ValueError("nothing to seed: no files given")
    root = name or "files"
    entries = []
    for relative, source in sources.items():
        torrent_path = relative if single else f"{root}/{relative.strip('/')}"
        target = folder / torrent_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, (bytes, bytearray, memoryview)):
            target.write_bytes(bytes(source))
        elif isinstance(source, (str, os.PathLike)):
            source_path = Path(source).resolve()
            if not source_path.is_file():
                raise FileNotFoundError(f"nothing to seed at {os.fspath(source_path)!r}")
            try:
                target.symlink_to(source_path)
            except OSError:
                shutil.copyfile(source_path, target)
        else:
            raise TypeError(f"{relative!r}: give bytes or a path, not {type(source).__name__}")
        entries.append((torrent_path, target.stat().st_size))
    return entries
