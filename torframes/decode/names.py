"""Safe file names for screenshots.

Names are made only from the infohash, the file's index in the torrent and
the frame's time, never from the torrent's own paths, which a hostile
torrent can fill with ``..``, separators, control characters or names
reserved on Windows.

Times before zero are legitimate: FFmpeg reports them for the frames an edit
list (ISO/IEC 14496-12 §8.6.6, ``elst``) moves before the start and for
B-frame pre-roll, and Matroska timestamps are signed. They are named so that
byte-wise sorting still follows time: ``t-`` (``-`` sorts before every
digit) followed by one million seconds minus the time's magnitude, so
-0.083 s is ``t-999999.917`` and -1 s is ``t-999999.000``. A time at or
below -1,000,000 s (no real video has one) is written as ``t--`` and its
magnitude, which sorts before all of those.
"""

from __future__ import annotations

import math
import re

__all__ = ["FORMATS", "screenshot_name", "time_label"]

#: Image format -> file extension, for :meth:`PIL.Image.Image.save`.
FORMATS = {"jpeg": "jpg", "png": "png", "webp": "webp"}

_HEX = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
#: Negative times are written as this many milliseconds minus their magnitude.
_NEGATIVE_BASE_MS = 1_000_000_000


def time_label(time: float) -> str:
    """The ``t…`` part of a screenshot name: the time in seconds to the millisecond.

    ``12.3456`` -> ``t000012.346``; ``-0.083`` -> ``t-999999.917`` (see the
    module docstring). Raises :class:`ValueError` for NaN and infinities.
    """
    if not math.isfinite(time):
        raise ValueError(f"a frame time must be finite, not {time!r}")
    text = f"{time:010.3f}"
    if not text.startswith("-"):
        return f"t{text}"
    magnitude_ms = int(f"{-time:.3f}".replace(".", ""))
    if magnitude_ms == 0:  # rounds to zero: the same name as 0
        return "t000000.000"
    if magnitude_ms >= _NEGATIVE_BASE_MS:
        return f"t--{-time:.3f}"
    complement = _NEGATIVE_BASE_MS - magnitude_ms
    return f"t-{complement // 1000:06d}.{complement % 1000:03d}"


def screenshot_name(infohash: str, file_index: int, time: float, fmt: str = "jpeg") -> str:
    """``<infohash>-f<file>-t<seconds>.<ext>``, e.g. ``ab12…-f0-t000012.345.jpg``.

    Any finite time gives a name, negative ones included (:func:`time_label`).
    """
    fmt = fmt.lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, not {fmt!r}")
    infohash = infohash.lower()
    if not _HEX.match(infohash):
        raise ValueError(f"not an infohash: {infohash!r}")
    if file_index < 0:
        raise ValueError("file index must not be negative")
    return f"{infohash}-f{int(file_index)}-{time_label(time)}.{FORMATS[fmt]}"
