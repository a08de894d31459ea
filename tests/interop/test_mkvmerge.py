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
