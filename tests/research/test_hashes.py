"""Hash columns: equal to imagehash's, robust to a re-encode, apart for other videos."""

from __future__ import annotations

from pathlib import Path

import av
import imagehash
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from torframes.research.hashes import frame_hashes, hamming, hash_table
from torframes.research.match import match
from torframes.testing.reencode import reencode
from torframes.testing.videos import make_video, read_frame_index

#: The distance within which a re-encode matches its original (``match``'s default).
MAX_DISTANCE = 10
FPS = 24


def keyframe_images(path: Path) -> dict[int, Image.Image]:
    """PyAV's decode of the complete file: frame number -> picture, keyframes only."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return {
            round(float(frame.pts * stream.time_base) * FPS): frame.to_image()
            for frame in container.decode(stream)
            if frame.key_frame
        }


def test_hashes_equal_imagehash(videos: Path) -> None:
    path = make_video(videos / "plain.mp4", frames=48, gop=12)
    images = keyframe_images(path)
    assert sorted(images) == [0, 12, 24, 36]
    for image in images.values():
        facts = frame_hashes(image)
        assert f"{facts.phash:016x}" == str(imagehash.phash(image))
        assert f"{facts.dhash:016x}" == str(imagehash.dhash(image))
        assert facts.luma == pytest.approx(np.asarray(image.convert("L"), dtype=float).mean())
        assert not facts.blank


def test_hash_table_keeps_all_64_bits() -> None:
    # A top bit set must survive as uint64 (not float64, not a negative int64).
    image = Image.new("RGB", (64, 64), (200, 10, 10))
    image.paste((10, 10, 200), (0, 0, 32, 64))
    facts = frame_hashes(image)
    table = hash_table([facts, facts])
    assert table.dtypes.astype(str).to_dict() == {
        "phash": "uint64", "dhash": "uint64", "luma": "float64", "blank": "bool",
    }  # fmt: skip
    assert int(table["phash"].iloc[0]) == int(str(imagehash.phash(image)), 16)


def noisy_black(seed: int) -> Image.Image:
    """Black with sensor-like noise: luma around 8, standard deviation about 5."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.normal(8, 5, (64, 128)).clip(0, 255).astype(np.uint8))


def dark_scene() -> Image.Image:
    """Mostly black with a few lit windows: mean luma under 16, but something to see."""
    pixels = np.zeros((64, 128), dtype=np.uint8)
    pixels[20:28, 10:18] = pixels[40:46, 90:100] = 230
    return Image.fromarray(pixels)


@pytest.mark.parametrize(
    ("image", "blank"),
    [
        (Image.new("RGB", (128, 64), (0, 0, 0)), True),
        (Image.new("RGB", (128, 64), (30, 90, 200)), True),
        (noisy_black(1), True),
        (dark_scene(), False),
        (Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (64, 1))), False),
    ],
    ids=["black", "one colour", "noisy black", "dark scene", "gradient"],
)
def test_blank_flag(image: Image.Image, blank: bool) -> None:
    assert frame_hashes(image).blank is blank


def test_hamming_counts_bits() -> None:
    a = np.array([0, 2**64 - 1, 0b1011], dtype=np.uint64)
    b = np.array([0, 0, 0b0001], dtype=np.uint64)
    assert hamming(a, b).tolist() == [0, 64, 2]


def test_reencode_matches_and_other_videos_do_not(videos: Path) -> None:
    original = make_video(videos / "original.mp4", frames=48, gop=12)
    copy = reencode(original, videos / "reencoded.mp4", bit_rate=150_000, gop=12)
    assert copy.stat().st_size != original.stat().st_size
    others = {
        "wide": make_video(videos / "wide.mp4", frames=48, gop=12, width=640, height=120),
        "tall": make_video(videos / "tall.mp4", frames=48, gop=12, width=128, height=240),
    }
    mine = {k: frame_hashes(v) for k, v in keyframe_images(original).items()}
    copied = keyframe_images(copy)
    assert {k: read_frame_index(v) for k, v in copied.items()} == {k: k for k in mine}
    for number, image in copied.items():
        assert hamming(mine[number].phash, frame_hashes(image).phash) <= MAX_DISTANCE
    rows = []
    for name, path in {"original": original, "copy": copy, **others}.items():
        for number, image in keyframe_images(path).items():
            facts = frame_hashes(image)
            if name in others:
                assert hamming(mine[number].phash, facts.phash) > MAX_DISTANCE
            rows.append({"infohash": name, "file": "0", "time": number / FPS, "phash": facts.phash})
    table = pd.DataFrame(rows).astype({"phash": "uint64"})
    groups = match(table, MAX_DISTANCE)
    assert groups[["group", "infohash"]].values.tolist() == [[0, "copy"], [0, "original"]]
    assert groups["score"].tolist() == [1.0, 1.0]
