"""Matroska files written by mkvmerge (MKVToolNix), the muxer behind most public MKVs.

mkvmerge lays a file out differently from FFmpeg: a Void after the SeekHead
(so Info and Tracks start past the first 4 KiB), Attachments (fonts) before
the Clusters, CueRelativePosition in the Cues at the end. The index must
still cost only its own bytes, and the frames must be the right ones.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from torframes.api.video import open_video
from torframes.containers.local import index_file
from torframes.testing.oracle import keyframe_packets
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video, read_frame_index
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024
FPS = 24


@pytest.fixture(scope="module", params=["plain", "with-fonts"])
def mkv(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mkvmerge: str
) -> Path:
    folder = tmp_path_factory.mktemp("mkvmerge")
    source = make_video(folder / "src.mp4", frames=240, gop=24, bframes=2, audio=True)
    options: list[str] = []
    if request.param == "with-fonts":
        font = folder / "font.ttf"
        font.write_bytes(random.Random(7).randbytes(300_000))
        options = ["--attachment-mime-type", "font/ttf", "--attach-file", str(font)]
    target = folder / f"{request.param}.mkv"
    command = [mkvmerge, "-q", "-o", str(target), *options, str(source)]
    subprocess.run(command, check=True, capture_output=True)
    return target


def test_the_index_costs_only_its_own_bytes(mkv: Path) -> None:
    local = index_file(mkv)
    layout = dict(local.index.layout)
    assert layout["Info"].start > 4 * KiB  # past mkvmerge's Void
    # The head, 4 KiB peeks at Info and at Tracks, and the Cues at the end: not the
    # Clusters (nor the fonts in front of them).
    assert local.bytes_read <= 4 * KiB + 2 * 4 * KiB + layout["Cues"].length
    oracle = keyframe_packets(mkv)
    video = local.samples[local.samples["track_id"] == 1]
    assert sorted(video.loc[video["is_keyframe"], "pts"]) == sorted(oracle["pts"])


async def test_from_a_magnet(mkv: Path, swarm: LocalSwarm, client: Client) -> None:
    seed = swarm.seed(mkv, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet)
    located = (await video.locate(video.keyframes)).set_index("pts").sort_index()
    oracle = keyframe_packets(mkv).set_index("pts").sort_index()
    assert located["size"].tolist() == oracle["size"].tolist()
    assert (located["offset"] - oracle["offset"]).unique().tolist() == [4]
    # mkvmerge starts the timeline at the first frame's pts (half a frame here, from the
    # B-frame delay): frame k is shown at first + k / FPS.
    first = float(video.keyframes["time"].min())
    async for row, image in video.frames(video.select(4)):
        assert read_frame_index(image) == round((float(row["time"]) - first) * FPS)
    assert video.stats.bytes_fetched == video.stats.piece_floor
    assert seed.wait_uploaded(video.stats.piece_floor, timeout=10) == video.stats.piece_floor


@pytest.fixture
def no_cues(tmp_path: Path, mkvmerge: str) -> Path:
    """``mkvmerge --no-cues`` with long Clusters: one Cluster, one keyframe, no Cues."""
    source = make_video(
        tmp_path / "src.mp4", codec="mpeg4", container="mp4", audio=True, frames=48, gop=1000,
        noise=True, width=640, height=360,
    )  # fmt: skip
    target = tmp_path / "no-cues.mkv"
    command = [mkvmerge, "-q", "-o", str(target), "--no-cues", "--cluster-length", "30000ms"]
    subprocess.run([*command, str(source)], check=True, capture_output=True)
    return target


async def test_one_cluster_without_cues(no_cues: Path, swarm: LocalSwarm, client: Client) -> None:
    """Opening it costs the headers and the Cluster's head; the frame costs its own
    pieces: together, the pieces of ``[0, end of the keyframe)``."""
    data = no_cues.read_bytes()
    assert data.count(b"\x1f\x43\xb6\x75") == 1  # the Cluster ID, once
    assert b"\x1c\x53\xbb\x6b" not in data  # no Cues
    oracle = keyframe_packets(data)
    assert len(oracle) == 1
    pos, size = int(oracle["offset"].iloc[0]), int(oracle["size"].iloc[0])
    local = index_file(no_cues)
    assert local.samples[["offset", "size", "pts"]].values.tolist() == [
        [pos + 4, size, int(oracle["pts"].iloc[0])]
    ]
    assert max(r.stop for r in local.reads) < pos + 4 + size < len(data) / 2
    piece = 16 * KiB
    seed = swarm.seed(no_cues, piece_size=piece)
    video = await open_video(client, seed.magnet)
    async for _, image in video.frames(video.select(1)):
        assert read_frame_index(image) == 0
    floor = seed.transfer_size(range((pos + 4 + size - 1) // piece + 1))
    assert video.stats.bytes_fetched == video.stats.piece_floor == floor
    assert seed.wait_uploaded(floor, timeout=10) == floor
