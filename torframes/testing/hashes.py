"""A synthetic per-frame hash table with known groups, for ``torframes.research.match``.

``videos`` videos of ``frames`` frames each, at the times an ``"even"`` pick
of ``frames`` would choose from a random duration. The first
``groups * copies`` videos come in groups of ``copies``: each copy has its
group's duration and hashes with ``flips`` random bits flipped per frame
(a flip may land on a bit already flipped, so at most ``flips`` differ from
the group's original). Every other video is unrelated (random hashes and
duration).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["synthetic_hash_table"]


def synthetic_hash_table(
    videos: int = 100_000,
    frames: int = 10,
    *,
    groups: int = 1_000,
    copies: int = 3,
    flips: int = 6,
    seed: int = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The table (``infohash``, ``file``, ``time``, ``phash``) and each video's true group.

    The group array holds, per video (in infohash order), its group number or
    -1 for an unrelated video.
    """
    if groups * copies > videos:
        raise ValueError("groups * copies must not exceed videos")
    rng = np.random.default_rng(seed)
    original = np.arange(videos)
    grouped = groups * copies
    original[:grouped] = np.arange(grouped) // copies * copies
    duration = rng.uniform(600.0, 7200.0, videos)[original]
    times = ((np.arange(frames) + 0.5) / frames)[None, :] * duration[:, None]
    hashes = rng.integers(0, 2**64, size=(videos, frames), dtype=np.uint64, endpoint=False)
    hashes = hashes[original]
    flipped = np.zeros((videos, frames), dtype=np.uint64)
    for _ in range(flips):
        flipped |= np.uint64(1) << rng.integers(0, 64, size=(videos, frames)).astype(np.uint64)
    is_copy = original != np.arange(videos)
    hashes[is_copy] ^= flipped[is_copy]
    infohashes = np.array([f"{i:040x}" for i in range(videos)])
    table = pd.DataFrame(
        {
            "infohash": pd.array(np.repeat(infohashes, frames), dtype="string"),
            "file": pd.array(np.zeros(videos * frames, dtype=np.int64)).astype("string"),
            "time": times.ravel(),
            "phash": hashes.ravel(),
        }
    )
    truth = np.full(videos, -1, dtype=np.int64)
    truth[:grouped] = np.arange(grouped) // copies
    return table, truth
