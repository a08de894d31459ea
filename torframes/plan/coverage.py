"""What a set of picks costs and how well it covers the timeline.

Cost is the number of pieces the picks need beyond those already held; the
cover is the largest gap between consecutive picks against the even gap
(the span of the timeline over the number of picks asked for): 1.0 for
picks at the middles of equal slices, 2.0 when one stretch twice that long
has no picture.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from torframes.plan.pieces import pieces_for_rows

__all__ = ["PickCoverage", "pick_coverage"]


@dataclass(frozen=True, slots=True)
class PickCoverage:
    """Cost and cover of one selection (``DataFrame.attrs["coverage"]`` of a selection)."""

    #: Pieces the picks need that were not held when they were chosen.
    new_pieces: int
    #: Every piece the picks need, held or not.
    pieces: int
    #: The largest gap between consecutive picks, in seconds (0 for one pick).
    max_gap: float
    #: The timeline's span over the number of picks asked for, in seconds.
    even_gap: float

    @property
    def gap_ratio(self) -> float:
        """``max_gap / even_gap`` (NaN when the timeline has no span)."""
        return self.max_gap / self.even_gap if self.even_gap > 0 else float("nan")


def pick_coverage(
    picks: pd.DataFrame,
    asked: int,
    start: float,
    end: float,
    held: Collection[int] = (),
) -> PickCoverage:
    """The cost and cover of ``picks`` (rows with ``time``, ``piece_first``, ``piece_last``).

    ``asked`` is how many picks were asked for, ``start``/``end`` the
    timeline the even gap divides.
    """
    times = np.sort(picks["time"].to_numpy(dtype=np.float64))
    gaps = np.diff(times)
    needed = pieces_for_rows(picks)
    return PickCoverage(
        new_pieces=len(needed - set(held)),
        pieces=len(needed),
        max_gap=float(gaps.max()) if len(gaps) else 0.0,
        even_gap=(end - start) / max(asked, 1),
    )
