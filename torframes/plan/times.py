"""Checking times given in seconds against a video's timeline.

A time must be a finite number: NaN and infinity are refused with
:class:`BadTime`. A finite time outside ``[0, end]`` is usable (it means the
first or the last frame) but is not what the caller meant, so it is clamped
and reported with a :class:`~torframes.warnings.TimeRangeWarning` naming the
times concerned.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from torframes.errors import BadTime
from torframes.warnings import TimeRangeWarning

__all__ = ["BadTime", "check_times", "warn_out_of_range"]

#: Times named in one warning, at most.
_SHOWN = 5


def check_times(times: Sequence[float] | float) -> np.ndarray:
    """``times`` as a float64 array; raises :class:`BadTime` unless every one is finite."""
    try:
        values = np.asarray(times, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise BadTime(f"times must be numbers of seconds, not {times!r}") from None
    bad = values[~np.isfinite(values)]
    if bad.size:
        raise BadTime(f"times must be finite numbers of seconds, not {_listed(bad)}")
    return values


def warn_out_of_range(values: np.ndarray, end: float, *, what: str, stacklevel: int) -> None:
    """Warn (``TimeRangeWarning``) about ``values`` before 0 or after ``end`` seconds.

    ``what`` says what they were clamped to (``"the first keyframe"``…).
    """
    before = values[values < 0]
    after = values[values > end]
    if before.size:
        warnings.warn(
            f"{_listed(before)} s before the start: clamped to {what[0]}",
            TimeRangeWarning,
            stacklevel=stacklevel + 1,
        )
    if after.size:
        warnings.warn(
            f"{_listed(after)} s after the end ({end:g} s): clamped to {what[1]}",
            TimeRangeWarning,
            stacklevel=stacklevel + 1,
        )


def _listed(values: np.ndarray) -> str:
    shown = ", ".join(f"{value:g}" for value in values[:_SHOWN].tolist())
    return shown + (f" and {values.size - _SHOWN} more" if values.size > _SHOWN else "")
