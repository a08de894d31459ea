"""Real BitTorrent clients as lab seeders, each started by :func:`launch`.

=============  ==========================================  ======================
client         process and counter                          v2/hybrid, partial
=============  ==========================================  ======================
libtorrent     in-process session (LocalSwarm's settings),  yes, yes
               ``total_payload_upload``
qbittorrent    qbittorrent-nox 4.5, WebUI API               yes, no
               ``uploaded_session``
transmission   transmission-daemon 3.00, RPC                v1 only, no
               ``uploadedEver`` minus 13 B per block
aria2          aria2c 1.36, JSON-RPC ``uploadLength``       v1 only, no
rtorrent       rtorrent 0.9.8 daemon, XML-RPC over SCGI     v1 only, no
               ``d.up.total``
webtorrent     WebTorrent 3 under node, ``torrent.uploaded``  v1 only, no
=============  ==========================================  ======================

:func:`start_tracker` runs opentracker (HTTP and UDP) on 127.0.0.1.
Everything binds to 127.0.0.0/8; DHT only toward the nodes given.
"""

from torframes.testing.lab.clients.base import (
    CLIENTS,
    ClientSeeder,
    LabError,
    launch,
    wait_uploaded,
)
from torframes.testing.lab.clients.torrents import make_torrent
from torframes.testing.lab.clients.tracker import Tracker, start_tracker

__all__ = [
    "CLIENTS",
    "ClientSeeder",
    "LabError",
    "Tracker",
    "launch",
    "make_torrent",
    "start_tracker",
    "wait_uploaded",
]
