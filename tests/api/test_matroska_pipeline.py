"""Matroska and WebM from a magnet: Cues-driven keyframe tables and screenshots.

The oracle is PyAV's demux of the complete file: every keyframe the Cues
list, once located, has FFmpeg's packet size and pts, and its payload starts
right after the 4-byte SimpleBlock header FFmpeg's ``pos`` points at. Frames
decode to the index they show; the seeder uploads exactly the piece floor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from torframes.api.video import Video, open_video
from torframes.testing.oracle import keyframe_packets
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video, read_frame_index, remux
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024
FPS = 24


async def check_against_pyav(video: Video, data: bytes, *, every_keyframe: bool) -> None:
    located = await video.locate(video.keyframes)
    ours = located.set_index("pts")
    oracle = keyframe_packets(data).set_index("pts")
    if every_keyframe:
        assert sorted(ours.index) == sorted(oracle.index)
    else:
        assert set(ours.index) <= set(oracle.index)
    for pts, row in ours.iterrows():
        assert int(row["size"]) == oracle.loc[pts, "size"]
        assert int(row["offset"]) == oracle.loc[pts, "offset"] + 4
        assert data[int(row["offset"]) : int(row["offset"]) + 8]


async def check_frames_and_bytes(
    video: Video, seed: Any, n: int = 4, *, exact: bool = True
) -> None:
    picks = video.select(n, "even")
    got = {}
    async for row, image in video.frames(picks):
        got[round(float(row["time"]) * FPS)] = read_frame_index(image)
    assert got == {k: k for k in got}
    assert len(got) == len(picks)
    stats = video.stats
    if exact:
        assert stats.bytes_fetched == stats.piece_floor
    else:  # probing reads ahead: every floor piece is fetched, and some more
        assert set(video.probe.floor_pieces) <= video.torrent.held_pieces()
        assert stats.piece_floor <= stats.bytes_fetched
    assert seed.wait_uploaded(stats.bytes_fetched, timeout=10) == stats.bytes_fetched


CASES: dict[str, dict[str, Any]] = {
    "h264-mkv": {"codec": "h264", "container": "mkv", "audio": True},
    "hevc-mkv-front-cues": {
        "codec": "hevc",
        "container": "mkv",
        "muxer_options": {"cues_to_front": "1"},
    },
    "vp9-webm": {"codec": "vp9", "container": "webm", "audio": True},
    "av1-mkv": {"codec": "av1", "container": "mkv"},
    "vp8-webm": {"codec": "vp8", "container": "webm"},
    "mpeg4-mkv": {"codec": "mpeg4", "container": "mkv"},
    "av1-webm-front-cues": {
        "codec": "av1",
        "container": "webm",
        "muxer_options": {"cues_to_front": "1"},
    },
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("piece_size", [16 * KiB, 64 * KiB])
async def test_cues_driven_end_to_end(
    swarm: LocalSwarm, client: Client, videos: Path, case: str, piece_size: int
) -> None:
    spec = CASES[case]
    path = videos / f"{case}.{spec['container']}"
    if not path.exists():
        make_video(path, frames=96, gop=12, **spec)
    seed = swarm.seed(path, piece_size=piece_size)
    video = await open_video(client, seed.magnet)
    assert video.index.container == ("webm" if spec["container"] == "webm" else "matroska")
    assert video.tracks["indexed_by"].unique().tolist() == ["cues"]
    assert video.keyframes["sample"].isna().all()
    assert not video.index.complete
    await check_frames_and_bytes(video, seed)
    await check_against_pyav(video, path.read_bytes(), every_keyframe=True)


async def test_mkv_not_first_in_a_multi_file_torrent(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    path = make_video(tmp_path / "show.mkv", codec="h264", container="mkv", frames=96, gop=12)
    seed = swarm.seed(
        {"pack/00-intro.txt": b"i" * 3_000, "pack/show.mkv": path, "pack/zz.nfo": b"n" * 999},
        piece_size=16 * KiB,
    )
    video = await open_video(client, seed.magnet)
    assert video.file == 1
    assert video.geometry.file_offset % (16 * KiB) != 0
    await check_frames_and_bytes(video, seed)
    await check_against_pyav(video, path.read_bytes(), every_keyframe=True)


async def test_without_cues_probes_a_bounded_number_of_clusters(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    source = make_video(
        tmp_path / "src.mkv", container="mkv", frames=240, gop=12, noise=True, width=640, height=360
    )
    # Muxed as to a pipe: no Cues, a Segment of unknown size.
    data = remux(source, tmp_path / "live.mkv", seekable=False).read_bytes()
    seed = swarm.seed({"live.mkv": data}, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet)
    assert video.tracks["indexed_by"].unique().tolist() == ["probe"]
    assert 1 <= len(video.keyframes) <= client.settings.cluster_probes
    assert video.stats.bytes_fetched < len(data) / 2
    await check_frames_and_bytes(video, seed, n=3, exact=False)
    await check_against_pyav(video, data, every_keyframe=False)
