"""Hybrid torrents (BEP 52) against qBittorrent 4.5, by every kind of source (issue 12).

qBittorrent 4.5's libtorrent 2.0 remembers a peer by its address (one
connection per address, its default) and whether it last spoke with the
truncated v2 hash. Once an address has connected by v2, a plain v1
handshake from it is answered with the truncated v2 hash, and a leecher
that knows only the v1 hash (a v1 magnet or infohash) hangs up on it
("invalid info-hash"). Every leecher here comes from 127.0.0.1, right
after one that spoke v2. Oracles: the frame index drawn in each decoded
picture, and qBittorrent's own upload counter for the bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest

from torframes.api.video import open_video
from torframes.settings import Settings
from torframes.testing.lab.clients import wait_uploaded
from torframes.testing.lab.clients.torrents import make_torrent
from torframes.torrent.client import Client

from .screenshots import two_screenshots

pytestmark = pytest.mark.swarm

KiB = 1024


async def test_hybrid_by_every_source_after_a_v2_connection_from_the_same_address(
    swarm_video: Path, tmp_path: Path, seeders: Callable[..., Any]
) -> None:
    torrent = make_torrent(swarm_video, tmp_path / "clip.torrent", version="hybrid")
    info = lt.torrent_info(str(torrent))
    hashes = info.info_hashes()
    by = {
        "v1": f"magnet:?xt=urn:btih:{hashes.v1}",
        "v2": f"magnet:?xt=urn:btmh:1220{hashes.v2.to_bytes().hex()}",
        "both": str(lt.make_magnet_uri(info)),
        ".torrent": torrent.read_bytes(),
    }
    seeder = seeders("qbittorrent", torrent=torrent, content_dir=swarm_video.parent)
    seeder.set_preferences(enable_multi_connections_from_same_ip=False)
    # libtorrent dials a peer that hung up on the handshake again only after
    # min_reconnect_time (2 s) times its failures: a metadata timeout below
    # that fails unless the peer is dialled again at once.
    settings = Settings.loopback(metadata_timeout=3.0, piece_timeout=10.0, cache=False)
    floor = 0
    for kind in ("v2", "v1", "both", "v2", ".torrent", "v2", "v1"):
        # One connection per address: the last leecher's must be gone, or
        # qBittorrent refuses the next as a second connection from 127.0.0.1.
        seeder.wait_disconnected()
        async with Client(settings) as client:
            video = await open_video(client, by[kind], peers=[seeder.endpoint])
            floor += await two_screenshots(video)
    assert wait_uploaded(seeder, floor) == floor
