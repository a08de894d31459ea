"""Selection strategies over a keyframe table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from torframes.plan.select import select_keyframes


def keyframes(times: list[float], pieces: list[tuple[int, int]] | None = None) -> pd.DataFrame:
    pieces = pieces or [(i, i) for i in range(len(times))]
    return pd.DataFrame(
        {
            "time": np.asarray(times, dtype=float),
            "piece_first": pd.array([p[0] for p in pieces], dtype="Int64"),
            "piece_last": pd.array([p[1] for p in pieces], dtype="Int64"),
        },
        index=pd.RangeIndex(100, 100 + len(times)),
    )


def test_even_spreads_over_the_timeline() -> None:
    table = keyframes([float(t) for t in range(0, 100, 2)])
    picks = select_keyframes(table, 5, "even", end_time=100.0)
    assert picks["time"].tolist() == [10.0, 30.0, 50.0, 70.0, 90.0]
    assert picks.index.tolist() == [105, 115, 125, 135, 145]


def test_even_with_fewer_keyframes_than_asked_returns_each_once() -> None:
    picks = select_keyframes(keyframes([0.0, 5.0]), 5, "even")
    assert picks["time"].tolist() == [0.0, 5.0]


def test_all_returns_every_keyframe_in_time_order() -> None:
    table = keyframes([4.0, 0.0, 2.0])
    assert select_keyframes(table, strategy="all")["time"].tolist() == [0.0, 2.0, 4.0]


def test_times_take_the_keyframe_at_or_before() -> None:
    table = keyframes([0.0, 2.0, 4.0, 6.0])
    picks = select_keyframes(table, times=[5.9, 2.0, -1.0, 100.0, 2.5])
    assert picks["time"].tolist() == [4.0, 2.0, 0.0, 6.0]


def test_cheapest_prefers_held_pieces_and_never_costs_more_than_even() -> None:
    times = [float(t) for t in range(20)]
    table = keyframes(times)
    held = {1, 6, 11, 16}
    cheap = select_keyframes(table, 4, "cheapest", held=held, end_time=20.0)
    even = select_keyframes(table, 4, "even", end_time=20.0)
    assert cheap["time"].tolist() == [1.0, 6.0, 11.0, 16.0]

    def cost(rows: pd.DataFrame) -> int:
        return len(set(rows["piece_first"].astype(int)) - held)

    assert cost(cheap) == 0 < cost(even)


def test_cheapest_shares_pieces_between_picks() -> None:
    # Keyframes 4 and 5 share piece 9; the middle of slice 1 is keyframe 5.
    pieces = [(0, 0), (1, 1), (2, 2), (3, 3), (9, 9), (9, 9), (5, 5), (6, 6)]
    table = keyframes([float(t) for t in range(8)], pieces)
    cheap = select_keyframes(table, 2, "cheapest", end_time=8.0)
    assert len(cheap) == 2


def test_empty_table_and_bad_arguments() -> None:
    assert select_keyframes(keyframes([]), 5).empty
    with pytest.raises(ValueError, match="unknown strategy"):
        select_keyframes(keyframes([0.0]), 1, "random")
    with pytest.raises(ValueError, match="at least 1"):
        select_keyframes(keyframes([0.0]), 0)
