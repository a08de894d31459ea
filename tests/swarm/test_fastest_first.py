"""Time-critical fetching: each block goes to the peer expected to send it first (issue 12, item 4).

A round's blocks are spread over every peer that can serve them, by each
peer's handshake round trip, queued bytes and measured rate, and a peer far
away gets none while the near ones would deliver sooner. Oracles: the
seeders' own upload counters and the relay's count of the PIECE bytes it
delivered.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import libtorrent as lt
import pytest

from torframes.testing.lab import Lab, Shape
from torframes.testing.lab.clients.torrents import make_torrent
from torframes.torrent.client import Client
from torframes.torrent.torrent import Torrent
from torframes.torrent.wire.reader import block_reader

from .test_floor_many import wait_total

pytestmark = pytest.mark.swarm

KiB = 1024


async def until_ready(torrent: Torrent, peers: int, timeout: float = 30.0) -> None:
    """Until ``peers`` of our own connections are open and unchoked (they open when the
    torrent is added with two or more peers)."""
    reader = block_reader(torrent, torrent._client.settings)
    deadline = asyncio.get_running_loop().time() + timeout
    while reader.ready_connections < peers:
        assert asyncio.get_running_loop().time() < deadline, f"{reader.ready_connections} ready"
        await reader.wait_changed(deadline - asyncio.get_running_loop().time())


async def test_one_round_of_one_piece_is_spread_over_every_peer(
    swarm_video: Path, tmp_path: Path
) -> None:
    """Four seeders, one 256 KiB piece (16 blocks): each seeder sends part of it."""
    torrent_file = make_torrent(swarm_video, tmp_path / "clip.torrent", piece_size=256 * KiB)
    info = lt.torrent_info(str(torrent_file))
    assert info.num_pieces() >= 3
    with Lab(tmp_path / "lab") as lab:
        seeders = [lab.seed(torrent_file, swarm_video.parent) for _ in range(4)]
        async with Client(lab.settings(piece_timeout=60)) as client:
            torrent = await client.add(torrent_file.read_bytes(), peers=lab.peers())
            await until_ready(torrent, 4)
            await torrent.fetch([1])
            assert torrent.stats.bytes_fetched == info.piece_size(1)
        assert wait_total(seeders, info.piece_size(1)) == info.piece_size(1)
        assert all(seeder.uploaded() > 0 for seeder in seeders), [
            seeder.uploaded() for seeder in seeders
        ]


async def test_a_far_peer_gets_no_block_the_near_ones_deliver_sooner(
    swarm_video: Path, tmp_path: Path
) -> None:
    """Three seeders on loopback and one 500 ms away at 50 KB/s, the whole file in one
    round: the near three send every block, the far one none (asked greedily, it took
    a pipeline's worth and held the round back by seconds)."""
    torrent_file = make_torrent(swarm_video, tmp_path / "clip.torrent", piece_size=64 * KiB)
    info = lt.torrent_info(str(torrent_file))
    with Lab(tmp_path / "lab") as lab:
        near = [lab.seed(torrent_file, swarm_video.parent) for _ in range(3)]
        far = lab.seed(torrent_file, swarm_video.parent, shape=Shape(0.250, 50_000))
        async with Client(lab.settings(piece_timeout=60)) as client:
            torrent = await client.add(torrent_file.read_bytes(), peers=lab.peers())
            await until_ready(torrent, 4)  # the far peer too: it could be asked
            await torrent.fetch(range(info.num_pieces()))
            assert torrent.stats.bytes_fetched == info.total_size()
        assert wait_total(near, info.total_size()) == info.total_size()
        assert far.relayed() == 0
        assert far.uploaded() == 0
