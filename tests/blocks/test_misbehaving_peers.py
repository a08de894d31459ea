"""Peers that lie, choke, stall or hang up: the read completes from the others, verified.

Each bad peer is a relay (``conftest.Relay``) in front of a real libtorrent seeder,
listed first so the block reader asks it early; the good peer is the seeder
itself. Frames are checked by the index each fixture frame carries.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from torframes.api.video import Video, open_video
from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import read_frame_index
from torframes.torrent.client import Client
from torframes.torrent.wire import block_reader

pytestmark = pytest.mark.swarm

KiB = 1024
FPS = 24


async def five_frames_right(video: Video) -> None:
    picks = video.select(5, "even")
    seen = {}
    async for row, image in video.frames(picks, progress=False):
        seen[round(float(row["time"]) * FPS)] = read_frame_index(image)
    assert seen == {k: k for k in seen}
    assert len(seen) == 5


def bare_magnet(magnet: str) -> str:
    """The magnet without its ``x.pe`` peer: peers are then given in the order a test wants."""
    return magnet.split("&x.pe=")[0]


@pytest.mark.parametrize("behaviour", ["choke", "silent", "drop_mid_block"])
async def test_a_peer_that_chokes_stalls_or_hangs_up_loses_its_requests(
    movie: Path, relay: type, behaviour: str
) -> None:
    async with LocalSwarm() as swarm:
        seed = await swarm.aseed(movie, piece_size=256 * KiB, version="v2")
        settings = Settings.loopback(read_mode="block", block_timeout=5.0)
        async with relay(swarm.address, behaviour) as bad, Client(settings) as client:
            peers = [bad.address, swarm.address]
            video = await open_video(client, bare_magnet(seed.magnet), peers=peers, progress=False)
            await five_frames_right(video)
            stats = video.stats
            if behaviour != "silent":
                assert bad.requests_seen >= 1  # the bad peer was asked, and failed
        assert stats.block_fallbacks == 0  # every block came from the good peer instead
        assert stats.unverified_frames == 0
        assert seed.wait_uploaded(stats.block_floor) >= stats.block_floor


async def test_a_corrupt_block_is_caught_by_its_merkle_proof(movie: Path, relay: type) -> None:
    async with LocalSwarm() as swarm:
        seed = await swarm.aseed(movie, piece_size=256 * KiB, version="hybrid")
        settings = Settings.loopback(read_mode="block")
        async with relay(swarm.address, "corrupt") as liar, Client(settings) as client:
            peers = [liar.address, swarm.address]
            video = await open_video(client, bare_magnet(seed.magnet), peers=peers, progress=False)
            await five_frames_right(video)
            reader = block_reader(video.torrent, settings)
            assert liar.corrupted >= 1
            assert reader.bad_blocks >= 1
            assert video.stats.unverified_frames == 0
            assert video.stats.block_fallbacks == 0


async def test_in_peers_mode_a_corrupt_block_is_outvoted(movie: Path, relay: type) -> None:
    """v1, ``verify="peers"``: each block from two peers; a third settles a disagreement."""
    async with LocalSwarm() as swarm:
        seed = await swarm.aseed(movie, piece_size=256 * KiB, version="v1")
        settings = Settings.loopback(read_mode="block", verify="peers")
        async with (
            relay(swarm.address, "corrupt") as liar,
            relay(swarm.address, "normal") as honest,
            Client(settings) as client,
        ):
            peers = [liar.address, honest.address, swarm.address]
            video = await open_video(client, bare_magnet(seed.magnet), peers=peers, progress=False)
            await five_frames_right(video)
            reader = block_reader(video.torrent, settings)
            stats = video.stats
            assert liar.corrupted >= 1
            assert reader.bad_blocks >= 1
            assert stats.unverified_frames == 0
            assert stats.block_fallbacks == 0
            assert stats.bytes_fetched == 0
            # every block was taken twice at least: from two distinct peers
            assert stats.block_bytes >= 2 * stats.block_floor
