"""Selection strategies: which keyframes to fetch.

All strategies take the keyframes of one track (rows with ``time``,
``piece_first`` and ``piece_last``) and return a subset of those rows, in
time order, keeping their index so a pick can be looked up in the full
samples table.

- ``"balanced"`` (the default): ``n`` keyframes spread over time that cost
  few pieces: each within ``tolerance`` even gaps of its slice's middle,
  consecutive picks at most ``1 + tolerance`` even gaps apart, preferring
  keyframes in pieces already held, shared with a neighbouring pick, or
  inside one piece (:mod:`torframes.plan.balance`). ``tolerance=0`` gives
  ``"even"``.
- ``"even"``: ``n`` keyframes spread over time: for each of ``n`` equal
  slices of the timeline, the keyframe nearest the slice's middle.
- ``"all"``: every keyframe.
- ``times=[...]``: for each time, the keyframe at or before it (the first
  keyframe for times before it).
- ``"cheapest"``: ``n`` keyframes spread over time that together need the
  fewest pieces not already held: in each slice, the keyframe adding the
  fewest new pieces, nearest the middle on ties. Never costs more than
  ``"even"`` (when the greedy choice would, ``"even"``'s picks are kept).

Every selection carries its cost and cover in ``attrs["coverage"]``
(:class:`~torframes.plan.coverage.PickCoverage`): the pieces it needs beyond
those held, and its largest gap between consecutive picks against the even
gap.

What was asked and what is returned can differ; each difference is said
with a warning (:mod:`torframes.warnings`), never silently:

- ``n`` larger than the number of keyframes gives every keyframe and a
  :class:`~torframes.warnings.FewerPicksWarning` (memory and time stay
  bounded by the number of keyframes, whatever ``n`` is);
- slices or times that land on a keyframe already picked give it once, and
  a ``FewerPicksWarning`` naming them;
- times before 0 or after ``end_time`` are clamped to the first or last
  keyframe with a :class:`~torframes.warnings.TimeRangeWarning`;
- NaN or infinite times raise :class:`~torframes.errors.BadTime`.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from torframes.plan.balance import DEFAULT_TOLERANCE, balanced_picks, check_tolerance
from torframes.plan.coverage import pick_coverage
from torframes.plan.pieces import pieces_for_rows, row_pieces
from torframes.plan.times import check_times, warn_out_of_range
from torframes.warnings import FewerPicksWarning

__all__ = ["STRATEGIES", "select_keyframes"]

STRATEGIES = ("balanced", "even", "all", "cheapest")

#: Times named in one warning, at most.
_SHOWN = 5


def select_keyframes(
    keyframes: pd.DataFrame,
    n: int = 5,
    strategy: str = "balanced",
    *,
    times: Sequence[float] | None = None,
    held: Collection[int] = (),
    end_time: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    stacklevel: int = 2,
) -> pd.DataFrame:
    """Pick rows of ``keyframes`` by ``strategy`` (or by ``times`` when given).

    ``held`` are pieces already downloaded (for ``"balanced"`` and
    ``"cheapest"``); ``end_time`` is where the timeline ends (default: the
    last keyframe's time); ``tolerance`` bounds how far ``"balanced"`` moves
    picks off the even spacing. ``stacklevel`` is passed on to the warnings
    (2: the caller of this function). Raises :class:`ValueError` for an
    unknown strategy, an ``n`` below 1 or a tolerance outside [0, 1].
    """
    tolerance = check_tolerance(tolerance)
    picks = _select(keyframes, n, strategy, times, set(held), end_time, tolerance, stacklevel + 1)
    if len(picks):
        t = keyframes["time"].to_numpy(dtype=np.float64)
        start = float(t.min())
        asked = len(times) if times is not None else (len(picks) if strategy == "all" else n)
        picks.attrs["coverage"] = pick_coverage(
            picks, asked, start, _end(np.sort(t), end_time), held
        )
    return picks


def _select(
    keyframes: pd.DataFrame,
    n: int,
    strategy: str,
    times: Sequence[float] | None,
    held: set[int],
    end_time: float | None,
    tolerance: float,
    stacklevel: int,
) -> pd.DataFrame:
    asked = check_times(times) if times is not None else None
    if asked is None:
        if strategy not in STRATEGIES:
            raise ValueError(
                f"unknown strategy {strategy!r}; use one of {STRATEGIES} or times=[...]"
            )
        if strategy != "all":
            n = _check_count(n)
    if keyframes.empty:
        return keyframes.copy()
    ordered = keyframes.sort_values("time", kind="stable")
    if asked is not None:
        return _at_or_before(ordered, asked, end_time, stacklevel + 1)
    if strategy == "all":
        return ordered.copy()
    if n > len(ordered):
        warnings.warn(
            f"{n} keyframes asked for, the video has {len(ordered)}: all of them are returned",
            FewerPicksWarning,
            stacklevel=stacklevel,
        )
        return ordered.copy()
    if strategy == "even" or (strategy == "balanced" and tolerance == 0):
        picks = _even(ordered, n, end_time)
    elif strategy == "balanced":
        picks = _balanced(ordered, n, end_time, held, tolerance)
    else:
        picks = _cheapest(ordered, n, end_time, held)
    if len(picks) < n:
        warnings.warn(
            f"{n} keyframes asked for, {len(picks)} picked: keyframes are unevenly spread, "
            "so several slices of the timeline are nearest the same one",
            FewerPicksWarning,
            stacklevel=stacklevel,
        )
    return picks


def _check_count(n: int) -> int:
    try:
        count = operator.index(n)
    except TypeError:
        raise ValueError(f"n must be a whole number of keyframes, not {n!r}") from None
    if isinstance(n, bool) or count < 1:
        raise ValueError(f"n must be at least 1, not {n!r}")
    return count


def _end(t: np.ndarray, end_time: float | None) -> float:
    return float(max(end_time if end_time is not None else t[-1], t[-1]))


def _slices(ordered: pd.DataFrame, n: int, end_time: float | None) -> np.ndarray:
    """For each keyframe, the slice of the timeline (0..n-1) its time falls in."""
    t = ordered["time"].to_numpy(dtype=np.float64)
    start = t[0]
    span = _end(t, end_time) - start
    if span <= 0:
        return np.zeros(len(t), dtype=np.int64)
    return np.minimum(((t - start) / span * n).astype(np.int64), n - 1)


def _targets(ordered: pd.DataFrame, n: int, end_time: float | None) -> np.ndarray:
    t = ordered["time"].to_numpy(dtype=np.float64)
    return t[0] + (np.arange(n) + 0.5) * (_end(t, end_time) - t[0]) / n


def _nearest(t: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For each target, the position in sorted ``t`` of the nearest time (the earlier on ties).

    O(n log K) time and O(n) memory, no n x K distance matrix.
    """
    after = np.clip(np.searchsorted(t, targets, side="left"), 0, len(t) - 1)
    before = np.clip(after - 1, 0, len(t) - 1)
    take_before = np.abs(t[before] - targets) <= np.abs(t[after] - targets)
    nearest = np.where(take_before, before, after)
    # several keyframes at one time: the first of them
    return np.searchsorted(t, t[nearest], side="left")


def _even(ordered: pd.DataFrame, n: int, end_time: float | None) -> pd.DataFrame:
    t = ordered["time"].to_numpy(dtype=np.float64)
    picks = _nearest(t, _targets(ordered, n, end_time))
    return ordered.iloc[np.unique(picks)].copy()


def _balanced(
    ordered: pd.DataFrame, n: int, end_time: float | None, held: set[int], tolerance: float
) -> pd.DataFrame:
    t = ordered["time"].to_numpy(dtype=np.float64)
    gap = (_end(t, end_time) - t[0]) / n
    max_gap = (1.0 + tolerance) * gap * (1 + 1e-9)
    even = _even(ordered, n, end_time)
    choices = []
    positions = balanced_picks(ordered, _targets(ordered, n, end_time), gap, held, tolerance)
    if positions is not None:
        choices.append(ordered.iloc[positions])
    choices.append(even)
    # The original design's rule (positions int(i * N / n)) when it keeps the gap bound.
    by_position = ordered.iloc[[i * len(ordered) // n for i in range(n)]]
    if np.diff(by_position["time"].to_numpy(dtype=np.float64)).max(initial=0.0) <= max_gap:
        choices.append(by_position)
    # As many picks as can be had (even's may repeat a keyframe), then the fewest pieces.
    return min(choices, key=lambda choice: (-len(choice), _cost(choice, held))).copy()


def _at_or_before(
    ordered: pd.DataFrame, asked: np.ndarray, end_time: float | None, stacklevel: int
) -> pd.DataFrame:
    t = ordered["time"].to_numpy(dtype=np.float64)
    warn_out_of_range(
        asked,
        _end(t, end_time),
        what=("the first keyframe", "the last keyframe"),
        stacklevel=stacklevel,
    )
    positions = np.searchsorted(t, asked, side="right") - 1
    positions = np.clip(positions, 0, len(t) - 1)
    _, first_seen = np.unique(positions, return_index=True)
    repeated = np.ones(len(asked), dtype=bool)
    repeated[first_seen] = False
    if repeated.any():
        shown = ", ".join(f"{value:g}" for value in asked[repeated][:_SHOWN].tolist())
        more = repeated.sum() - _SHOWN
        warnings.warn(
            f"{len(asked)} times asked for, {len(first_seen)} keyframes picked: "
            f"{shown}{f' and {more} more' if more > 0 else ''} s fall on a keyframe "
            "an earlier time already picked",
            FewerPicksWarning,
            stacklevel=stacklevel,
        )
    return ordered.iloc[positions[np.sort(first_seen)]].copy()


def _cost(rows: pd.DataFrame, held: set[int]) -> int:
    return len(pieces_for_rows(rows) - held)


def _cheapest(
    ordered: pd.DataFrame, n: int, end_time: float | None, held: set[int]
) -> pd.DataFrame:
    slices = _slices(ordered, n, end_time)  # non-decreasing: times are sorted
    bounds = np.searchsorted(slices, np.arange(n + 1), side="left")
    targets = _targets(ordered, n, end_time)
    times = ordered["time"].to_numpy(dtype=np.float64)
    pieces = [
        set(row_pieces(first, last))
        for first, last in zip(ordered["piece_first"], ordered["piece_last"], strict=True)
    ]
    have = set(held)
    chosen: list[int] = []
    for k in range(n):
        candidates = range(int(bounds[k]), int(bounds[k + 1]))
        if not candidates:
            continue
        best = min(
            candidates,
            key=lambda i: (len(pieces[i] - have), abs(times[i] - targets[k])),
        )
        chosen.append(best)
        have |= pieces[best]
    cheapest = ordered.iloc[sorted(set(chosen))]
    even = _even(ordered, n, end_time)
    if _cost(even, held) < _cost(cheapest, held) or len(cheapest) < len(even):
        return even
    return cheapest.copy()
