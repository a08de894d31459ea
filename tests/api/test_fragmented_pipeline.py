"""Fragmented MP4 from a magnet to keyframe tables and images over a real loopback swarm.

For each layout (FFmpeg's ``frag_keyframe`` with its ``mfra``, DASH with a
global ``sidx``, ``frag_duration`` fragments that do not all start on a
keyframe, no index at all): the keyframe table matches PyAV's demux of
the complete file, each decoded frame shows the frame index its row says,
and the seeder uploaded exactly the piece floor of the job. Without a
``sidx`` or an ``mfra`` the parser also looks for an ``mfro`` in the last
piece, and only that piece is fetched beyond the floor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from torframes.api.video import Video, open_video
from torframes.containers.base import ByteRange
from torframes.testing.oracle import keyframe_packets
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video, read_frame_index
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024
FRAG = "+frag_keyframe+empty_moov"


def our_keyframes(video: Video) -> pd.DataFrame:
    table = video.keyframes[["offset", "size", "pts", "dts"]].astype("int64")
    return table.sort_values("dts").reset_index(drop=True)


async def check_job(
    video: Video, path: Path, seed: Any, n: int = 5, extra: frozenset[int] = frozenset()
) -> None:
    expected = keyframe_packets(path)[["offset", "size", "pts", "dts"]]
    pd.testing.assert_frame_equal(our_keyframes(video), expected, check_dtype=False)
    picks = video.select(n, "even")
    assert len(picks) == min(n, len(expected))
    # frame k is the k-th of the track in presentation order (these files have no
    # edit list, and FFmpeg's frag_duration muxing stretches the first sample, so
    # the first frame is not shown at 0 and times are not k/24 s)
    samples = video.samples
    shown = samples[samples["track_id"] == video.main_track]["pts"].sort_values().to_numpy()
    seen = {}
    async for row, image in video.frames(picks):
        seen[int(np.searchsorted(shown, int(row["pts"])))] = read_frame_index(image)
    assert seen == {k: k for k in seen}
    assert len(seen) == len(picks)
    stats = video.stats
    beyond = sum(video.geometry.piece_size(p) for p in extra - video.needed_pieces)
    assert stats.bytes_fetched == stats.piece_floor + beyond
    uploaded = stats.piece_floor + beyond
    assert seed.wait_uploaded(uploaded, timeout=10) == uploaded


#: name -> (make_video arguments, most rounds for the index).
FIXTURES: dict[str, tuple[dict[str, Any], int]] = {
    "frag-mfra": ({"bframes": 2, "audio": True, "muxer_options": {"movflags": FRAG}}, 4),
    "frag-dash-sidx": (
        {
            "bframes": 2,
            "audio": True,
            "muxer_options": {"movflags": "+dash" + FRAG + "+global_sidx"},
        },
        3,
    ),
    "frag-duration": (
        {"audio": True, "muxer_options": {"movflags": "+empty_moov", "frag_duration": "250000"}},
        4,
    ),
    "frag-no-index": (
        {"bframes": 2, "muxer_options": {"movflags": FRAG + "+skip_trailer"}},
        16,
    ),
}


@pytest.mark.parametrize("name", list(FIXTURES))
@pytest.mark.parametrize("piece_size", [16 * KiB, 64 * KiB])
async def test_fragmented_end_to_end(
    swarm: LocalSwarm, client: Client, videos: Path, name: str, piece_size: int
) -> None:
    spec, rounds = FIXTURES[name]
    path = videos / f"{name}.mp4"
    if not path.exists():
        make_video(path, frames=144, gop=12, noise=True, **spec)
    seed = swarm.seed(path, piece_size=piece_size)
    video = await open_video(client, seed.magnet)
    assert len(video.probe.rounds) <= rounds
    assert set(video.tracks["indexed_by"]) == {"moof"}
    extra: frozenset[int] = frozenset()
    if name == "frag-no-index":  # the mfro looked for at the end
        size = video.geometry.file_size
        extra = frozenset(video.geometry.pieces(ByteRange(size - 16, size)))
    await check_job(video, path, seed, extra=extra)
    # the index floor is the pieces holding the head, the moofs (one or two each), the mfra
    moofs = sum(1 for kind, _ in video.index.layout if kind == "moof")
    assert len(video.probe.floor_pieces) <= 2 * moofs + 3


async def test_fragmented_in_a_multi_file_torrent_off_piece_boundary(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    path = make_video(
        tmp_path / "rec.mp4",
        frames=96,
        gop=12,
        bframes=2,
        audio=True,
        noise=True,
        muxer_options={"movflags": FRAG + "+default_base_moof"},
    )
    seed = swarm.seed(
        {"a/notes.txt": b"n" * 7_000, "a/rec.mp4": path, "a/z.bin": b"z" * 50_000},
        piece_size=16 * KiB,
    )
    video = await open_video(client, seed.magnet)
    assert video.path.endswith("rec.mp4")
    assert video.geometry.file_offset % (16 * KiB) != 0
    await check_job(video, path, seed)
