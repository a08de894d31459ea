"""A private BitTorrent DHT (BEP 5) of libtorrent nodes on loopback addresses.

::

    with PrivateDHT(hosts) as dht:                 # >= 10 nodes, each on its own 127.x.y.z
        Settings.loopback(enable_dht=True,
                          libtorrent={"dht_bootstrap_nodes": dht.bootstrap_setting(), ...})
        dht.lookup(infohash)                       # peers the DHT holds for it

Every node is a libtorrent session with only the DHT on (no torrents, LSD,
UPnP, NAT-PMP), bound to its own loopback address, with the settings that
let a DHT live on loopback (LIBTORRENT-NOTES, "A private DHT on loopback
works"): ``dht_restrict_routing_ips``, ``dht_restrict_search_ips``,
``dht_ignore_dark_internet`` and ``dht_prefer_verified_node_ids`` off.
Node *k* bootstraps from the nodes started before it, never from
libtorrent's default routers, so nothing leaves 127.0.0.0/8. Starting
returns once every node's routing table holds enough of the others
(:attr:`PrivateDHT.min_known`), read from libtorrent's ``dht.dht_nodes``
session counter.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import libtorrent

__all__ = ["MIN_NODES", "PrivateDHT", "node_settings", "routing_endpoints"]

#: Fewest nodes a lab DHT has (issue 12: "a private DHT of at least 10 nodes").
MIN_NODES = 10


def node_settings(host: str, bootstrap: Sequence[tuple[str, int]]) -> dict[str, object]:
    """libtorrent settings of a session whose DHT lives on loopback (see the module doc).

    Usable for any session joining the lab's DHT: DHT nodes, seeders, leechers.
    """
    return {
        "enable_dht": True,
        "dht_bootstrap_nodes": ",".join(f"{h}:{p}" for h, p in bootstrap),
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "dht_prefer_verified_node_ids": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "listen_interfaces": f"{host}:0",
    }


def routing_endpoints(session: libtorrent.session) -> list[tuple[str, int]]:
    """The IPv4 endpoints in ``session``'s DHT routing table, from its saved DHT state.

    (The Python binding cannot convert ``dht_state.nodes`` nor answer
    ``dht_live_nodes`` without the node id; the bencoded session state has
    both, as BEP 5 compact node info: 4 address bytes and 2 port bytes.)
    """
    import libtorrent

    state = libtorrent.bdecode(libtorrent.write_session_params_buf(session.session_state()))
    nodes = (state or {}).get(b"dht state", {}).get(b"nodes", [])
    found = []
    for compact in nodes:
        if len(compact) == 6:
            host = str(ipaddress.IPv4Address(compact[:4]))
            found.append((host, int.from_bytes(compact[4:], "big")))
    return found


class PrivateDHT:
    """``len(hosts)`` DHT nodes, one per loopback address; see the module docstring.

    ``min_known``: each node must know at least this many others before
    :meth:`start` returns (default: half the others, at least 3).
    """

    def __init__(
        self, hosts: Sequence[str], *, min_known: int | None = None, timeout: float = 30.0
    ) -> None:
        if len(hosts) < MIN_NODES:
            raise ValueError(f"a lab DHT has at least {MIN_NODES} nodes, not {len(hosts)}")
        for host in hosts:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError(f"DHT nodes stay on loopback; {host!r} is not")
        self.hosts = list(hosts)
        self.min_known = min_known if min_known is not None else max(3, (len(hosts) - 1) // 2)
        self.timeout = timeout
        self._sessions: list[libtorrent.session] = []
        self.nodes: list[tuple[str, int]] = []

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> PrivateDHT:
        """Start every node, then wait until each knows :attr:`min_known` others."""
        import libtorrent

        try:
            for host in self.hosts:
                # libtorrent keeps dht_bootstrap_nodes as routers, never in its routing
                # table: lab nodes are introduced as plain nodes instead (add_dht_node).
                pack = node_settings(host, ())
                # Every node's queries come from 127/8 at test speed: no rate blocks.
                pack["dht_block_ratelimit"] = 10_000
                pack["dht_upload_rate_limit"] = 1_000_000
                category = libtorrent.alert.category_t
                pack["alert_mask"] = int(
                    category.dht_notification | category.dht_operation_notification
                )
                session = libtorrent.session(pack)
                self._sessions.append(session)
                for node in self.nodes:
                    session.add_dht_node(node)
                self.nodes.append((host, self._wait_listening(session, host)))
            self._wait_connected()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """End every node's session (each destructor waits for its threads)."""
        while self._sessions:
            session = self._sessions.pop()
            del session
        self.nodes = []

    def __enter__(self) -> PrivateDHT:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- queries -----------------------------------------------------------------------

    @property
    def bootstrap(self) -> list[tuple[str, int]]:
        """(host, port) of two nodes, for a joining session's ``dht_bootstrap_nodes``.

        Not all of them: libtorrent uses bootstrap nodes as routers and never
        puts them in its routing table, so the others are learnt from these.
        """
        return list(self.nodes[:2])

    def bootstrap_setting(self) -> str:
        """:attr:`bootstrap` as libtorrent's ``dht_bootstrap_nodes`` string."""
        return ",".join(f"{host}:{port}" for host, port in self.bootstrap)

    def known_nodes(self) -> list[int]:
        """How many DHT nodes each lab node's routing table holds (``dht.dht_nodes``)."""
        return [self._counter(session, "dht.dht_nodes") for session in self._sessions]

    def routing_endpoints(self) -> list[tuple[str, int]]:
        """Every endpoint in any lab node's routing table (to check they are all ours)."""
        found: set[tuple[str, int]] = set()
        for session in self._sessions:
            found.update(routing_endpoints(session))
        return sorted(found)

    def lookup(
        self, infohash: str, *, want: int = 1, timeout: float = 10.0
    ) -> list[tuple[str, int]]:
        """Peers the DHT holds for ``infohash`` (v1 hex, or a v2 hash's first 20 bytes).

        BEP 5 ``get_peers`` traversals from the lab's nodes in turn, one a
        second, until ``want`` distinct peers have been reported or
        ``timeout`` s pass; returns what was found (libtorrent reports a
        reply only when it holds peers).
        """
        import libtorrent

        target = libtorrent.sha1_hash(bytes.fromhex(infohash[:40]))
        peers: set[tuple[str, int]] = set()
        deadline = time.monotonic() + timeout
        asked = 0
        while len(peers) < want and time.monotonic() < deadline:
            session = self._sessions[asked % len(self._sessions)]
            asked += 1
            session.dht_get_peers(target)
            next_ask = min(deadline, time.monotonic() + 1.0)
            while len(peers) < want and time.monotonic() < next_ask:
                session.wait_for_alert(100)
                for alert in session.pop_alerts():
                    if isinstance(alert, libtorrent.dht_get_peers_reply_alert):
                        peers.update((str(host), int(port)) for host, port in alert.peers())
        return sorted(peers)

    # -- internals ---------------------------------------------------------------------

    def _wait_listening(self, session: libtorrent.session, host: str) -> int:
        deadline = time.monotonic() + self.timeout
        while not session.listen_port():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the DHT node on {host} did not listen in {self.timeout} s")
            session.wait_for_alert(50)
            session.pop_alerts()
        return int(session.listen_port())

    def _wait_connected(self) -> None:
        """Until every node knows :attr:`min_known` others; re-bootstraps laggards."""
        wanted = min(self.min_known, len(self._sessions) - 1)
        deadline = time.monotonic() + self.timeout
        introduced = 0.0
        while True:
            known = self.known_nodes()
            if min(known) >= wanted:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the lab DHT did not connect in {self.timeout} s: nodes know {known}, "
                    f"{wanted} wanted each"
                )
            if time.monotonic() - introduced < 1.0:
                self._sessions[0].wait_for_alert(100)
                continue
            introduced = time.monotonic()
            for session, count in zip(self._sessions, known, strict=True):
                if count < wanted:
                    # A node started early knows only those before it: introduce the rest.
                    for host, port in self.nodes:
                        session.add_dht_node((host, port))

    def _counter(self, session: libtorrent.session, name: str) -> int:
        import libtorrent

        index = libtorrent.find_metric_idx(name)
        session.post_session_stats()
        alert = self._wait_alert(session, libtorrent.session_stats_alert)
        return int(alert.values[name]) if hasattr(alert, "values") else int(alert.counters[index])

    def _wait_alert(self, session: libtorrent.session, kind: type) -> libtorrent.alert:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            session.wait_for_alert(100)
            for alert in session.pop_alerts():
                if isinstance(alert, kind):
                    return alert
        raise RuntimeError(f"a lab DHT node posted no {kind.__name__} in {self.timeout} s")
