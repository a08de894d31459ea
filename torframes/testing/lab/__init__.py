"""The swarm lab: many seeders on 127.0.0.x, real clients, a tracker, a private DHT.

Test scaffolding for issue 12; never imported by the runtime package.

* :class:`Lab` — the orchestrator: seeders (real clients, see
  :mod:`torframes.testing.lab.clients`), each on its own loopback address,
  optionally behind a shaping or misbehaving :class:`Relay`; a private DHT;
  opentracker. :meth:`Lab.settings` gives the leecher's settings.
* :class:`Shape` — one-way latency and rate of a relayed link.
* :class:`Relay` — a user-space TCP relay (``netem`` stand-in) that counts
  PIECE bytes and can be ``"silent"``, ``"drop_mid_piece"`` or ``"corrupt"``.
* :class:`PrivateDHT` — >= 10 libtorrent DHT nodes on loopback.
* :func:`total_uploaded` — the sum of peers' own upload counters.
"""

from torframes.testing.lab.dht import PrivateDHT, routing_endpoints
from torframes.testing.lab.lab import Lab, LabPeer, total_uploaded
from torframes.testing.lab.relay import BEHAVIOURS, Relay, RelayLoop, Shape

__all__ = [
    "BEHAVIOURS",
    "Lab",
    "LabPeer",
    "PrivateDHT",
    "Relay",
    "RelayLoop",
    "Shape",
    "routing_endpoints",
    "total_uploaded",
]
