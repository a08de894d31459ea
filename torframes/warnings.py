"""Warnings torframes gives when it does less, or other, than what was asked.

An answer that is still useful but not quite the one asked for comes with a
warning instead of an error, so a script keeps going and a reader sees why::

    TorframesWarning (UserWarning)
    ├── FewerPicksWarning     fewer keyframes picked than asked (the video has fewer,
    │                         or several asked-for times share one keyframe)
    └── TimeRangeWarning      a time outside [0, duration] was clamped to the first
                              or last frame (the message says which times)

Filter them like any warning, e.g. ``warnings.simplefilter("error",
torframes.warnings.TorframesWarning)`` to make them errors. Times that are
not numbers at all (NaN, infinity) are errors, not warnings:
:class:`torframes.errors.BadTime`.
"""

from __future__ import annotations

__all__ = ["FewerPicksWarning", "TimeRangeWarning", "TorframesWarning"]


class TorframesWarning(UserWarning):
    """Base of every warning torframes gives."""


class FewerPicksWarning(TorframesWarning):
    """Fewer keyframes were picked than asked for."""


class TimeRangeWarning(TorframesWarning):
    """A time outside the video's ``[0, duration]`` was clamped to its first or last frame."""
