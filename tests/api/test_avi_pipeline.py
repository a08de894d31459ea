"""AVI from a magnet: idx1 and OpenDML keyframe tables and screenshots at the piece floor.

The oracle is PyAV's demux of the complete file: every keyframe row is a
keyframe packet FFmpeg demuxes at the same ``pos`` with the same size and
dts. Screenshots decode to the frame index they show; the seeder uploads
exactly the piece floor (the pieces of the headers, the index chunks and
the chosen keyframes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from torframes.api.video import Video, open_video
from torframes.testing.avi import make_avi, rewrite_odml
from torframes.testing.oracle import keyframe_packets
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import read_frame_index
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024
FPS = 24


def check_keyframes(video: Video, data: bytes) -> None:
    ours = video.keyframes.set_index("dts")
    oracle = keyframe_packets(data).set_index("dts")
    assert sorted(ours.index) == sorted(oracle.index)
    for dts, row in ours.iterrows():
        assert int(row["offset"]) == oracle.loc[dts, "offset"]
        assert int(row["size"]) == oracle.loc[dts, "size"]


async def check_frames_and_bytes(video: Video, seed, n: int = 4) -> None:
    picks = video.select(n, "even")
    got = {}
    async for row, image in video.frames(picks):
        got[round(float(row["time"]) * FPS)] = read_frame_index(image)
    assert got == {k: k for k in got}
    assert len(got) == len(picks) == n
    stats = video.stats
    assert stats.bytes_fetched == stats.piece_floor < stats.file_size
    assert seed.wait_uploaded(stats.bytes_fetched, timeout=10) == stats.bytes_fetched


@pytest.mark.parametrize("codec", ["mpeg4", "h264", "mjpeg"])
@pytest.mark.parametrize("layout", ["idx1", "odml"])
async def test_avi_end_to_end(
    swarm: LocalSwarm, client: Client, videos: Path, codec: str, layout: str
) -> None:
    source = videos / f"{codec}.avi"
    if not source.exists():
        make_avi(
            source,
            codec,
            frames=96,
            gop=12,
            width=640,
            height=352,
            noise=True,
            audio=codec != "mjpeg",
        )
    path = source
    if layout == "odml":
        path = rewrite_odml(source, videos / f"{codec}-odml.avi", per_index=24, riffs=2)
    seed = swarm.seed(path, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet)
    assert video.index.container == "avi"
    assert video.tracks["indexed_by"].unique().tolist() == ["indx" if layout == "odml" else "idx1"]
    # the first piece holds the headers; then one round for idx1, or for every ix## chunk
    assert len(video.probe.rounds) == 2
    await check_frames_and_bytes(video, seed)
    check_keyframes(video, path.read_bytes())


async def test_avi_not_first_in_a_multi_file_torrent(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    path = make_avi(tmp_path / "show.avi", "mpeg4", frames=96, gop=12, noise=True)
    seed = swarm.seed(
        {"pack/00-intro.txt": b"i" * 3_000, "pack/show.avi": path, "pack/zz.nfo": b"n" * 999},
        piece_size=16 * KiB,
    )
    video = await open_video(client, seed.magnet)
    assert video.file == 1
    assert video.geometry.file_offset % (16 * KiB) != 0
    await check_frames_and_bytes(video, seed)
    check_keyframes(video, path.read_bytes())
