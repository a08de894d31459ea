"""``tf.match``: the right groups from a million hashes, edge cases, the Dask path."""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import torframes as tf
from torframes.research.match import match, match_pairs
from torframes.testing.hashes import synthetic_hash_table


def true_groups(table: pd.DataFrame, truth: np.ndarray) -> set[frozenset[str]]:
    infohashes = table["infohash"].drop_duplicates().to_numpy()
    found: dict[int, set[str]] = {}
    for infohash, group in zip(infohashes, truth, strict=True):
        if group >= 0:
            found.setdefault(int(group), set()).add(str(infohash))
    return {frozenset(members) for members in found.values()}


def found_groups(groups: pd.DataFrame) -> set[frozenset[str]]:
    return {frozenset(g["infohash"]) for _, g in groups.groupby("group")}


def test_a_million_frames_give_the_right_groups() -> None:
    table, truth = synthetic_hash_table(100_000, 10, groups=1_000, copies=3, flips=6)
    assert len(table) == 1_000_000
    groups = tf.match(table, max_distance=10)
    assert found_groups(groups) == true_groups(table, truth)
    assert len(groups) == 3_000
    assert (groups["score"] == 1.0).all()
    assert groups["distance"].between(0, 6).all()
    assert groups["group"].value_counts().eq(3).all()


def hashes(*values: int) -> pd.DataFrame:
    return pd.DataFrame({"phash": np.array(values, dtype=np.uint64)})


def frames(rows: list[tuple[str, float, int]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["infohash", "time", "phash"])
    return table.assign(file="0").astype({"phash": "uint64"})


def test_distance_limit_is_inclusive() -> None:
    base = 0xF0F0_1234_ABCD_0F0F
    four_bits, five_bits = base ^ 0b1111, base ^ 0b11111
    table = frames([
        ("a", 1.0, base), ("a", 2.0, base),
        ("b", 1.0, four_bits), ("b", 2.0, four_bits),
        ("c", 1.0, five_bits), ("c", 2.0, five_bits),
    ])  # fmt: skip
    pairs = match_pairs(table, max_distance=4)
    assert pairs[["infohash_a", "infohash_b"]].values.tolist() == [["a", "b"], ["b", "c"]]
    assert pairs["distance"].tolist() == [4.0, 1.0]


def test_times_either_side_of_a_bucket_edge_match() -> None:
    # 0.24 and 0.26 fall in different 0.25 s buckets but are 0.02 s apart.
    h1, h2 = 0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210
    table = frames([("a", 0.24, h1), ("b", 0.26, h1), ("a", 9.0, h2), ("b", 9.2, h2)])
    groups = match(table, max_distance=0, time_tolerance=0.25)
    assert groups["infohash"].tolist() == ["a", "b"]
    far = frames([("a", 0.24, h1), ("b", 0.5, h1), ("a", 9.0, h2), ("b", 9.3, h2)])
    assert match(far, max_distance=0, time_tolerance=0.25).empty


def test_score_and_thresholds() -> None:
    # b agrees with a on 3 of 4 frames: score 0.75.
    h = [0x1111_0000_0000_0001 << i for i in range(4)]
    rows = [("a", float(t), h[t]) for t in range(4)]
    rows += [("b", float(t), h[t]) for t in range(3)] + [("b", 3.0, ~h[3] & (2**64 - 1))]
    pairs = match_pairs(frames(rows), max_distance=2, min_score=0.0)
    assert pairs[["matched", "score"]].values.tolist() == [[3, 0.75]]
    assert match(frames(rows), max_distance=2, min_score=0.8).empty
    assert match(frames(rows), max_distance=2, min_score=0.7, min_frames=4).empty


def test_bad_arguments() -> None:
    table = frames([("a", 0.0, 1)])
    with pytest.raises(ValueError, match="lacks the columns"):
        match(table.drop(columns="time"))
    with pytest.raises(ValueError, match="max_distance"):
        match(table, max_distance=40)


def test_dask_gives_the_same_groups() -> None:
    table, truth = synthetic_hash_table(3_000, 8, groups=100, copies=3, flips=5, seed=3)
    expected = match(table, 10)
    assert found_groups(expected) == true_groups(table, truth)
    lazy = dd.from_pandas(table, npartitions=4)
    got = match(lazy, 10)
    pd.testing.assert_frame_equal(got, expected)


def test_exact_matching_uses_all_64_bits() -> None:
    # max_distance 0 is one band of all 64 bits: a difference in the top bit alone must count.
    top = 1 << 63
    table = frames([
        ("a", 1.0, top | 7), ("a", 2.0, top | 9),
        ("b", 1.0, top | 7), ("b", 2.0, top | 9),
        ("c", 1.0, 7), ("c", 2.0, 9),
    ])  # fmt: skip
    assert match(table, max_distance=0)["infohash"].tolist() == ["a", "b"]
    assert match(table, max_distance=1)["infohash"].tolist() == ["a", "b", "c"]


def test_an_empty_table_matches_nothing() -> None:
    table = frames([]).astype({"infohash": "string", "time": "float64"})
    groups = match(table)
    assert groups.empty
    assert list(groups.columns) == ["group", "infohash", "file", "frames", "score", "distance"]
