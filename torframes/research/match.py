"""The same video across torrents: groups of (infohash, file) whose frames agree.

Input is a per-frame table (batch results with hash columns, or
``video.frames(..., hashes=True)`` rows of several videos) with the columns
``infohash``, ``file``, ``time`` (seconds) and a 64-bit hash column
(``phash`` by default). Two videos *agree at a time* when each has a frame
within ``time_tolerance`` seconds of it and the two frames' hashes are within
``max_distance`` bits (Hamming distance). Their ``score`` is the share of the
shorter video's frames that agree; pairs scoring at least ``min_score`` on at
least ``min_frames`` frames are linked, and linked videos form a group
(connected components).

Candidates are found without comparing every pair of frames, by the
pigeonhole principle of multi-index hashing (Norouzi, Punjani and Fleet,
"Fast Search in Hamming Space with Multi-Index Hashing", CVPR 2012): split
the 64 bits into ``max_distance + 1`` bands; two hashes within
``max_distance`` bits agree exactly on at least one band. For each band,
frames are joined on (time bucket, band value) — a hash join, vectorised by
pandas/numpy, or a shuffled join on Dask when the table is a Dask DataFrame —
and each candidate's full distance is checked. The work grows with the number
of frames sharing a time bucket and a band value, not with the square of the
table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from torframes.research.hashes import hamming

__all__ = ["match", "match_pairs"]

#: Columns of the pair table returned by :func:`match_pairs`.
PAIR_COLUMNS = (
    "infohash_a", "file_a", "infohash_b", "file_b",
    "frames_a", "frames_b", "matched", "score", "distance",
)  # fmt: skip

_KEYS = ("infohash", "file")


def match(
    frames: Any,
    max_distance: int = 10,
    *,
    hash: str = "phash",
    time_tolerance: float = 0.25,
    min_frames: int = 2,
    min_score: float = 0.8,
) -> pd.DataFrame:
    """Groups of (infohash, file) showing the same video, one row per member.

    Columns: ``group`` (0, 1, ... by decreasing size), ``infohash``,
    ``file``, ``frames`` (frames with a hash), ``score`` (the member's best
    pair score in its group) and ``distance`` (mean Hamming distance of its
    agreeing frames with that best partner). Videos matching nothing are left
    out. ``frames`` may be a pandas or a Dask DataFrame.
    """
    pairs = match_pairs(
        frames,
        max_distance,
        hash=hash,
        time_tolerance=time_tolerance,
        min_frames=min_frames,
        min_score=min_score,
    )
    return _groups(pairs)


def match_pairs(
    frames: Any,
    max_distance: int = 10,
    *,
    hash: str = "phash",
    time_tolerance: float = 0.25,
    min_frames: int = 2,
    min_score: float = 0.8,
) -> pd.DataFrame:
    """Every linked pair of videos (see the module docstring), one row per pair.

    Columns :data:`PAIR_COLUMNS`: ``matched`` agreeing frames, ``score``
    ``matched / min(frames_a, frames_b)``, ``distance`` their mean distance.
    """
    if not 0 <= max_distance <= 31:
        raise ValueError("max_distance must be in 0..31 bits")
    if not time_tolerance > 0:
        raise ValueError("time_tolerance must be positive")
    missing = {*_KEYS, "time", hash} - set(frames.columns)
    if missing:
        raise ValueError(f"the frame table lacks the columns {sorted(missing)}")
    table = frames[[*_KEYS, "time", hash]].dropna()
    if _is_dask(table):
        table = table.map_partitions(_with_video_id, hash, meta=_META)
        videos = table[["video", *_KEYS]].drop_duplicates().compute()
        counts = table.groupby("video").size().compute()
        candidates = _candidates(table, max_distance, time_tolerance).compute()
    else:
        table = _with_video_id(table, hash)
        videos = table[["video", *_KEYS]].drop_duplicates()
        counts = table.groupby("video").size()
        candidates = _candidates(table, max_distance, time_tolerance)
    return _pairs(candidates, videos, counts, min_frames, min_score)


_META = pd.DataFrame(
    {
        "video": pd.Series(dtype="uint64"),
        "infohash": pd.Series(dtype="string"),
        "file": pd.Series(dtype="string"),
        "time": pd.Series(dtype="float64"),
        "h": pd.Series(dtype="uint64"),
    }
)


def _is_dask(table: Any) -> bool:
    return type(table).__module__.startswith("dask")


def _with_video_id(part: pd.DataFrame, hash: str) -> pd.DataFrame:
    """The frames with a 64-bit video id hashed from (infohash, file), the hash as ``h``."""
    keys = pd.DataFrame(
        {"infohash": part["infohash"].astype("string"), "file": part["file"].astype("string")}
    )
    video = pd.util.hash_pandas_object(keys, index=False).to_numpy(dtype=np.uint64)
    return pd.DataFrame(
        {
            "video": video,
            "infohash": keys["infohash"].to_numpy(),
            "file": keys["file"].to_numpy(),
            "time": part["time"].to_numpy(dtype=np.float64),
            "h": part[hash].to_numpy(dtype=np.uint64),
        },
        index=part.index,
    ).astype(_META.dtypes.to_dict())


def _bands(max_distance: int) -> list[tuple[int, int]]:
    """(shift, width) of ``max_distance + 1`` bands covering the 64 bits."""
    count = max_distance + 1
    widths = [64 // count + (1 if i < 64 % count else 0) for i in range(count)]
    shifts = np.cumsum([0, *widths[:-1]])
    return [(int(s), w) for s, w in zip(shifts, widths, strict=True)]


#: Odd 64-bit multiplier (2**64 / golden ratio) spreading time buckets over the key space.
_SPREAD = np.uint64(0x9E3779B97F4A7C15)


def _band_key(h: np.ndarray, bucket: np.ndarray, shift: int, width: int) -> np.ndarray:
    """One uint64 per frame, equal for equal (time bucket, band value).

    Unequal pairs may share a key (the multiplication wraps); that only adds
    candidates, which the exact time and distance checks then drop.
    """
    mask = np.uint64((1 << width) - 1)
    band = (h >> np.uint64(shift)) & mask
    return band ^ (bucket.astype(np.uint64) * _SPREAD)


def _keyed(part: pd.DataFrame, shift: int, width: int, tolerance: float, step: int) -> pd.DataFrame:
    """Frames keyed by (time bucket + ``step``, band value)."""
    bucket = np.floor(part["time"].to_numpy(dtype=np.float64) / tolerance).astype(np.int64) + step
    key = _band_key(part["h"].to_numpy(dtype=np.uint64), bucket, shift, width)
    return pd.DataFrame(
        {"key": key, "video": part["video"], "time": part["time"], "h": part["h"]},
        index=part.index,
    )


def _close(merged: pd.DataFrame, max_distance: int, tolerance: float) -> pd.DataFrame:
    """Joined frame pairs (``_x``, ``_y`` columns) that agree: see :func:`_agreeing`."""
    return _agreeing(
        merged["video_x"].to_numpy(dtype=np.uint64),
        merged["time_x"].to_numpy(dtype=np.float64),
        merged["h_x"].to_numpy(dtype=np.uint64),
        merged["video_y"].to_numpy(dtype=np.uint64),
        merged["time_y"].to_numpy(dtype=np.float64),
        merged["h_y"].to_numpy(dtype=np.uint64),
        max_distance,
        tolerance,
    )


def _agreeing(
    va: np.ndarray,
    ta: np.ndarray,
    ha: np.ndarray,
    vb: np.ndarray,
    tb: np.ndarray,
    hb: np.ndarray,
    max_distance: int,
    tolerance: float,
) -> pd.DataFrame:
    """Frame pairs of two different videos, close in time and in hash, lower video id first.

    A join finds a pair across a bucket edge in one order only, so the order
    is made canonical here rather than by dropping one of the two.
    """
    distance = hamming(ha, hb)
    keep = (va != vb) & (np.abs(ta - tb) <= tolerance) & (distance <= max_distance)
    va, ta, vb, tb, distance = va[keep], ta[keep], vb[keep], tb[keep], distance[keep]
    swap = va > vb
    return pd.DataFrame(
        {
            "va": np.where(swap, vb, va),
            "ta": np.where(swap, tb, ta),
            "vb": np.where(swap, va, vb),
            "tb": np.where(swap, ta, tb),
            "d": distance,
        }
    )


_CANDIDATE_META = pd.DataFrame(
    {
        "va": pd.Series(dtype="uint64"),
        "ta": pd.Series(dtype="float64"),
        "vb": pd.Series(dtype="uint64"),
        "tb": pd.Series(dtype="float64"),
        "d": pd.Series(dtype="int64"),
    }
)


def _candidates(table: Any, max_distance: int, tolerance: float) -> Any:
    """Agreeing frame pairs found through each band (a pair may come from several bands).

    A left frame in bucket ``q`` meets right frames of buckets ``q`` and
    ``q - 1``: two frames less than one bucket apart meet, the later one on
    the left (both ways round in one bucket); :func:`_agreeing` puts each
    pair in one order.
    """
    if _is_dask(table):
        return _dask_candidates(table, max_distance, tolerance)
    video = table["video"].to_numpy(dtype=np.uint64)
    time = table["time"].to_numpy(dtype=np.float64)
    h = table["h"].to_numpy(dtype=np.uint64)
    bucket = np.floor(time / tolerance).astype(np.int64)
    found = []
    for shift, width in _bands(max_distance):
        left_key = _band_key(h, bucket, shift, width)
        right_key = np.concatenate([left_key, _band_key(h, bucket + 1, shift, width)])
        a, b = _equi_join(left_key, right_key)
        b %= len(h)
        found.append(
            _agreeing(video[a], time[a], h[a], video[b], time[b], h[b], max_distance, tolerance)
        )
    return pd.concat(found, ignore_index=True)


def _equi_join(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(i, j)`` of every ``left[i] == right[j]`` (sort-merge, vectorised)."""
    left_order = np.argsort(left)
    right_order = np.argsort(right)
    lefts = left[left_order]
    rights = right[right_order]
    low = np.searchsorted(rights, lefts, side="left")
    counts = np.searchsorted(rights, lefts, side="right") - low
    total = int(counts.sum())
    i = np.repeat(left_order, counts)
    step = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return i, right_order[np.repeat(low, counts) + step]


def _dask_candidates(table: Any, max_distance: int, tolerance: float) -> Any:
    """:func:`_candidates` as shuffled joins of Dask DataFrames, one per band and side."""
    import dask.dataframe as dd

    found = []
    for shift, width in _bands(max_distance):
        left = table.map_partitions(_keyed, shift, width, tolerance, 0)
        for step in (0, 1):
            right = table.map_partitions(_keyed, shift, width, tolerance, step)
            joined = dd.merge(left, right, on="key")
            found.append(
                joined.map_partitions(_close, max_distance, tolerance, meta=_CANDIDATE_META)
            )
    return dd.concat(found)


def _pairs(
    candidates: pd.DataFrame,
    videos: pd.DataFrame,
    counts: pd.Series,
    min_frames: int,
    min_score: float,
) -> pd.DataFrame:
    candidates = candidates.drop_duplicates(["va", "ta", "vb", "tb"])
    per_pair = candidates.groupby(["va", "vb"], sort=True).agg(
        matched_a=("ta", "nunique"), matched_b=("tb", "nunique"), distance=("d", "mean")
    )
    va = per_pair.index.get_level_values("va").to_numpy(dtype=np.uint64)
    vb = per_pair.index.get_level_values("vb").to_numpy(dtype=np.uint64)
    frames_a = counts.reindex(va).to_numpy(dtype=np.int64)
    frames_b = counts.reindex(vb).to_numpy(dtype=np.int64)
    matched = np.minimum(per_pair["matched_a"], per_pair["matched_b"]).to_numpy(dtype=np.int64)
    score = matched / np.maximum(np.minimum(frames_a, frames_b), 1)
    names = videos.drop_duplicates("video").set_index("video")
    out = pd.DataFrame(
        {
            "infohash_a": names["infohash"].reindex(va).to_numpy(),
            "file_a": names["file"].reindex(va).to_numpy(),
            "infohash_b": names["infohash"].reindex(vb).to_numpy(),
            "file_b": names["file"].reindex(vb).to_numpy(),
            "frames_a": frames_a,
            "frames_b": frames_b,
            "matched": matched,
            "score": score.astype(np.float64),
            "distance": per_pair["distance"].to_numpy(dtype=np.float64),
        }
    )
    keep = (out["matched"] >= min_frames) & (out["score"] >= min_score)
    out = out[keep].astype({c: "string" for c in ("infohash_a", "file_a", "infohash_b", "file_b")})
    # Name each pair in one order: (infohash, file) a before b.
    a_key = out["infohash_a"] + "\x00" + out["file_a"]
    b_key = out["infohash_b"] + "\x00" + out["file_b"]
    swap = (b_key < a_key).to_numpy(dtype=bool)
    for left, right in (
        ("infohash_a", "infohash_b"),
        ("file_a", "file_b"),
        ("frames_a", "frames_b"),
    ):
        values = out[left].copy()
        out.loc[swap, left] = out.loc[swap, right]
        out.loc[swap, right] = values[swap]
    return out.sort_values(["infohash_a", "file_a", "infohash_b", "file_b"]).reset_index(drop=True)


def _groups(pairs: pd.DataFrame) -> pd.DataFrame:
    """Connected components of the pair graph, one row per member."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a = pd.MultiIndex.from_arrays([pairs["infohash_a"], pairs["file_a"]])
    b = pd.MultiIndex.from_arrays([pairs["infohash_b"], pairs["file_b"]])
    codes, members = a.append(b).factorize()
    n = len(members)
    left, right = codes[: len(pairs)], codes[len(pairs) :]
    graph = coo_matrix((np.ones(len(pairs)), (left, right)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    # Each member's best partner: its highest-scoring pair, from either side.
    sides = pd.DataFrame(
        {
            "member": np.concatenate([left, right]),
            "score": np.tile(pairs["score"].to_numpy(), 2),
            "distance": np.tile(pairs["distance"].to_numpy(), 2),
            "frames": np.concatenate([pairs["frames_a"], pairs["frames_b"]]),
        }
    )
    sides = sides.sort_values(["member", "score", "distance"], ascending=[True, False, True])
    best = sides.drop_duplicates("member").set_index("member").reindex(np.arange(n))
    sizes = np.bincount(component, minlength=component.max() + 1 if n else 0)
    order = np.lexsort((np.arange(sizes.size), -sizes))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    table = pd.DataFrame(
        {
            "group": rank[component].astype(np.int64),
            "infohash": pd.array(members.get_level_values(0), dtype="string"),
            "file": pd.array(members.get_level_values(1), dtype="string"),
            "frames": best["frames"].to_numpy(dtype=np.int64),
            "score": best["score"].to_numpy(dtype=np.float64),
            "distance": best["distance"].to_numpy(dtype=np.float64),
        }
    )
    return table.sort_values(["group", "infohash", "file"]).reset_index(drop=True)
