"""Time of ``tf.match`` over a synthetic table of a million frame hashes (issue 17).

    .venv/bin/python -m bench.bench_match [videos] [frames_per_video]

The table (``torframes.testing.hashes.synthetic_hash_table``) holds
100,000 videos of 10 frames by default: 1,000 groups of three copies whose
hashes differ by up to 6 bits, the rest unrelated. Times, best of three,
``match`` with ``max_distance`` 10 (11 bands) and 6 (7 bands), checks the
groups found are the true ones, and prints the figures; asserts nothing
about time.
"""

from __future__ import annotations

import sys
import time

import pandas as pd

from torframes.research.match import match
from torframes.testing.hashes import synthetic_hash_table


def best_of(runs: int, fn) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(videos: int = 100_000, frames: int = 10) -> None:
    groups = min(1_000, videos // 3)
    table, truth = synthetic_hash_table(videos, frames, groups=groups, copies=3, flips=6)
    found = match(table, 10)
    infohashes = table["infohash"].drop_duplicates().to_numpy()
    true = pd.Series(infohashes[truth >= 0]).groupby(truth[truth >= 0]).agg(frozenset)
    got = found.groupby("group")["infohash"].agg(frozenset)
    assert set(got) == set(true), "wrong groups"
    print(f"{len(table):,} frames of {videos:,} videos; {groups:,} true groups found")
    for distance in (10, 6):
        seconds = best_of(3, lambda d=distance: match(table, d))
        rate = len(table) / seconds
        print(f"max_distance {distance:2d}: {seconds:6.2f} s  ({rate:,.0f} frames/s)")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
