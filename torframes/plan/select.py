"""Selection strategies: which keyframes to fetch.

All strategies take the keyframes of one track (rows with ``time``,
``piece_first`` and ``piece_last``) and return a subset of those rows, in
time order, keeping their index so a pick can be looked up in the full
samples table.

- ``"even"``: ``n`` keyframes spread over time: for each of ``n`` equal
  slices of the timeline, the keyframe nearest the slice's middle.
- ``"all"``: every keyframe.
- ``times=[...]``: for each time, the keyframe at or before it (the first
  keyframe for times before it).
- ``"cheapest"``: ``n`` keyframes spread over time that together need the
  fewest pieces not already held: in each slice, the keyframe adding the
  fewest new pieces, nearest the middle on ties. Never costs more than
  ``"even"`` (when the greedy choice would, ``"even"``'s picks are kept).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from torframes.plan.pieces import pieces_for_rows, row_pieces

__all__ = ["STRATEGIES", "select_keyframes"]

STRATEGIES = ("even", "all", "cheapest")


def select_keyframes(
    keyframes: pd.DataFrame,
    n: int = 5,
    strategy: str = "even",
    *,
    times: Sequence[float] | None = None,
    held: Collection[int] = (),
    end_time: float | None = None,
) -> pd.DataFrame:
    """Pick rows of ``keyframes`` by ``strategy`` (or by ``times`` when given).

    ``held`` are pieces already downloaded (for ``"cheapest"``); ``end_time``
    is where the timeline ends (default: the last keyframe's time).
    """
    if keyframes.empty:
        return keyframes.copy()
    ordered = keyframes.sort_values("time", kind="stable")
    if times is not None:
        return _at_or_before(ordered, times)
    if strategy == "all":
        return ordered.copy()
    if n < 1:
        raise ValueError("n must be at least 1")
    if strategy == "even":
        return _even(ordered, n, end_time)
    if strategy == "cheapest":
        return _cheapest(ordered, n, end_time, set(held))
    raise ValueError(f"unknown strategy {strategy!r}; use one of {STRATEGIES} or times=[...]")


def _slices(ordered: pd.DataFrame, n: int, end_time: float | None) -> np.ndarray:
    """For each keyframe, the slice of the timeline (0..n-1) its time falls in."""
    t = ordered["time"].to_numpy(dtype=np.float64)
    start = t[0]
    end = max(end_time if end_time is not None else t[-1], t[-1])
    span = end - start
    if span <= 0:
        return np.zeros(len(t), dtype=np.int64)
    return np.minimum(((t - start) / span * n).astype(np.int64), n - 1)


def _targets(ordered: pd.DataFrame, n: int, end_time: float | None) -> np.ndarray:
    t = ordered["time"].to_numpy(dtype=np.float64)
    end = max(end_time if end_time is not None else t[-1], t[-1])
    return t[0] + (np.arange(n) + 0.5) * (end - t[0]) / n


def _even(ordered: pd.DataFrame, n: int, end_time: float | None) -> pd.DataFrame:
    t = ordered["time"].to_numpy(dtype=np.float64)
    picks = np.abs(t[None, :] - _targets(ordered, n, end_time)[:, None]).argmin(axis=1)
    return ordered.iloc[np.unique(picks)].copy()


def _at_or_before(ordered: pd.DataFrame, times: Sequence[float]) -> pd.DataFrame:
    t = ordered["time"].to_numpy(dtype=np.float64)
    positions = np.searchsorted(t, np.asarray(times, dtype=np.float64), side="right") - 1
    positions = np.clip(positions, 0, len(t) - 1)
    _, first_seen = np.unique(positions, return_index=True)
    return ordered.iloc[positions[np.sort(first_seen)]].copy()


def _row_pieces(row: pd.Series) -> set[int]:
    return set(row_pieces(row["piece_first"], row["piece_last"]))


def _cost(rows: pd.DataFrame, held: set[int]) -> int:
    return len(pieces_for_rows(rows) - held)


def _cheapest(
    ordered: pd.DataFrame, n: int, end_time: float | None, held: set[int]
) -> pd.DataFrame:
    slices = _slices(ordered, n, end_time)
    targets = _targets(ordered, n, end_time)
    times = ordered["time"].to_numpy(dtype=np.float64)
    have = set(held)
    chosen: list[int] = []
    for k in range(n):
        candidates = np.flatnonzero(slices == k)
        if candidates.size == 0:
            continue
        best = min(
            candidates,
            key=lambda i: (
                len(_row_pieces(ordered.iloc[i]) - have),
                abs(times[i] - targets[k]),
            ),
        )
        chosen.append(int(best))
        have |= _row_pieces(ordered.iloc[best])
    cheapest = ordered.iloc[sorted(set(chosen))]
    even = _even(ordered, n, end_time)
    if _cost(even, held) < _cost(cheapest, held) or len(cheapest) < len(even):
        return even
    return cheapest.copy()
