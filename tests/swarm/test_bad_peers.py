"""Bad peers beside a good one (issue 12, Tests): a dead peer, a corrupt peer.

A peer that accepts the connection and never answers must not hold a round
back; a peer whose every block is corrupt is banned (BEP 3 piece hashes)
and its pieces come from the good seeder. Oracles: the frame index drawn in
each decoded picture, the good seeder's own upload counter, the relay's
count of the blocks it delivered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from torframes.api.video import Video, open_video
from torframes.testing.lab.clients import wait_uploaded
from torframes.testing.lab.clients.torrents import make_torrent
from torframes.testing.lab.lab import Lab, Shape
from torframes.testing.videos import read_frame_index
from torframes.torrent.client import Client

from .conftest import FPS

pytestmark = pytest.mark.swarm

KiB = 1024


async def five_screenshots(video: Video) -> None:
    picks = video.select(5, "even")
    seen = [
        (round(float(row["time"]) * FPS), read_frame_index(image))
        async for row, image in video.frames(picks)
    ]
    assert len(seen) == 5
    assert all(shown == wanted for wanted, shown in seen)


async def test_a_dead_peer_holds_nothing_back(swarm_video: Path, tmp_path: Path) -> None:
    torrent = make_torrent(swarm_video, tmp_path / "clip.torrent", piece_size=16 * KiB)
    with Lab(tmp_path / "lab") as lab:
        dead = lab.seed(torrent, swarm_video.parent, behaviour="silent")
        good = lab.seed(torrent, swarm_video.parent)
        async with Client(lab.settings()) as client:
            video = await open_video(client, torrent.read_bytes(), peers=lab.peers())
            await five_screenshots(video)
            stats = video.stats
            assert stats.bytes_fetched == stats.piece_floor
        assert dead.relayed() == 0
        assert wait_uploaded(good, stats.piece_floor) == stats.piece_floor


async def test_a_corrupt_peer_is_banned_and_its_pieces_come_from_elsewhere(
    swarm_video: Path, tmp_path: Path
) -> None:
    torrent = make_torrent(swarm_video, tmp_path / "clip.torrent", piece_size=16 * KiB)
    with Lab(tmp_path / "lab") as lab:
        corrupt = lab.seed(torrent, swarm_video.parent, behaviour="corrupt")
        # Known but not up yet when the first corrupt piece fails: no peer is
        # connected then, yet one is there to be dialled again.
        good = lab.seed(torrent, swarm_video.parent, shape=Shape(), start_delay=1.0)
        async with Client(lab.settings()) as client:
            # The corrupt peer first: the first piece fails its hash from it.
            added = await client.add(torrent.read_bytes(), peers=[corrupt.endpoint])
            video = await open_video(client, torrent.read_bytes(), peers=[good.endpoint])
            assert video.torrent is added
            await five_screenshots(video)
            stats = video.torrent.stats
            connected = {info.ip for info in added.handle.get_peer_info()}
        # The corrupt peer was dropped, and every byte fetched is accounted for:
        # the floor, the corrupt pieces (failed), and blocks that came twice
        # (libtorrent's end-game asks busy blocks of idle peers); the seeders'
        # own counters (the good client's, the corrupt relay's) add up to it.
        assert corrupt.relayed() > 0
        assert stats.failed_bytes > 0
        assert corrupt.endpoint not in connected
        floor = video.stats.piece_floor
        assert stats.bytes_fetched == floor + stats.failed_bytes + stats.redundant_bytes
        expected = stats.bytes_fetched - corrupt.relayed()
        assert wait_uploaded(good, expected) == expected
