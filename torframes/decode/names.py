"""Safe file names for screenshots.

Names are made only from the infohash, the file's index in the torrent and
the frame's time, never from the torrent's own paths, which a hostile
torrent can fill with ``..``, separators, control characters or names
reserved on Windows.
"""

from __future__ import annotations

import re

__all__ = ["FORMATS", "screenshot_name"]

#: Image format -> file extension, for :meth:`PIL.Image.Image.save`.
FORMATS = {"jpeg": "jpg", "png": "png", "webp": "webp"}

_HEX = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")


def screenshot_name(infohash: str, file_index: int, time: float, fmt: str = "jpeg") -> str:
    """``<infohash>-f<file>-t<seconds>.<ext>``, e.g. ``ab12…-f0-t000012.345.jpg``."""
    fmt = fmt.lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, not {fmt!r}")
    infohash = infohash.lower()
    if not _HEX.match(infohash):
        raise ValueError(f"not an infohash: {infohash!r}")
    if file_index < 0 or time < 0 or time != time:
        raise ValueError("file index and time must not be negative")
    return f"{infohash}-f{int(file_index)}-t{time:010.3f}.{FORMATS[fmt]}"
