"""Tracks and samples tables (``TRACK_DTYPES``/``SAMPLE_DTYPES``) from Matroska records, with numpy.

Matroska timestamps are Segment Ticks of ``TimestampScale`` nanoseconds
(RFC 9559 "Timestamps"); every track's ``timescale`` is therefore
``1e9 / TimestampScale`` ticks per second (1000 for the default 1 ms).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from torframes.containers.base import SAMPLE_DTYPES, TRACK_DTYPES, DecoderConfig
from torframes.containers.matroska.cluster import FoundBlock
from torframes.containers.matroska.cues import CueTable
from torframes.containers.matroska.segment import Info
from torframes.containers.matroska.tracks import TrackEntry
from torframes.errors import UnsupportedContainer

__all__ = [
    "CueRows",
    "codec_delay_ticks",
    "cue_samples",
    "probe_samples",
    "timescale",
    "tracks_table",
]


def timescale(info: Info) -> int:
    """Ticks per second of Segment timestamps (rounded if TimestampScale does not divide 1e9)."""
    if info.timestamp_scale > 1_000_000_000:
        raise UnsupportedContainer(f"TimestampScale of {info.timestamp_scale} ns (over a second)")
    return round(1_000_000_000 / info.timestamp_scale)


def codec_delay_ticks(track: TrackEntry, info: Info) -> int:
    """CodecDelay (ns) in Segment Ticks, rounded: FFmpeg takes it off every timestamp."""
    return (track.codec_delay + info.timestamp_scale // 2) // info.timestamp_scale


class CueRows:
    """What the locator needs for each cue row that the table cannot hold.

    Parallel arrays in table order: track, offset (Cluster start), pts,
    CueTime (pts before CodecDelay) and CueRelativePosition (-1 if absent).
    """

    def __init__(
        self,
        track: np.ndarray,
        offset: np.ndarray,
        pts: np.ndarray,
        time: np.ndarray,
        relative: np.ndarray,
    ) -> None:
        self.track, self.offset, self.pts = track, offset, pts
        self.time, self.relative = time, relative

    def lookup(
        self, label: object, track: int, offset: int, pts: int
    ) -> tuple[int, int | None] | None:
        """CueTime and CueRelativePosition of a row (found by index label, else by value)."""
        n = len(self.track)
        if isinstance(label, (int, np.integer)) and 0 <= int(label) < n:
            i = int(label)
            if (self.track[i], self.offset[i], self.pts[i]) == (track, offset, pts):
                return self._at(i)
        hits = np.flatnonzero((self.track == track) & (self.offset == offset) & (self.pts == pts))
        if len(hits):
            return self._at(int(hits[0]))
        return None

    def _at(self, i: int) -> tuple[int, int | None]:
        relative = int(self.relative[i])
        return int(self.time[i]), (relative if relative >= 0 else None)


def _na_ints(n: int) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool))


def cue_samples(
    cues: CueTable,
    tracks: Sequence[TrackEntry],
    segment_data: int,
    segment_end: int,
    info: Info,
) -> tuple[pd.DataFrame, CueRows, int]:
    """One row per CueTrackPositions of a known track: keyframes, ``size``/``sample``/``dts`` NA.

    ``offset`` is the first byte of the Cluster the cue points to (the
    Segment's data start plus CueClusterPosition); the locator turns it
    into the frame's exact range. Returns the table, the locator's extra
    columns, and how many cues were dropped: those naming unknown tracks or
    placing their Cluster past the Segment.
    """
    numbers = np.array([t.number for t in tracks], dtype=np.int64)
    delays = np.array([codec_delay_ticks(t, info) for t in tracks], dtype=np.int64)
    known = np.isin(cues.track, numbers) & (cues.cluster < segment_end - segment_data)
    track, time = cues.track[known], cues.time[known]
    offset = segment_data + cues.cluster[known]
    relative = cues.relative[known]
    order = np.lexsort((offset, time, track))
    track, time, offset, relative = track[order], time[order], offset[order], relative[order]
    pts = time - delays[_delay_index(numbers, track)]
    n = len(track)
    samples = pd.DataFrame(
        {
            "track_id": track.astype(np.int32),
            "sample": _na_ints(n),
            "offset": offset.astype(np.int64),
            "size": _na_ints(n),
            "dts": _na_ints(n),
            "pts": pts,
            "duration": _na_ints(n),
            "time": pts * (info.timestamp_scale / 1e9),
            "is_keyframe": np.ones(n, dtype=bool),
            "chunk": _na_ints(n),
        }
    ).astype(SAMPLE_DTYPES)
    return samples, CueRows(track, offset, pts, time, relative), int((~known).sum())


def _delay_index(numbers: np.ndarray, track: np.ndarray) -> np.ndarray:
    """Where each of ``track`` sits in ``numbers`` (every one is known to be there)."""
    sorter = np.argsort(numbers)
    return sorter[np.searchsorted(numbers, track, sorter=sorter)]


def probe_samples(
    found: Sequence[FoundBlock], track: TrackEntry, info: Info, start: FoundBlock | None = None
) -> tuple[pd.DataFrame, int]:
    """One row per keyframe found by probing: exact ``offset``/``size``, ``sample`` NA.

    Times are FFmpeg's: Cluster Timestamp plus the block's signed timestamp,
    less CodecDelay. Where that sum is negative FFmpeg keeps no timestamp
    (:attr:`FoundBlock.has_time`) and libavformat makes one up: the stream's
    first packet starts it at 0, so ``start`` (the track's first block, if
    it is a keyframe) gets pts 0; any other such keyframe gets a time only
    FFmpeg's guessing from every earlier packet could give, and is left
    out. Returns the table and how many keyframes were left out.
    """
    kept = [b for b in found if b.has_time or b is start]
    n = len(kept)
    delay = codec_delay_ticks(track, info)
    pts = np.fromiter(
        (b.timestamp - delay if b.has_time else 0 for b in kept), dtype=np.int64, count=n
    )
    order = np.argsort(pts, kind="stable")
    offsets = np.fromiter((b.offset for b in kept), dtype=np.int64, count=n)[order]
    sizes = np.fromiter((b.size for b in kept), dtype=np.int64, count=n)[order]
    keyframes = np.fromiter((b.keyframe for b in kept), dtype=bool, count=n)[order]
    pts = pts[order]
    table = pd.DataFrame(
        {
            "track_id": np.full(n, track.number, dtype=np.int32),
            "sample": _na_ints(n),
            "offset": offsets,
            "size": pd.arrays.IntegerArray(sizes, np.zeros(n, dtype=bool)),
            "dts": _na_ints(n),
            "pts": pts,
            "duration": _na_ints(n),
            "time": pts * (info.timestamp_scale / 1e9),
            "is_keyframe": keyframes,
            "chunk": _na_ints(n),
        }
    ).astype(SAMPLE_DTYPES)
    return table, len(found) - n


def tracks_table(
    tracks: Sequence[TrackEntry],
    info: Info,
    configs: Mapping[int, DecoderConfig],
    counts: Mapping[int, int],
    indexed_by: Mapping[int, str],
) -> pd.DataFrame:
    """One row per TrackEntry. ``duration`` is the Segment's Duration, for every track."""
    scale = timescale(info)
    duration = None if info.duration is None else round(info.duration)
    seconds = np.nan if info.duration is None else info.duration * info.timestamp_scale / 1e9
    rows = {
        "track_id": [t.number for t in tracks],
        "kind": [t.kind for t in tracks],
        "codec": [t.codec_id for t in tracks],
        "codec_name": [configs[t.number].codec_name for t in tracks],
        "width": [configs[t.number].width if t.kind == "video" else None for t in tracks],
        "height": [configs[t.number].height if t.kind == "video" else None for t in tracks],
        "timescale": [scale] * len(tracks),
        "duration": [duration] * len(tracks),
        "duration_s": [seconds] * len(tracks),
        "samples": [counts.get(t.number, 0) for t in tracks],
        "keyframes": [counts.get(t.number, 0) for t in tracks],
        "language": [t.language or None for t in tracks],
        "indexed_by": [indexed_by.get(t.number) for t in tracks],
    }
    return pd.DataFrame(rows).astype(TRACK_DTYPES)
