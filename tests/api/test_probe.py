"""The index probe's rounds, with and without fetching the last piece up front."""

from __future__ import annotations

from pathlib import Path

import pytest

from torframes.api.video import open_video
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024


@pytest.mark.parametrize("faststart", [False, True])
async def test_two_rounds_after_metadata(
    swarm: LocalSwarm, client: Client, tmp_path: Path, faststart: bool
) -> None:
    # Many samples and keyframes: the moov (stss, stsz, stco) spans several pieces.
    path = make_video(
        tmp_path / "v.mp4", frames=4000, gop=2, width=128, height=64, faststart=faststart
    )
    seed = swarm.seed(path, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet)
    moov = next(r for name, r in video.index.layout if name == "moov")
    assert len(video.geometry.pieces(moov)) >= 2
    assert len(video.probe.rounds) == 2
    assert video.stats.bytes_fetched == video.stats.piece_floor
    assert (moov.start < 16 * KiB) == faststart


async def test_speculating_the_last_piece_saves_a_round_at_the_tail(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    path = make_video(tmp_path / "v.mp4", frames=48, gop=12)
    seed = swarm.seed(path, piece_size=64 * KiB)
    video = await open_video(client, seed.magnet, speculate_last_piece=True)
    assert len(video.probe.rounds) == 1
    last_piece = video.geometry.num_pieces - 1
    assert last_piece in video.probe.rounds[0].pieces
    assert video.stats.bytes_fetched == video.stats.piece_floor


async def test_speculating_costs_a_piece_when_moov_is_at_the_head(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    path = make_video(tmp_path / "v.mp4", frames=240, gop=12, faststart=True)
    seed = swarm.seed(path, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet, speculate_last_piece=True)
    last = video.geometry.num_pieces - 1
    assert video.stats.bytes_fetched == video.stats.piece_floor + video.geometry.piece_size(last)
