"""Selection strategies over a keyframe table."""

from __future__ import annotations

import itertools
import math
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torframes.plan.pieces import pieces_for_rows
from torframes.plan.select import select_keyframes
from torframes.plan.times import BadTime
from torframes.warnings import FewerPicksWarning, TimeRangeWarning, TorframesWarning


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


def test_even_with_fewer_keyframes_than_asked_returns_each_once_and_says_so() -> None:
    with pytest.warns(FewerPicksWarning, match="5 keyframes asked for, the video has 2"):
        picks = select_keyframes(keyframes([0.0, 5.0]), 5, "even")
    assert picks["time"].tolist() == [0.0, 5.0]


def test_all_returns_every_keyframe_in_time_order() -> None:
    table = keyframes([4.0, 0.0, 2.0])
    assert select_keyframes(table, strategy="all")["time"].tolist() == [0.0, 2.0, 4.0]


def test_times_take_the_keyframe_at_or_before() -> None:
    table = keyframes([0.0, 2.0, 4.0, 6.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        picks = select_keyframes(table, times=[5.9, 2.0, 0.0, 6.5], end_time=7.0)
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
    with pytest.raises(ValueError, match="at least 1"):
        select_keyframes(keyframes([]), -3)
    with pytest.raises(ValueError, match="whole number"):
        select_keyframes(keyframes([0.0]), 2.5)  # type: ignore[arg-type]


def test_times_outside_the_video_are_clamped_and_repeats_dropped_with_warnings() -> None:
    # a 60 s video with a keyframe every 2 s: 59.9 and 120 both give the last keyframe
    table = keyframes([float(t) for t in range(0, 60, 2)])
    with pytest.warns(TorframesWarning) as caught:
        picks = select_keyframes(table, times=[0, 10.5, 59.9, 120, -4], end_time=60.0)
    assert picks["time"].tolist() == [0.0, 10.0, 58.0]
    messages = {type(w.message): str(w.message) for w in caught}
    assert set(messages) == {TimeRangeWarning, FewerPicksWarning}
    assert "120 s after the end (60 s): clamped to the last keyframe" in [
        str(w.message) for w in caught
    ]
    assert "-4 s before the start: clamped to the first keyframe" in [
        str(w.message) for w in caught
    ]
    assert messages[FewerPicksWarning].startswith("5 times asked for, 3 keyframes picked: 120, -4")
    assert caught[0].filename == __file__  # the warning points at the caller


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_times_that_are_not_finite_are_refused(bad: float) -> None:
    table = keyframes([0.0, 2.0])
    with pytest.raises(BadTime, match="finite"):
        select_keyframes(table, times=[1.0, bad])
    with pytest.raises(ValueError, match="finite"):  # BadTime is a ValueError too
        select_keyframes(keyframes([]), times=[bad])


def test_even_on_unevenly_spread_keyframes_says_fewer_were_picked() -> None:
    table = keyframes([0.0, 0.1, 0.2, 50.0])
    with pytest.warns(FewerPicksWarning, match="4 keyframes asked for, 2 picked"):
        picks = select_keyframes(table, 4, "even", end_time=60.0)
    assert picks["time"].tolist() == [0.2, 50.0]


@pytest.mark.parametrize("strategy", ["even", "cheapest"])
@pytest.mark.parametrize("n", [10**9, 4_000])
def test_a_huge_n_never_allocates_n_times_keyframes(strategy: str, n: int) -> None:
    table = keyframes([float(t) for t in range(4_000)])
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewerPicksWarning)
            picks = select_keyframes(table, n, strategy)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(picks) == 4_000
    assert peak < 16 * 2**20  # an n x K float matrix would be 128 MB at n = K = 4 000


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=30),
    n=st.integers(min_value=-5, max_value=10**12),
    strategy=st.sampled_from(["even", "cheapest", "all"]),
    asked=st.none() | st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=20),
    end_time=st.none() | st.floats(min_value=0, max_value=2e6),
)
def test_any_request_gives_a_subset_of_the_keyframes_or_a_value_error(
    times: list[float],
    n: int,
    strategy: str,
    asked: list[float] | None,
    end_time: float | None,
) -> None:
    table = keyframes(sorted(times))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TorframesWarning)
        try:
            picks = select_keyframes(table, n, strategy, times=asked, end_time=end_time)
        except ValueError:  # BadTime is one; n below 1 is another
            bad_times = asked is not None and not all(math.isfinite(t) for t in asked)
            assert bad_times or (asked is None and strategy != "all" and n < 1)
            return
    assert picks.index.is_unique
    assert set(picks.index) <= set(table.index)
    assert picks["time"].is_monotonic_increasing or asked is not None
    if asked is None and strategy != "all":
        assert 1 <= len(picks) <= min(n, len(table))


# -- "balanced": spread over time, few pieces -------------------------------------------------


def brute_force_cheapest(table: pd.DataFrame, n: int, end: float, held: set[int], tol: float):
    """The fewest new pieces over every choice balanced may make.

    Those are: each pick within ``tol`` even gaps of its slice's middle and
    consecutive picks at most ``1 + tol`` even gaps apart; or the rule's
    picks (positions ``int(i * N / n)``) when they keep that gap bound.
    """
    times = table["time"].to_numpy(dtype=float)
    gap = (end - times[0]) / n
    middles = times[0] + (np.arange(n) + 0.5) * gap
    rule = [int(i * len(times) / n) for i in range(n)]
    best = None
    if np.diff(times[rule]).max(initial=0) <= (1 + tol) * gap + 1e-9:
        best = len(pieces_for_rows(table.iloc[rule]) - held)
    for combo in itertools.combinations(range(len(times)), n):
        t = times[list(combo)]
        if np.any(np.abs(t - middles) > tol * gap + 1e-9):
            continue
        if np.any(np.diff(t) > (1 + tol) * gap + 1e-9):
            continue
        cost = len(pieces_for_rows(table.iloc[list(combo)]) - held)
        best = cost if best is None else min(best, cost)
    return best


def straddling_table() -> pd.DataFrame:
    """20 keyframes a second apart; those nearest each slice's middle straddle two pieces."""
    pieces = []
    piece = 1
    for second in range(20):
        straddles = second % 4 == 2
        pieces.append((piece, piece + 1) if straddles else (piece, piece))
        piece += 2 if straddles else 1
    pieces[0] = (0, 0)  # the first keyframe shares the headers' piece
    return keyframes([float(t) for t in range(20)], pieces)


def test_balanced_finds_the_cheapest_picks_within_its_bounds() -> None:
    table = straddling_table()
    held = {0}
    even = select_keyframes(table, 5, "even", held=held, end_time=20.0)
    picks = select_keyframes(table, 5, held=held, end_time=20.0)  # the default
    cost = len(pieces_for_rows(picks) - held)
    assert len(pieces_for_rows(even) - held) == 10  # every even pick straddles
    assert cost == brute_force_cheapest(table, 5, 20.0, held, 0.5) == 4
    assert picks["time"].iloc[0] == 0.0  # the held first keyframe is taken
    gaps = np.diff(picks["time"].to_numpy())
    assert gaps.max() <= 1.5 * 4.0
    coverage = picks.attrs["coverage"]
    assert (coverage.new_pieces, coverage.even_gap) == (4, 4.0)
    assert coverage.max_gap == gaps.max()
    assert coverage.gap_ratio == gaps.max() / 4.0


def test_a_tighter_tolerance_keeps_picks_nearer_the_even_spacing() -> None:
    table = straddling_table()
    held = {0}
    tight = select_keyframes(table, 5, held=held, end_time=20.0, tolerance=0.25)
    tight_cost = len(pieces_for_rows(tight) - held)
    assert tight_cost == brute_force_cheapest(table, 5, 20.0, held, 0.25)
    assert np.diff(tight["time"].to_numpy()).max() <= 1.25 * 4.0
    even = select_keyframes(table, 5, "even", held=held, end_time=20.0)
    zero = select_keyframes(table, 5, held=held, end_time=20.0, tolerance=0)
    assert zero.index.tolist() == even.index.tolist()


def test_balanced_takes_the_position_rule_when_keyframes_are_sparse() -> None:
    # Six keyframes for five picks: windows around the slices' middles force the last
    # keyframe, which straddles; the rule int(i*N/n) keeps the gap bound and skips it.
    times = [0.0, 10.4, 20.8, 31.25, 41.7, 52.1]
    table = keyframes(times, [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 7)])
    picks = select_keyframes(table, 5, held={0}, end_time=62.5)
    assert picks["time"].tolist() == times[:5]
    assert picks.attrs["coverage"].new_pieces == 4


@pytest.mark.parametrize("tolerance", [-0.1, 1.5, math.nan, "wide"])
def test_a_tolerance_outside_zero_to_one_is_refused(tolerance: object) -> None:
    with pytest.raises(ValueError, match="tolerance must be a number from 0 to 1"):
        select_keyframes(keyframes([0.0, 1.0]), 1, tolerance=tolerance)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(st.floats(0.01, 5.0), min_size=1, max_size=40),
    spans=st.lists(st.integers(0, 2), min_size=40, max_size=40),
    n=st.integers(1, 6),
    tolerance=st.floats(0.0, 1.0),
    held_mask=st.integers(0, 2**40 - 1),
)
def test_balanced_never_costs_more_than_even_and_keeps_its_gap_bound(
    steps: list[float], spans: list[int], n: int, tolerance: float, held_mask: int
) -> None:
    times = np.cumsum([0.0, *steps])
    pieces, piece = [], 0
    for span in spans[: len(times)]:
        pieces.append((piece, piece + span))
        piece += span + (1 if span == 0 else 0)
    table = keyframes(times.tolist(), pieces)
    held = {p for p in range(piece + 3) if held_mask >> p & 1}
    end = float(times[-1]) + 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewerPicksWarning)
        even = select_keyframes(table, n, "even", held=held, end_time=end)
        picks = select_keyframes(table, n, held=held, end_time=end, tolerance=tolerance)
    assert set(picks.index) <= set(table.index)
    assert len(picks) >= len(even)  # even's slices may share a keyframe; balanced's never
    if len(picks) == len(even):
        assert len(pieces_for_rows(picks) - held) <= len(pieces_for_rows(even) - held)
    gap = (end - times[0]) / n
    if len(picks) == n and np.diff(times).max(initial=0) <= tolerance * gap:
        # dense enough that every window holds a keyframe: the bound holds
        assert np.diff(picks["time"].to_numpy()).max(initial=0) <= (1 + tolerance) * gap + 1e-6


def test_the_command_line_offers_the_same_strategies_and_tolerance() -> None:
    from torframes.cli import main as cli
    from torframes.plan.balance import DEFAULT_TOLERANCE
    from torframes.plan.select import STRATEGIES

    assert set(cli.STRATEGIES) == set(STRATEGIES)
    assert cli.STRATEGIES[0] == "balanced"
    assert cli.DEFAULT_TOLERANCE == DEFAULT_TOLERANCE
