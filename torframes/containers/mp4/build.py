"""Assemble a :class:`~torframes.containers.base.ContainerIndex` from a parsed ``moov``.

One row per track in the tracks table, one row per packet FFmpeg's demuxer
reports in the samples table: every sample, in the common cases; packets
of up to 1024 PCM frames for uncompressed audio
(:func:`~torframes.containers.mp4.tables.chunk_audio_samples`); dropped or
repeated samples where edit lists say so
(:mod:`~torframes.containers.mp4.timeline`). Tracks come in ``track_id``
order, each track's rows in FFmpeg's index order, which is sample order
unless several edits reorder media. ``duration`` in the tracks table is the
``mdhd`` media duration (NA when unknown).

Checked against PyAV 18 / FFmpeg 8 (``packet.pos/size/pts/dts/is_keyframe``)
on encoded fixtures and, for the rare cases, on synthetic files. What
FFmpeg reports that this does not reproduce:

* libavformat's generic layer (``compute_pkt_fields``), outside ``mov.c``:
  it re-spaces the times of leading packets that share one timestamp
  (``update_initial_durations``), re-derives the dts of the first packets
  of video whose ``stss`` is empty (FFmpeg asks for a parser there), and
  rewrites the times of packets a ``ctts`` shows before they are decoded
  beyond the one rule kept here (:func:`_fills_in_dts`). Only degenerate
  tables trigger these.
* Keyframe flags added by FFmpeg's parsers (the ones ``need_parsing``
  starts for H.264, AV1, VP8/VP9, AC-3...): their bitstream decides,
  which an index cannot see. The flags here are ``stss``/``stps``/``rap ``
  groups, as ``mov_build_index`` sets them. HEVC open-GOP ``sync`` sample
  groups mark seek points in FFmpeg, not keyframes; likewise here.
* Tracks FFmpeg hides: chapter tracks (``tref``/``chap``) and tracks whose
  data is in another file (``dref``) are listed here with their samples.
* Several sample descriptions in one track: the first names the codec.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from torframes.containers.base import (
    SAMPLE_DTYPES,
    TRACK_DTYPES,
    ByteRange,
    ContainerIndex,
    DecoderConfig,
    IndexLimits,
    empty_samples,
)
from torframes.containers.mp4.boxes import fourcc
from torframes.containers.mp4.moov import Movie, Track
from torframes.containers.mp4.sample_entries import SampleEntry
from torframes.containers.mp4.tables import track_samples
from torframes.containers.mp4.timeline import ffmpeg_timeline
from torframes.errors import UnsupportedContainer

__all__ = ["build_index"]

#: Codecs libavformat's ``compute_pkt_fields`` does not treat as one-in-one-out,
#: and codecs FFmpeg's mov demuxer hands to a parser (``need_parsing``).
_REORDERING = {"h264", "hevc", "vvc"}
_PARSED = {"ac3", "eac3", "mpeg1video", "vc1", "vp8", "vp9", "evc", "av1"}


def _fills_in_dts(track: Track, entry: SampleEntry | None) -> bool:
    """Whether libavformat sets ``dts = pts`` on packets shown no later than decoded.

    Its generic ``compute_pkt_fields`` does ("presentation is not delayed")
    for one-in-one-out codecs without a parser; with a parser (the codecs
    above, or video whose ``stss`` is empty) it does not, as measured with
    FFmpeg 8. It matters only for a ``ctts`` that shows a sample before its
    decode time, which sane files never have.
    """
    name = entry.codec_name if entry is not None else None
    if name in _REORDERING or name in _PARSED:
        return False
    return not (track.kind == "video" and track.stss is not None and len(track.stss) == 0)


def build_index(
    movie: Movie,
    *,
    file_size: int,
    limits: IndexLimits,
    index_ranges: Sequence[ByteRange] = (),
    layout: Sequence[tuple[str, ByteRange]] = (),
) -> ContainerIndex:
    """The tracks and samples tables, decoder configurations and notes of ``movie``."""
    if movie.fragmented:
        raise UnsupportedContainer(
            "fragmented MP4 ('mvex' in 'moov', samples in 'moof' fragments) is not supported"
        )
    notes = list(movie.notes)
    advanced = True
    budget = limits.max_samples
    track_rows: list[dict] = []
    sample_parts: list[dict[str, np.ndarray]] = []
    configs: dict[int, DecoderConfig] = {}
    for track in movie.tracks:
        timescale = track.mdhd.timescale or movie.mvhd.timescale or 1
        entry = track.entries[0] if track.entries else None
        name = f"track {track.track_id}"
        samples = track_samples(track, file_size, budget)
        if track.stts is None or len(track.stts.counts) == 0:
            advanced = False  # FFmpeg turns advanced edit lists off from here on
        timeline = ffmpeg_timeline(
            samples,
            elst=track.elst,
            timescale=timescale,
            movie_timescale=movie.mvhd.timescale,
            video=track.kind == "video",
            audio=track.kind == "audio",
            vorbis=entry is not None and entry.codec_name == "vorbis",
            advanced=advanced,
            max_rows=budget,
            name=name,
        )
        budget -= len(timeline.rows)
        dts = timeline.dts
        if _fills_in_dts(track, entry):
            dts = np.minimum(dts, timeline.pts)  # libavformat: not delayed, so dts = pts
        notes += samples.notes + timeline.notes + _track_notes(track, timeline.discard)
        rows = timeline.rows
        keys = samples.keyframes[rows]
        sample_parts.append(
            {
                "track_id": np.full(len(rows), track.track_id, dtype=np.int32),
                "sample": rows if samples.numbers is None else samples.numbers[rows],
                "offset": samples.offsets[rows],
                "size": samples.sizes[rows],
                "dts": dts,
                "pts": timeline.pts,
                "duration": samples.deltas[rows],
                "time": timeline.pts / timescale,
                "is_keyframe": keys,
                "chunk": samples.chunks[rows],
            }
        )
        track_rows.append(_track_row(track, timescale, len(rows), int(keys.sum())))
        configs[track.track_id] = DecoderConfig(
            track_id=track.track_id,
            codec_name=entry.codec_name if entry else None,
            extradata=entry.extradata if entry else None,
            width=entry.width if entry else None,
            height=entry.height if entry else None,
        )
    order = np.argsort([t.track_id for t in movie.tracks], kind="stable")
    return ContainerIndex(
        container="mp4",
        tracks=_frame([track_rows[i] for i in order], TRACK_DTYPES),
        samples=_samples_frame([sample_parts[i] for i in order]),
        decoder_configs=configs,
        index_ranges=tuple(index_ranges),
        layout=tuple(layout),
        complete=True,
        notes=tuple(notes),
    )


def _track_row(track: Track, timescale: int, samples: int, keyframes: int) -> dict:
    entry = track.entries[0] if track.entries else None
    duration = track.mdhd.duration
    known = 0 < duration < 2**63 and duration not in (2**32 - 1, 2**64 - 1)
    video = entry is not None and entry.kind == "video"
    return {
        "track_id": track.track_id,
        "kind": track.kind,
        "codec": fourcc(entry.format) if entry else pd.NA,
        "codec_name": (entry.codec_name if entry else None) or pd.NA,
        "width": entry.width if video else pd.NA,
        "height": entry.height if video else pd.NA,
        "timescale": timescale,
        "duration": duration if known else pd.NA,
        "duration_s": duration / timescale if known else np.nan,
        "samples": samples,
        "keyframes": keyframes,
        "language": track.mdhd.language or pd.NA,
        "indexed_by": "moov",
    }


def _track_notes(track: Track, discard: np.ndarray) -> list[str]:
    name = f"track {track.track_id}"
    notes = []
    if len(track.entries) > 1:
        notes.append(f"{name} has {len(track.entries)} sample descriptions; the first is used")
    for entry in track.entries[:1]:
        if entry.encrypted:
            scheme = f" with scheme '{fourcc(entry.scheme)}'" if entry.scheme else ""
            notes.append(
                f"{name} is encrypted ('{fourcc(entry.code)}'{scheme}, "
                f"format '{fourcc(entry.format)}'): its samples cannot be decoded without keys"
            )
    dropped = int(discard.sum())
    if dropped:
        notes.append(
            f"{name}: {dropped} sample(s) outside the edit list, flagged discard by FFmpeg "
            "(decoded, then dropped)"
        )
    return notes


def _frame(rows: list[dict], dtypes: dict[str, str]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({k: pd.Series(dtype=v) for k, v in dtypes.items()})
    frame = pd.DataFrame(rows, columns=list(dtypes))
    return frame.astype(dtypes)


def _samples_frame(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    if not parts:
        return empty_samples()
    columns = {}
    for name, dtype in SAMPLE_DTYPES.items():
        values = np.concatenate([part[name] for part in parts])
        columns[name] = (
            pd.array(values, dtype=dtype) if dtype[0].isupper() else values.astype(dtype)
        )
    return pd.DataFrame(columns)
