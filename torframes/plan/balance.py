"""The ``"balanced"`` strategy: picks spread over time that cost few pieces.

``"even"`` takes, for each of ``n`` equal slices of the timeline, the
keyframe nearest the slice's middle, whatever it costs: it never takes the
first keyframe (which usually sits in a piece fetched with the headers), and
a pick whose sample straddles a piece boundary costs two pieces where its
neighbour costs one.

``"balanced"`` keeps every gap between consecutive picks at most
``(1 + tolerance) * g``, ``g = span / n`` being the even gap, and within
that bound takes the keyframes needing the fewest pieces not already held:
pieces held (``held``), pieces shared with the previous pick, and samples
inside one piece come first. It searches picks each at most ``tolerance *
g`` off its slice's middle (among equal costs, the nearest), and also
weighs the original design's evenly spaced picks from the first keyframe
on. ``tolerance=0`` gives ``"even"``'s picks.

The choice is a shortest path over the slices (one pick per slice, in time
order), with each slice's candidates cut down to a few per cost class so it
stays O(n) in the number of slices and linear in the keyframes. Its result
is compared with ``"even"``'s by the real cost (the union of the picks'
pieces), and with the original design's rule (the keyframes at positions
``int(i * N / n)``) when that keeps the gap bound; the cheapest is returned
(the shortest path's on ties). So it never costs more than ``"even"``, nor
than the rule where the rule covers the timeline as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from torframes.plan.pieces import row_pieces

__all__ = ["DEFAULT_TOLERANCE", "balanced_picks", "check_tolerance"]

#: How far a pick may move off its slice's middle, in even gaps; the gap
#: between consecutive picks stays at most ``1 + DEFAULT_TOLERANCE`` even gaps.
DEFAULT_TOLERANCE = 0.5


def check_tolerance(tolerance: float) -> float:
    """``tolerance`` as a float in [0, 1]; :class:`ValueError` otherwise."""
    try:
        value = float(tolerance)
    except (TypeError, ValueError):
        raise ValueError(f"tolerance must be a number from 0 to 1, not {tolerance!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"tolerance must be a number from 0 to 1, not {tolerance!r}")
    return value


@dataclass(frozen=True, slots=True)
class _Cost:
    """A path's cost, compared in this order: gaps over the bound, new pieces, displacement."""

    overshoot: float
    pieces: int
    displacement: float

    def __add__(self, other: _Cost) -> _Cost:
        return _Cost(
            self.overshoot + other.overshoot,
            self.pieces + other.pieces,
            self.displacement + other.displacement,
        )

    def key(self) -> tuple[float, int, float]:
        return (round(self.overshoot, 9), self.pieces, self.displacement)


def balanced_picks(
    ordered: pd.DataFrame,
    targets: np.ndarray,
    gap: float,
    held: set[int],
    tolerance: float,
) -> np.ndarray | None:
    """Positions in ``ordered`` (sorted by time) of one pick per target, or None.

    ``targets`` are the slices' middles, ``gap`` the even gap between them.
    None when no strictly increasing choice exists (fewer usable keyframes
    than targets); the caller then falls back to ``"even"``.
    """
    times = ordered["time"].to_numpy(dtype=np.float64)
    first = ordered["piece_first"]
    last = ordered["piece_last"]
    own = _own_costs(first, last, held)
    slack = 1e-9 * max(1.0, abs(gap))
    window = tolerance * gap + slack
    candidates = [_candidates(times, own, target, window) for target in targets]
    pieces = {
        i: frozenset(row_pieces(first.iloc[i], last.iloc[i]))
        for i in {i for chosen in candidates for i in chosen}
    }
    return _shortest_path(times, pieces, held, targets, candidates, (1.0 + tolerance) * gap + slack)


def _own_costs(first: pd.Series, last: pd.Series, held: set[int]) -> np.ndarray:
    """For each row, its pieces not in ``held`` (vectorised :func:`row_pieces`)."""
    placed = first.notna().to_numpy()
    start = first.fillna(0).to_numpy(dtype=np.int64)
    stop = np.where(last.isna().to_numpy(), start, last.fillna(0).to_numpy(dtype=np.int64))
    stop = np.maximum(stop, start) + 1
    kept = np.asarray(sorted(held), dtype=np.int64)
    held_inside = np.searchsorted(kept, stop) - np.searchsorted(kept, start)
    return np.where(placed, stop - start - held_inside, 0)


def _candidates(times: np.ndarray, own: np.ndarray, target: float, window: float) -> list[int]:
    """A few positions within ``window`` of ``target``: per cost, the nearest, first and last.

    With nothing in the window, the keyframe nearest the target (``"even"``'s pick).
    """
    lo = int(np.searchsorted(times, target - window, side="left"))
    hi = int(np.searchsorted(times, target + window, side="right"))
    if lo >= hi:
        after = min(int(np.searchsorted(times, target, side="left")), len(times) - 1)
        before = max(after - 1, 0)
        nearest = before if abs(times[before] - target) <= abs(times[after] - target) else after
        return [nearest]
    inside = np.arange(lo, hi)
    chosen: set[int] = set()
    for cost in np.unique(own[lo:hi]):
        same = inside[own[lo:hi] == cost]
        distance = np.abs(times[same] - target)
        chosen.update((int(same[0]), int(same[-1]), int(same[int(np.argmin(distance))])))
    return sorted(chosen)


def _shortest_path(
    times: np.ndarray,
    pieces: dict[int, frozenset[int]],
    held: set[int],
    targets: np.ndarray,
    candidates: list[list[int]],
    max_gap: float,
) -> np.ndarray | None:
    """The cheapest strictly increasing choice of one candidate per slice (dynamic programming).

    A pick's new pieces are those neither held nor in the previous pick: on a
    file laid out in time order, later picks do not share pieces with earlier
    ones but through their neighbour; the caller checks the real union anyway.
    """
    best: list[dict[int, tuple[_Cost, int | None]]] = []
    first: dict[int, tuple[_Cost, int | None]] = {}
    for i in candidates[0]:
        first[i] = (_Cost(0.0, len(pieces[i] - held), abs(times[i] - targets[0])), None)
    best.append(first)
    for k in range(1, len(targets)):
        layer: dict[int, tuple[_Cost, int | None]] = {}
        for j in candidates[k]:
            step_displacement = abs(times[j] - targets[k])
            options = []
            for i, (cost, _) in best[k - 1].items():
                if i >= j:
                    continue
                step = _Cost(
                    max(0.0, times[j] - times[i] - max_gap),
                    len(pieces[j] - held - pieces[i]),
                    step_displacement,
                )
                options.append((cost + step, i))
            if options:
                layer[j] = min(options, key=lambda option: option[0].key())
        if not layer:
            return None
        best.append(layer)
    end = min(best[-1], key=lambda j: best[-1][j][0].key())
    path = [end]
    for k in range(len(targets) - 1, 0, -1):
        previous = best[k][path[-1]][1]
        assert previous is not None
        path.append(previous)
    return np.asarray(path[::-1], dtype=np.int64)
