"""Frames with research columns: hashes per picture, and blank picks moved on.

``Video.frames(..., hashes=True, skip_blank=True)`` and ``Video.save`` call
:func:`research_frame` for each row. With ``skip_blank``, a pick whose
picture is blank (see :mod:`torframes.research.hashes`) moves to the next
keyframe of its slice — the keyframes after it, up to the next pick of the
same call (or the end) — and then the next, until one is not blank; only the
keyframes tried are fetched. If every keyframe of the slice is blank, the
pick stays. Rows gain ``moved`` (bool) and ``picked_time`` (the time first
picked, seconds).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from PIL import Image

from torframes.research.hashes import HASH_DTYPES, FrameHashes, frame_hashes

if TYPE_CHECKING:
    from torframes.api.video import Video

__all__ = ["MOVE_DTYPES", "research_columns", "research_frame", "slice_followers"]

#: Columns added by ``skip_blank=True``.
MOVE_DTYPES: dict[str, str] = {"moved": "bool", "picked_time": "float64"}


def slice_followers(keyframes: pd.DataFrame, picks: Sequence[pd.Series]) -> dict[Any, pd.DataFrame]:
    """For each pick's label, the keyframes after it and before the next pick, in time order."""
    ordered = keyframes.sort_values("time", kind="stable")
    times = ordered["time"].to_numpy(dtype=np.float64)
    pick_times = sorted(float(p["time"]) for p in picks)
    out: dict[Any, pd.DataFrame] = {}
    for pick in picks:
        start = float(pick["time"])
        later = [t for t in pick_times if t > start]
        end = later[0] if later else np.inf
        out[pick.name] = ordered[(times > start) & (times < end)]
    return out


async def research_frame(
    video: Video,
    row: pd.Series,
    followers: pd.DataFrame | None,
    *,
    hashes: bool,
    skip_blank: bool,
    **size: int | None,
) -> tuple[pd.Series, Image.Image]:
    """Fetch ``row``'s picture (moving off a blank one if asked); the row with its columns."""
    image = await video.frame(row, **size)
    facts = await asyncio.to_thread(frame_hashes, image)
    picked_time = float(row["time"])
    chosen = row
    if skip_blank and facts.blank and followers is not None:
        for _, candidate in followers.iterrows():
            other = await video.frame(candidate, **size)
            other_facts = await asyncio.to_thread(frame_hashes, other)
            if not other_facts.blank:
                chosen, image, facts = candidate, other, other_facts
                break
    chosen = chosen.astype(object)  # a uint64 hash must not pass through float64
    if hashes:
        _put_hashes(chosen, facts)
    if skip_blank:
        chosen["moved"] = chosen.name != row.name
        chosen["picked_time"] = picked_time
    return chosen, image


def _put_hashes(row: pd.Series, facts: FrameHashes) -> None:
    row["phash"] = np.uint64(facts.phash)
    row["dhash"] = np.uint64(facts.dhash)
    row["luma"] = facts.luma
    row["blank"] = facts.blank


def research_columns(rows: Sequence[pd.Series], *, hashes: bool, skip_blank: bool) -> pd.DataFrame:
    """The research columns of ``rows`` as a table indexed by the rows' labels, fixed dtypes."""
    dtypes = {**(HASH_DTYPES if hashes else {}), **(MOVE_DTYPES if skip_blank else {})}
    index = pd.Index([row.name for row in rows])
    data = {column: [row[column] for row in rows] for column in dtypes}
    return pd.DataFrame(data, index=index).astype(dtypes)
