"""The swarm lab's orchestrator: many peers on 127.0.0.x, shaped links, a DHT, a tracker.

::

    with Lab(tmp_path, dht_nodes=10) as lab:
        fast = lab.seed(torrent, content_dir)                                # libtorrent
        slow = lab.seed(torrent, content_dir, client="transmission",
                        shape=Shape(latency_s=0.02, rate=2e6))                # behind a relay
        bad = lab.seed(torrent, content_dir, behaviour="corrupt")
        found = lab.seed(torrent, content_dir, dht=True, start_delay=8.0)     # joins later
        async with Client(lab.settings()) as client:
            video = await client.open(torrent.read_bytes(), peers=lab.peers())
        total_uploaded(lab.seeders)                                           # their own counters

Every seeder is a real client started by
:func:`torframes.testing.lab.clients.launch`, each on a loopback address of
its own. A seeder given a :class:`Shape` or a behaviour other than
``"normal"`` sits behind a :class:`~torframes.testing.lab.relay.Relay` on
another address of its own: :meth:`Lab.peers` lists the relay there, and
:meth:`LabPeer.relayed` counts the PIECE bytes it delivered. A ``"silent"``
peer is a relay alone (no client: it never answers). Peers found through
the tracker or the DHT are the clients' own endpoints, unshaped.

The lab owns every process, thread, session and folder it made; leaving the
``with`` block (or :meth:`Lab.close`) ends them all. Nothing binds outside
127.0.0.0/8, and DHT sessions bootstrap only from the lab's own nodes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import threading
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from torframes.settings import Settings
from torframes.testing.lab.clients import CLIENTS, ClientSeeder, launch
from torframes.testing.lab.dht import MIN_NODES, PrivateDHT, node_settings
from torframes.testing.lab.relay import BEHAVIOURS, Relay, RelayLoop, Shape

__all__ = ["Lab", "LabPeer", "Shape", "lab_hosts", "total_uploaded"]

#: How long a delayed peer may take to start once its delay is over (seconds).
START_TIMEOUT = 120.0

_lab_counter = itertools.count()


def lab_hosts(first: int = 1) -> Iterable[str]:
    """Fresh loopback addresses for one lab: ``127.<B>.<x>.<y>``, ``B`` from this process.

    Each peer and relay gets one, so clients' per-IP rules see one address
    per peer; ``B`` keeps concurrent test processes (and labs) apart.
    """
    block = 64 + (os.getpid() * 7 + next(_lab_counter) * 13) % 190
    for number in itertools.count(first):
        high, low = divmod(number, 250)
        if high > 255:
            raise RuntimeError("a lab ran out of loopback addresses")
        yield f"127.{block}.{high}.{low + 1}"


class LabPeer:
    """One peer of a :class:`Lab`: a client, maybe behind a relay; see the module docstring."""

    def __init__(
        self,
        client: str,
        behaviour: str,
        relay: Relay | None,
        *,
        delayed: bool = False,
    ) -> None:
        self.client = client
        self.behaviour = behaviour
        self.relay = relay
        #: The running client (None for a silent peer, or until a delayed peer starts).
        self.seeder: ClientSeeder | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._final_upload: int | None = None
        if not delayed:
            self._started.set()

    def __repr__(self) -> str:
        where = self.relay.endpoint if self.relay else "not started"
        if self.seeder is not None and self.relay is None:
            where = self.seeder.endpoint
        return f"LabPeer({self.client}, {self.behaviour}, {where})"

    @property
    def started(self) -> bool:
        """True once the client runs (at once unless the peer was seeded with a delay)."""
        return self._started.is_set() and self._error is None

    def wait_started(self, timeout: float = START_TIMEOUT) -> None:
        """Block until a delayed peer's client runs; raise what its start raised."""
        if not self._started.wait(timeout):
            raise TimeoutError(f"{self!r} did not start in {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"{self!r} could not start: {self._error}") from self._error

    @property
    def endpoint(self) -> tuple[str, int]:
        """Where a leecher dials this peer: its relay if it has one, else its client.

        A delayed peer without a relay has no endpoint before it starts
        (waits for it).
        """
        if self.relay is not None:
            return self.relay.endpoint
        self.wait_started()
        assert self.seeder is not None
        return self.seeder.endpoint

    @property
    def direct(self) -> tuple[str, int] | None:
        """The client's own endpoint (what trackers and the DHT hand out), if it runs."""
        return self.seeder.endpoint if self.seeder is not None else None

    def uploaded(self) -> int:
        """Payload bytes the client says it uploaded, from its own counter (0 if none runs)."""
        if self._final_upload is not None:
            return self._final_upload
        return self.seeder.uploaded() if self.seeder is not None else 0

    def relayed(self) -> int:
        """PIECE block bytes the relay delivered to leechers (0 when not relayed)."""
        return self.relay.relayed() if self.relay is not None else 0

    def close(self) -> None:
        """Stop the relay and the client (a delayed start not yet made never happens)."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join()
        if self.relay is not None:
            self.relay.close()
        if self.seeder is not None and self._final_upload is None:
            with contextlib.suppress(Exception):
                self._final_upload = self.seeder.uploaded()
            self.seeder.close()

    def _start_later(self, delay: float, start: Any) -> None:
        """Start the client after ``delay`` s, in a thread, unless closed first."""

        def run() -> None:
            # The scenario's schedule, not a wait for something to happen.
            if self._cancel.wait(delay):
                return
            try:
                self._set_seeder(start())
            except BaseException as error:  # reported by wait_started
                self._error = error
            finally:
                self._started.set()

        self._thread = threading.Thread(target=run, name="torframes-lab-delayed", daemon=True)
        self._thread.start()

    def _set_seeder(self, seeder: ClientSeeder) -> None:
        self.seeder = seeder
        if self.relay is not None:
            self.relay.retarget(seeder.endpoint)
        if self._cancel.is_set():  # closed while starting
            seeder.close()


class Lab:
    """A swarm on loopback for tests and benchmarks; see the module docstring.

    ``root``: a folder for the lab's client workdirs (made in it, deleted on
    close). ``dht_nodes``: start a private DHT of that many libtorrent nodes
    (0: none; else at least 10). ``tracker``: start opentracker (HTTP and UDP).
    """

    def __init__(self, root: Path, *, dht_nodes: int = 0, tracker: bool = False) -> None:
        if dht_nodes and dht_nodes < MIN_NODES:
            raise ValueError(f"a lab DHT has at least {MIN_NODES} nodes, not {dht_nodes}")
        self.root = Path(root)
        self._hosts = iter(lab_hosts())
        self._dht_nodes = dht_nodes
        self._want_tracker = tracker
        self._peers: list[LabPeer] = []
        self._made: list[Path] = []
        self._loop: RelayLoop | None = None
        self._started = False
        self.dht: PrivateDHT | None = None
        self.tracker: Any = None
        self.dht_bootstrap: list[tuple[str, int]] = []
        #: The leecher's own loopback address (:meth:`settings` listens there).
        self.leecher_host = next(self._hosts)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Lab:
        """Start the DHT and the tracker, if asked for (done by ``with``)."""
        if self._started:
            return self
        self._started = True
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            if self._dht_nodes:
                hosts = [next(self._hosts) for _ in range(self._dht_nodes)]
                self.dht = PrivateDHT(hosts).start()
                self.dht_bootstrap = self.dht.bootstrap
            if self._want_tracker:
                self.tracker = _start_tracker(self._workdir("tracker"))
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """End every peer, relay, DHT node and tracker; delete the folders the lab made."""
        peers, self._peers = self._peers, []
        for peer in peers:
            with contextlib.suppress(Exception):
                peer.close()
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        if self.dht is not None:
            self.dht.close()
            self.dht = None
        if self.tracker is not None:
            with contextlib.suppress(Exception):
                self.tracker.close()
            self.tracker = None
        for folder in self._made:
            shutil.rmtree(folder, ignore_errors=True)
        self._made.clear()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- peers -------------------------------------------------------------------------

    def seed(
        self,
        torrent: Path,
        content_dir: Path,
        *,
        client: str = "libtorrent",
        pieces: Collection[int] | None = None,
        shape: Shape | None = None,
        behaviour: str = "normal",
        announce: bool = False,
        dht: bool = False,
        start_delay: float = 0.0,
    ) -> LabPeer:
        """Start ``client`` seeding ``torrent`` (data in ``content_dir``); the new peer.

        ``pieces``: a partial seed of only these pieces. ``shape`` and
        ``behaviour`` (one of :data:`~torframes.testing.lab.relay.BEHAVIOURS`)
        put a relay in front. ``announce``: the client announces to the
        torrent's trackers (else it is given the torrent without them).
        ``dht``: the client joins the lab's DHT (and announces there).
        ``start_delay``: start the client that many seconds from now, in the
        background (a peer that appears while a leecher already looks).
        Returns once the client listens (at once with a delay).
        """
        self.start()
        if client not in CLIENTS:
            raise ValueError(f"client is one of {', '.join(CLIENTS)}, not {client!r}")
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour is one of {', '.join(BEHAVIOURS)}, not {behaviour!r}")
        if dht and self.dht is None:
            raise ValueError("dht=True needs a lab made with dht_nodes >= 10")
        if start_delay < 0:
            raise ValueError(f"start_delay is >= 0, not {start_delay}")
        relay = None
        if shape is not None or behaviour != "normal":
            relay = Relay(
                None, host=next(self._hosts), shape=shape, behaviour=behaviour, loop=self._relays()
            )
        peer = LabPeer(client, behaviour, relay, delayed=start_delay > 0)
        self._peers.append(peer)
        if behaviour == "silent":
            return peer  # a relay that never answers: no client behind it
        host = next(self._hosts)
        workdir = self._workdir(f"{client}-{host}")

        def start() -> ClientSeeder:
            return launch(
                client,
                workdir=workdir,
                torrent=Path(torrent),
                content_dir=Path(content_dir),
                host=host,
                trackers=announce,
                dht_bootstrap=self.dht_bootstrap if dht else (),
                pieces=pieces,
            )

        if start_delay > 0:
            peer._start_later(start_delay, start)
        else:
            try:
                peer._set_seeder(start())
            except BaseException:
                self._peers.remove(peer)
                peer.close()
                raise
        return peer

    @property
    def seeders(self) -> list[LabPeer]:
        """Every peer seeded so far, in order."""
        return list(self._peers)

    def peers(self) -> list[tuple[str, int]]:
        """Endpoints a leecher dials: relays where there are, else the clients (started ones)."""
        return [peer.endpoint for peer in self._peers if peer.relay is not None or peer.started]

    def settings(self, **overrides: Any) -> Settings:
        """Leecher settings: :meth:`Settings.loopback` on the lab's leecher address.

        Encryption off on outgoing connections (relays read the BEP 3 stream).
        With a lab DHT: the DHT on, bootstrapped from the lab's nodes only,
        with the loopback settings of :func:`~torframes.testing.lab.dht.node_settings`.
        ``overrides`` set any field; a ``libtorrent`` dict is merged over the lab's.
        """
        libtorrent: dict[str, Any] = {"out_enc_policy": 2}  # pe_disabled
        values: dict[str, Any] = {"listen_interfaces": f"{self.leecher_host}:0"}
        if self.dht is not None:
            values["enable_dht"] = True
            pack = node_settings(self.leecher_host, self.dht_bootstrap)
            libtorrent.update(
                (key, value)
                for key, value in pack.items()
                if key.startswith("dht_") or key == "enable_ip_notifier"
            )
        libtorrent.update(overrides.pop("libtorrent", {}))
        values.update(overrides)
        return Settings.loopback(libtorrent=libtorrent, **values)

    # -- internals ---------------------------------------------------------------------

    def _relays(self) -> RelayLoop:
        if self._loop is None:
            self._loop = RelayLoop()
        return self._loop

    def _workdir(self, name: str) -> Path:
        folder = self.root / f"lab-{name}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self._made.append(folder)
        return folder


def total_uploaded(peers: Iterable[LabPeer]) -> int:
    """Sum of the peers' own upload counters (:meth:`LabPeer.uploaded`)."""
    return sum(peer.uploaded() for peer in peers)


def _start_tracker(workdir: Path) -> Any:
    """opentracker on 127.0.0.1 (HTTP and UDP), from helper lab-clients' ``tracker`` module."""
    try:
        from torframes.testing.lab.clients.tracker import start_tracker
    except ImportError as error:  # pragma: no cover - until the tracker module lands
        raise NotImplementedError("the lab's tracker module is not available yet") from error
    return start_tracker(workdir)
