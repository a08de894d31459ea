"""Tracks and samples tables (``TRACK_DTYPES``/``SAMPLE_DTYPES``) from AVI index entries.

AVI stores no timestamps: a stream's chunks follow one another, each
lasting a known number of ``scale / rate`` second units, from ``strh``'s
``dwStart`` (Microsoft AVI RIFF File Reference, "AVI Stream Headers").
FFmpeg's ``avidec.c`` counts them so (``get_duration``): one unit per
video chunk; for audio with a fixed ``dwSampleSize`` (made equal to
``nBlockAlign`` when they disagree), the bytes before the chunk divided by
it; for other audio, ``ceil(size / nBlockAlign)`` units per chunk (one
without a block alignment). A chunk's ``dts`` is the units before it;
empty chunks count but get no row. AVI has no presentation times, so
``pts`` is ``dts``: FFmpeg derives other ones for B-frame streams by
parsing the frames themselves, which an index does not hold (see the
notes of such tracks). Ticks are the reduced fraction ``scale / rate``:
``timescale`` is its denominator, one unit its numerator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from torframes.containers.avi.codecs import audio_codec, fourcc_text, video_codec
from torframes.containers.avi.hdrl import Stream
from torframes.containers.base import SAMPLE_DTYPES, TRACK_DTYPES

__all__ = ["StreamEntries", "samples_table", "tracks_table"]


@dataclass(frozen=True, slots=True)
class StreamEntries:
    """One stream's index entries in order: data offsets, sizes, keyframe flags."""

    offsets: np.ndarray
    sizes: np.ndarray
    keyframes: np.ndarray

    @classmethod
    def empty(cls) -> StreamEntries:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, np.zeros(0, dtype=bool))


def ticks(stream: Stream) -> tuple[int, int]:
    """``(timescale, ticks per unit)`` of a stream: ``scale / rate`` reduced."""
    unit = Fraction(stream.scale, stream.rate)
    return unit.denominator, unit.numerator


def _sample_size(stream: Stream) -> int:
    """FFmpeg's ``sample_size``: 0 for video, else ``dwSampleSize`` or ``nBlockAlign``."""
    size = stream.header.sample_size
    if stream.kind == "video":
        return 0
    align = stream.audio.block_align if stream.audio is not None else 0
    if size and align and size != align:
        return align
    return size


def _stream_part(stream: Stream, entries: StreamEntries) -> dict[str, np.ndarray]:
    """The samples-table columns of one stream."""
    timescale, tick = ticks(stream)
    sizes = entries.sizes.astype(np.int64)
    sample_size = _sample_size(stream)
    start = stream.header.start
    if sample_size:
        before = np.concatenate(([0], np.cumsum(sizes)[:-1])) if len(sizes) else sizes
        units = (start * sample_size + before) // sample_size
        durations = sizes // sample_size
    else:
        align = stream.audio.block_align if stream.audio is not None else 0
        durations = -(-sizes // align) if align and stream.kind == "audio" else np.ones_like(sizes)
        units = start + np.concatenate(([0], np.cumsum(durations)[:-1])) if len(sizes) else sizes
    rows = np.flatnonzero(sizes > 0)
    dts = units[rows] * tick
    return {
        "track_id": np.full(len(rows), stream.number, dtype=np.int32),
        "sample": rows.astype(np.int64),
        "offset": entries.offsets[rows].astype(np.int64),
        "size": sizes[rows],
        "dts": dts,
        "pts": dts,
        "duration": durations[rows] * tick,
        "time": dts / timescale,
        "is_keyframe": entries.keyframes[rows].astype(bool),
        "chunk": np.full(len(rows), -1, dtype=np.int64),
    }


def samples_table(streams: Sequence[Stream], entries: dict[int, StreamEntries]) -> pd.DataFrame:
    """Every stream's rows in stream order, each in decode order."""
    parts = [_stream_part(s, entries.get(s.number, StreamEntries.empty())) for s in streams]
    columns = {
        name: np.concatenate([p[name] for p in parts]) if parts else np.zeros(0)
        for name in SAMPLE_DTYPES
    }
    frame = pd.DataFrame(columns)
    frame["chunk"] = pd.Series(pd.NA, index=frame.index, dtype="Int64")  # AVI has no chunks
    return frame.astype(SAMPLE_DTYPES)


def tracks_table(streams: Sequence[Stream], samples: pd.DataFrame, indexed_by: str) -> pd.DataFrame:
    """One row per stream. ``duration`` is ``strh.dwLength`` units, as FFmpeg's video duration."""
    rows = []
    for stream in streams:
        timescale, tick = ticks(stream)
        mine = samples[samples["track_id"] == stream.number]
        video = stream.video
        if video is not None:
            codec, name = fourcc_text(video.compression), video_codec(video.compression)
        elif stream.audio is not None:
            codec, name = f"0x{stream.audio.format_tag:04x}", audio_codec(stream.audio)
        else:
            codec, name = fourcc_text(stream.header.handler), None
        length = stream.header.length
        duration = length * tick if length and stream.kind == "video" else pd.NA
        rows.append(
            {
                "track_id": stream.number,
                "kind": stream.kind,
                "codec": codec,
                "codec_name": name or pd.NA,
                "width": video.width if video is not None else pd.NA,
                "height": video.height if video is not None else pd.NA,
                "timescale": timescale,
                "duration": duration,
                "duration_s": np.nan if duration is pd.NA else duration / timescale,
                "samples": len(mine),
                "keyframes": int(mine["is_keyframe"].sum()),
                "language": pd.NA,
                "indexed_by": indexed_by,
            }
        )
    frame = pd.DataFrame(rows, columns=list(TRACK_DTYPES))
    return frame.astype(TRACK_DTYPES)
