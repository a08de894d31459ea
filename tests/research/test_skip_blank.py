"""``skip_blank``: a black pick moves to the next keyframe of its slice, for its pieces only.

Over a loopback swarm; the seeder's upload counter is the oracle for bytes,
PyAV's decode of the complete file the oracle for the hash columns.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from torframes.api.video import open_video
from torframes.plan.pieces import pieces_for_rows
from torframes.research.hashes import frame_hashes
from torframes.research.sheet import sheet_layout
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video, read_frame_index
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

FPS = 24


def picture(path: str) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def oracle_hashes(path: Path) -> dict[int, tuple[int, int, bool]]:
    """PyAV's decode of the complete file: frame number -> (phash, dhash, blank) of keyframes."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        out = {}
        for frame in container.decode(stream):
            if frame.key_frame:
                facts = frame_hashes(frame.to_image())
                number = round(float(frame.pts * stream.time_base) * FPS)
                out[number] = (facts.phash, facts.dhash, facts.blank)
        return out


async def test_black_pick_moves_to_the_next_keyframe(
    swarm: LocalSwarm, client: Client, videos: Path, tmp_path: Path
) -> None:
    # Keyframes every 12 frames (0.5 s); frame 36, the second of four even picks, is black.
    path = make_video(videos / "black.mp4", frames=96, gop=12, black=(36,))
    seed = swarm.seed(path, piece_size=16 * 1024)
    video = await open_video(client, seed.magnet)
    picks = video.select(4, "even")
    assert [round(t * FPS) for t in picks["time"]] == [12, 36, 60, 84]
    keyframes = video.keyframes.set_index(video.keyframes["time"].mul(FPS).round().astype(int))
    moved_to = keyframes.loc[[48]]
    new_pieces = pieces_for_rows(moved_to) - pieces_for_rows(picks) - set(video.probe.floor_pieces)
    assert new_pieces  # the move costs pieces nothing else needed, so the count below can tell

    saved = await video.save(picks, tmp_path, hashes=True, skip_blank=True)

    numbers = [round(t * FPS) for t in saved["time"]]
    assert numbers == [12, 48, 60, 84]
    assert [read_frame_index(picture(p)) for p in saved["path"]] == numbers
    assert saved["moved"].tolist() == [False, True, False, False]
    assert [round(t * FPS) for t in saved["picked_time"]] == [12, 36, 60, 84]
    oracle = oracle_hashes(path)
    assert oracle[36][2]  # the oracle agrees frame 36 is blank
    for number, row in zip(numbers, saved.itertuples(), strict=True):
        assert (int(row.phash), int(row.dhash), bool(row.blank)) == oracle[number]
    assert saved.dtypes[["phash", "dhash", "luma", "blank", "moved", "picked_time"]].astype(
        str
    ).tolist() == ["uint64", "uint64", "float64", "bool", "bool", "float64"]

    # Exactly the index, the four picks, and the one keyframe moved to.
    expected = set(video.probe.floor_pieces) | pieces_for_rows(picks) | pieces_for_rows(moved_to)
    assert video.needed_pieces == expected
    floor = sum(video.torrent.transfer_size(p) for p in expected)
    assert video.stats.bytes_fetched == floor
    assert seed.wait_uploaded(floor, timeout=10) == floor


async def test_sheet_skips_the_black_pick(swarm: LocalSwarm, client: Client, videos: Path) -> None:
    path = make_video(videos / "black-sheet.mp4", frames=96, gop=12, black=(36,))
    seed = swarm.seed(path, piece_size=16 * 1024)
    video = await open_video(client, seed.magnet)
    sheet = await video.sheet(n=4, columns=2, max_side=160, skip_blank=True)
    layout = sheet_layout(4, 2, (160, 120))
    assert sheet.size == layout.size
    assert [read_frame_index(sheet.crop(box)) for box in layout.tiles] == [12, 48, 60, 84]
    stats = video.stats
    assert stats.bytes_fetched == stats.piece_floor
    assert seed.wait_uploaded(stats.piece_floor, timeout=10) == stats.piece_floor


async def test_frames_carry_hash_columns(swarm: LocalSwarm, client: Client, videos: Path) -> None:
    path = make_video(videos / "black-frames.mp4", frames=96, gop=12, black=(36,))
    seed = swarm.seed(path, piece_size=16 * 1024)
    video = await open_video(client, seed.magnet)
    oracle = oracle_hashes(path)
    seen = {}
    async for row, image in video.frames(video.select(4, "even"), hashes=True):
        number = round(float(row["time"]) * FPS)
        assert "moved" not in row  # only skip_blank adds it
        assert isinstance(row["phash"], (int, np.integer))  # never a float: 64 bits kept
        assert (int(row["phash"]), int(row["dhash"]), bool(row["blank"])) == oracle[number]
        assert row["luma"] == pytest.approx(np.asarray(image.convert("L"), dtype=float).mean())
        seen[number] = bool(row["blank"])
    assert seen == {12: False, 36: True, 60: False, 84: False}
