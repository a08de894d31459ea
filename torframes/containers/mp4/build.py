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

Fragmented files (``mvex`` in ``moov``): each track's rows are its ``moov``
samples, as above, then its fragment samples in file order
(:mod:`~torframes.containers.mp4.fragments`), numbered on from the
``moov`` samples; ``chunk`` counts ``trun`` runs on from the ``moov``
chunks. Such a track has ``indexed_by`` ``"moof"``; its ``duration`` is
``mdhd``'s when set, else the sum of its sample durations.
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
from torframes.containers.mp4.fragment_walk import FragmentLayout
from torframes.containers.mp4.fragments import FragmentSamples, fragment_samples, lazy_from
from torframes.containers.mp4.moov import Movie, Track
from torframes.containers.mp4.plausible import check_rows
from torframes.containers.mp4.sample_entries import SampleEntry
from torframes.containers.mp4.tables import TrackSamples, track_samples
from torframes.containers.mp4.timeline import Timeline, ffmpeg_timeline

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
    fragments: FragmentLayout | None = None,
    before: Sequence = (),
    truncated: str | None = None,
) -> ContainerIndex:
    """The tracks and samples tables, decoder configurations and notes of ``movie``.

    ``fragments`` is the box chain after ``moov`` of a fragmented file;
    ``before`` the top-level boxes before ``moov`` (they decide how FFmpeg
    reads the fragments, see :func:`~torframes.containers.mp4.fragments.lazy_from`).
    ``truncated`` says how the file is known to be cut short, if it is:
    samples past its end are then :class:`~torframes.errors.TruncatedContainer`.
    Every track's rows are checked to be plausible
    (:mod:`~torframes.containers.mp4.plausible`).
    """
    notes = list(movie.notes)
    advanced = True
    budget = limits.max_samples
    track_rows: list[dict] = []
    sample_parts: list[dict[str, np.ndarray]] = []
    configs: dict[int, DecoderConfig] = {}
    moov_parts: list[tuple[Track, TrackSamples, Timeline]] = []
    for track in movie.tracks:
        timescale = track.mdhd.timescale or movie.mvhd.timescale or 1
        entry = track.entries[0] if track.entries else None
        samples = track_samples(track, file_size, budget, truncated)
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
            name=f"track {track.track_id}",
        )
        budget -= len(timeline.rows)
        moov_parts.append((track, samples, timeline))
    frags: dict[int, FragmentSamples] = {}
    if fragments is not None:
        notes += fragments.notes
        lazy = lazy_from(
            fragments.events,
            before=before,
            chain=fragments.boxes,
            file_size=file_size,
            mfra=fragments.mfra,
        )
        shifts = {t.track_id: s.dts_shift for t, s, _ in moov_parts}
        frags = fragment_samples(
            movie, fragments.events, file_size=file_size, moov_shifts=shifts, lazy=lazy
        )
        notes.append(
            f"{len(fragments.fragments)} movie fragment(s) indexed"
            + (
                f", {lazy} of them read by FFmpeg on opening, the rest while demuxing"
                if lazy is not None
                else ""
            )
        )
    elif movie.fragmented:
        notes.append("fragmented MP4 indexed from its 'moov' alone: the fragments were not read")
    for track, samples, timeline in moov_parts:
        timescale = track.mdhd.timescale or movie.mvhd.timescale or 1
        entry = track.entries[0] if track.entries else None
        frag = frags.get(track.track_id)
        rows = timeline.rows
        pts = timeline.pts
        if frag is not None:
            # the fragments gave FFmpeg a ctts table and maybe a larger dts_shift
            pts = pts + (frag.moov_shift - (samples.dts_shift if samples.has_ctts else 0))
        part = {
            "track_id": np.full(len(rows), track.track_id, dtype=np.int32),
            "sample": rows if samples.numbers is None else samples.numbers[rows],
            "offset": samples.offsets[rows],
            "size": samples.sizes[rows],
            "dts": timeline.dts,
            "pts": pts,
            "duration": samples.deltas[rows],
            "is_keyframe": samples.keyframes[rows],
            "chunk": samples.chunks[rows],
        }
        notes += samples.notes + timeline.notes + _track_notes(track, timeline.discard)
        if frag is not None:
            part = _append_fragments(part, frag, samples, track.track_id)
            notes += frag.notes
        if _fills_in_dts(track, entry):
            part["dts"] = np.minimum(part["dts"], part["pts"])  # libavformat: not delayed
        part["time"] = part["pts"] / timescale
        check_rows(
            movie,
            track,
            part,
            timescale=timescale,
            fragment_rows=len(frag) if frag is not None else 0,
            file_size=file_size,
            limits=limits,
            truncated=truncated,
        )
        sample_parts.append(part)
        keyframes = int(part["is_keyframe"].sum())
        row = _track_row(track, timescale, len(part["pts"]), keyframes)
        if frag is not None:
            row["indexed_by"] = "moof"
            if pd.isna(row["duration"]):
                total = int(samples.deltas.sum()) + int(frag.durations.sum())
                row["duration"], row["duration_s"] = total, total / timescale
        track_rows.append(row)
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


def _append_fragments(
    part: dict[str, np.ndarray], frag: FragmentSamples, samples: TrackSamples, track_id: int
) -> dict[str, np.ndarray]:
    """A track's ``moov`` rows followed by its fragment rows."""
    n = len(frag)
    if samples.numbers is not None and len(samples.numbers):
        first = int(samples.numbers[-1] + samples.deltas[-1])
    else:
        first = len(samples)
    chunks = int(samples.chunks.max()) + 1 if len(samples.chunks) else 0
    pts = frag.dts + frag.shift + frag.cts
    extra = {
        "track_id": np.full(n, track_id, dtype=np.int32),
        "sample": first + np.arange(n, dtype=np.int64),
        "offset": frag.offsets,
        "size": frag.sizes,
        "dts": frag.dts,
        "pts": pts,
        "duration": frag.durations,
        "is_keyframe": frag.keyframes,
        "chunk": chunks + frag.runs,
    }
    return {k: np.concatenate([part[k], extra[k]]) for k in part}


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
