"""Expand a track's sample tables into per-sample arrays, with numpy only.

What FFmpeg's ``mov_build_index`` computes sample by sample is computed
here with ``repeat``/``cumsum`` (mp4parse-rust ``create_sample_table`` has
the same shape): byte offset and size, chunk, decode time, composition
offset and sync flag of every sample, in decoding order. Nothing is
expanded before its length is known and checked: the sample count against
``IndexLimits.max_samples``, ``stts`` against ``stsz``, the samples the
chunks hold against the sample count, and every sample's bytes against the
file size.

FFmpeg behaviours kept (they change timestamps or flags FFmpeg reports):

* ``stts`` deltas above FFmpeg's ``max_stts_delta`` (``UINT_MAX - 480000``)
  are taken as negative corrections, clipped to 1 and the drift taken back
  from later deltas, as ``mov_read_stts`` does.
* ``ctts`` entries whose count is 0 or does not fit a signed 32-bit int
  are skipped (a ``ctts`` of only such entries counts as none);
  ``dts_shift`` is the largest negation of a negative offset among all but
  the last two entries (``mov_read_ctts``). Samples past the end of
  ``ctts`` get offset 0, so ``pts = dts + dts_shift`` (FFmpeg 8; older
  versions gave them ``pts = dts`` and dropped a ``ctts`` with an offset
  beyond 2^28).
* Sync samples are matched the way FFmpeg walks ``stss``: in order, so an
  entry not larger than the one before stops the matching. ``stss`` with
  no entries marks only audio samples and the first sample as sync;
  QuickTime ``stps`` and a ``rap `` sample group add sync samples.
* More samples in the chunks than ``stsz`` counts: the extra ones are
  dropped and FFmpeg then skips the edit list (``mov_build_index`` returns
  early); fewer: the samples without a chunk are dropped.

Where this is stricter than FFmpeg it raises instead of guessing: ``stts``
and ``stsz`` disagreeing on the sample count, chunks or samples outside the
file, a sample larger than 1 GiB (FFmpeg's ``0x3FFFFFFF`` cap).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from torframes.containers.mp4.moov import Track
from torframes.containers.mp4.sample_tables import ChunkRuns, Runs, SampleSizes
from torframes.errors import IndexTooLarge, MalformedContainer, TruncatedContainer

__all__ = [
    "MAX_STTS_DELTA",
    "TrackSamples",
    "chunk_audio_samples",
    "expand_ctts",
    "expand_deltas",
    "outside_file",
    "track_samples",
]

#: FFmpeg's default ``max_stts_delta``: larger deltas are read as negative corrections.
MAX_STTS_DELTA = 2**32 - 1 - 48000 * 10
#: FFmpeg stops indexing at a sample larger than this (``mov_build_index``).
MAX_SAMPLE_SIZE = 0x3FFFFFFF


@dataclass
class TrackSamples:
    """One track's samples in decoding order, before the edit list is applied."""

    offsets: np.ndarray
    sizes: np.ndarray
    chunks: np.ndarray
    deltas: np.ndarray
    dts: np.ndarray
    ctts: np.ndarray
    has_ctts: bool
    dts_shift: int
    keyframes: np.ndarray
    skip_edits: bool = False
    notes: list[str] = field(default_factory=list)
    #: The sample number of each entry, when entries are not samples (chunk-demuxed audio).
    numbers: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.offsets)


def outside_file(what: str, truncated: str | None) -> MalformedContainer:
    """The error for sample bytes outside the file, ``what`` saying which.

    :class:`TruncatedContainer` when the file is known to be cut short
    (``truncated`` says how: a top-level box runs past its end), else
    :class:`MalformedContainer` (chunk offsets or sizes that lie).
    """
    if truncated is not None:
        return TruncatedContainer(f"the file is truncated ({truncated}): {what}")
    return MalformedContainer(what)


def track_samples(
    track: Track, file_size: int, max_rows: int = 2**62, truncated: str | None = None
) -> TrackSamples:
    """Every sample of ``track``: where it is, how long, when, whether it is sync.

    Uncompressed audio (:attr:`Track.chunk_audio`) gets FFmpeg's packets
    instead, see :func:`chunk_audio_samples`. ``truncated`` (see
    :func:`outside_file`) tells how samples past the end of the file are reported.
    """
    name = f"track {track.track_id}"
    if track.chunk_audio:
        return chunk_audio_samples(track, file_size, max_rows, truncated)
    n = track.sizes.count if track.sizes is not None else 0
    timed = track.stts.total if track.stts is not None else 0
    if timed != n:
        raise MalformedContainer(f"{name}: stts times {timed} samples, stsz sizes {n}")
    if n == 0 or track.sizes is None or track.stts is None:
        return _empty()
    if track.stsc is None or track.chunk_offsets is None:
        raise MalformedContainer(f"{name} has {n} samples but no stsc or chunk offsets")
    size = _expand_sizes(track.sizes, name)
    offsets, chunks, placed, notes, overfull = _place(
        track.stsc, track.chunk_offsets, size, file_size, name, truncated
    )
    deltas = expand_deltas(track.stts, n)
    dts = np.zeros(n, dtype=np.int64)
    np.cumsum(deltas[:-1], out=dts[1:])
    ctts, has_ctts, dts_shift = expand_ctts(track.ctts, n)
    keys = sync_flags(n, track, first_chunk_empty=bool(placed and chunks[0] != 0))
    samples = TrackSamples(
        offsets=offsets,
        sizes=size[:placed],
        chunks=chunks,
        deltas=deltas[:placed],
        dts=dts[:placed],
        ctts=ctts[:placed],
        has_ctts=has_ctts,
        dts_shift=dts_shift,
        keyframes=keys[:placed],
        skip_edits=overfull,
        notes=notes,
    )
    return samples


def _empty(notes: list[str] | None = None) -> TrackSamples:
    z = np.zeros(0, dtype=np.int64)
    return TrackSamples(z, z, z, z, z, z, False, 0, np.zeros(0, dtype=bool), notes=notes or [])


def chunk_audio_samples(
    track: Track, file_size: int, max_rows: int, truncated: str | None = None
) -> TrackSamples:
    """FFmpeg's packets for audio whose samples are single PCM frames (``mov_build_index``).

    Each chunk is cut into packets of up to 1024 frames (whole frames of
    ``samples_per_frame`` for QuickTime sound description v1 codecs; one
    frame each for GSM), every packet a keyframe, its size from the PCM
    frame size (codec bits x channels, else the ``stsz`` constant) or the
    entry's bytes per frame. A row's ``sample`` is its first PCM frame.
    Computed per chunk with numpy; the packet count is checked against
    ``max_rows`` before anything per packet is allocated.
    """
    name = f"track {track.track_id}"
    sizes, stsc, chunk_offsets = track.sizes, track.stsc, track.chunk_offsets
    n = sizes.count if sizes is not None else 0
    if track.stts is None or track.stts.total != n:
        raise MalformedContainer(f"{name}: stts and stsz disagree on the sample count")
    if sizes is None or stsc is None or chunk_offsets is None or not len(chunk_offsets):
        return _empty()
    entry = track.entries[0] if track.entries else None
    per_frame, frame_bytes = entry.frame_layout if entry else (0, 0)
    frame_size = (entry.pcm_sample_size if entry else 0) or sizes.constant
    per_chunk = _samples_per_chunk(stsc, chunk_offsets, file_size, name, truncated)
    if per_frame and (stsc.samples_per_chunk[:-1] % per_frame).any():
        return _empty([f"{name}: chunk not a whole number of audio frames; FFmpeg shows none"])
    if per_frame > 1 and not frame_bytes:
        return _empty([f"{name}: {per_frame} samples per frame of 0 bytes; FFmpeg shows none"])
    if per_frame >= 160:
        step, step_bytes = per_frame, frame_bytes
    elif per_frame > 1:
        step = (1024 // per_frame) * per_frame
        step_bytes = step // per_frame * frame_bytes
    else:
        step, step_bytes = 1024, 1024 * frame_size
    full, rest = np.divmod(per_chunk, step)
    packets = full + (rest > 0)
    total = int(packets.sum())
    if total > max_rows:
        raise IndexTooLarge(f"{name}: {total} audio packets, more than {max_rows}")
    chunks = np.repeat(np.arange(len(per_chunk), dtype=np.int64), packets)
    k = np.arange(total, dtype=np.int64) - (np.cumsum(packets) - packets)[chunks]
    frames = np.where(k < full[chunks], step, rest[chunks])
    if per_frame >= 160:
        frames, size = np.full(total, per_frame), np.full(total, frame_bytes, dtype=np.int64)
    elif per_frame > 1:
        size = frames // per_frame * frame_bytes
    else:
        size = frames * frame_size
    offsets = chunk_offsets.astype(np.int64)[chunks] + k * step_bytes
    if total and int(size.max()) > MAX_SAMPLE_SIZE:
        raise MalformedContainer(f"{name}: an audio packet of {int(size.max())} bytes, over 1 GiB")
    if total and int((offsets + size).max()) > file_size:
        bad = int(np.argmax(offsets + size > file_size))
        raise outside_file(
            f"{name}: audio packet {bad} [{int(offsets[bad])}, +{int(size[bad])}) runs past "
            f"the end of the {file_size}-byte file",
            truncated,
        )
    dts = np.cumsum(frames) - frames
    return TrackSamples(
        offsets=offsets,
        sizes=size,
        chunks=chunks,
        deltas=frames,
        dts=dts,
        ctts=np.zeros(total, dtype=np.int64),
        has_ctts=False,
        dts_shift=0,
        keyframes=np.ones(total, dtype=bool),
        numbers=dts,
    )


def _samples_per_chunk(
    stsc: ChunkRuns, chunk_offsets: np.ndarray, file_size: int, name: str, truncated: str | None
) -> np.ndarray:
    """Samples in each chunk; chunks before the first ``first_chunk`` take entry 0's count."""
    n_chunks = len(chunk_offsets)
    if len(stsc.first_chunk) == 0:
        raise MalformedContainer(f"{name} has samples but an empty stsc")
    if int(stsc.first_chunk[-1]) > n_chunks:
        raise MalformedContainer(
            f"{name}: stsc starts a run at chunk {int(stsc.first_chunk[-1])} of {n_chunks}"
        )
    if n_chunks and int(chunk_offsets.max()) > file_size:
        bad = int(np.argmax(chunk_offsets > file_size))
        raise outside_file(
            f"{name}: chunk {bad} at byte {int(chunk_offsets[bad])} lies past the end of the "
            f"{file_size}-byte file",
            truncated,
        )
    run_length = np.diff(np.append(stsc.first_chunk, n_chunks + 1))
    run_length[0] += int(stsc.first_chunk[0]) - 1
    return np.repeat(stsc.samples_per_chunk, run_length)


def _expand_sizes(sizes: SampleSizes, name: str) -> np.ndarray:
    if sizes.sizes is None:
        if sizes.constant > MAX_SAMPLE_SIZE:
            raise MalformedContainer(f"{name}: sample size {sizes.constant} is over 1 GiB")
        return np.full(sizes.count, sizes.constant, dtype=np.int64)
    if len(sizes.sizes) and int(sizes.sizes.max()) > MAX_SAMPLE_SIZE:
        bad = int(np.argmax(sizes.sizes))
        raise MalformedContainer(
            f"{name}: sample {bad} claims {int(sizes.sizes[bad])} bytes, over 1 GiB"
        )
    return sizes.sizes


def _place(
    stsc: ChunkRuns,
    chunk_offsets: np.ndarray,
    sizes: np.ndarray,
    file_size: int,
    name: str,
    truncated: str | None,
) -> tuple[np.ndarray, np.ndarray, int, list[str], bool]:
    """Byte offsets and chunk numbers of the samples, walking chunks as FFmpeg does.

    A chunk before the first ``stsc`` entry's ``first_chunk`` takes that
    entry's samples per chunk (FFmpeg's walk starts on entry 0). Also
    returns how many samples were placed, notes, and whether the chunks
    hold more samples than ``stsz`` sizes (FFmpeg then skips the edit list).
    """
    n = len(sizes)
    notes: list[str] = []
    per_chunk = _samples_per_chunk(stsc, chunk_offsets, file_size, name, truncated)
    held = np.cumsum(per_chunk)
    total = int(held[-1]) if len(held) else 0
    if total > n:
        last = int(np.searchsorted(held, n))
        per_chunk = per_chunk[: last + 1].copy()
        per_chunk[-1] -= int(held[last]) - n
        notes.append(
            f"{name}: chunks hold {total} samples, stsz {n}; the extra ones dropped "
            "and, as FFmpeg does then, the edit list skipped"
        )
    elif total < n:
        notes.append(f"{name}: chunks hold {total} of {n} samples; the rest dropped")
        n = total
        sizes = sizes[:n]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, 0, notes, False
    chunks = np.repeat(np.arange(len(per_chunk), dtype=np.int64), per_chunk)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    first = np.cumsum(per_chunk) - per_chunk
    base = chunk_offsets[: len(per_chunk)].astype(np.int64) - starts[np.minimum(first, n - 1)]
    offsets = base[chunks] + starts
    if int((offsets + sizes).max()) > file_size:
        bad = int(np.argmax(offsets + sizes > file_size))
        raise outside_file(
            f"{name}: sample {bad} [{int(offsets[bad])}, +{int(sizes[bad])}) "
            f"runs past the end of the {file_size}-byte file",
            truncated,
        )
    return offsets, chunks, n, notes, total > len(sizes)


def expand_deltas(stts: Runs, n: int) -> np.ndarray:
    """Per-sample decode time deltas, with FFmpeg's ``max_stts_delta`` correction."""
    counts, deltas = stts.counts, stts.values
    if (deltas > MAX_STTS_DELTA).any():
        deltas = _corrected_deltas(counts, deltas)
    return np.repeat(deltas, counts)[:n]


def _corrected_deltas(counts: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """FFmpeg ``mov_read_stts``: huge deltas are negative corrections; clip and absorb the drift.

    A loop per ``stts`` entry, run only when such a delta exists.
    """
    out = deltas.copy()
    current = corrected = 0
    for i, (count, delta) in enumerate(zip(counts.tolist(), deltas.tolist(), strict=True)):
        if delta > MAX_STTS_DELTA:
            signed = delta - 2**32 if delta >= 2**31 else delta
            out[i] = 1
            corrected += (signed if signed < 0 else 1) * count
        else:
            corrected += delta * count
        current += int(out[i]) * count
        if current > corrected:
            drift = (current - corrected) // max(count, 1)
            correction = drift if out[i] > drift else int(out[i]) - 1
            current -= correction * count
            out[i] -= correction
    return out


def expand_ctts(ctts: Runs | None, n: int) -> tuple[np.ndarray, bool, int]:
    """Per-sample composition offsets (0 past the table), whether FFmpeg has a
    ``ctts`` at all, and its ``dts_shift`` (see the module docstring)."""
    offsets = np.zeros(n, dtype=np.int64)
    if ctts is None or len(ctts.counts) == 0:
        return offsets, False, 0
    counts = np.where((ctts.counts > 0) & (ctts.counts < 2**31), ctts.counts, 0)
    values = ctts.values
    inner = counts > 0
    inner[max(0, len(inner) - 2) :] = False
    negative = values[inner & (values < 0)]
    dts_shift = int(max(0, -max(int(negative.min()), -(2**31) + 1))) if len(negative) else 0
    clipped = np.minimum(np.cumsum(counts), n)
    counts = np.diff(clipped, prepend=0)
    covered = int(clipped[-1])
    offsets[:covered] = np.repeat(values, counts)
    return offsets, bool((counts > 0).any()), dts_shift


def sync_flags(n: int, track: Track, *, first_chunk_empty: bool) -> np.ndarray:
    """Which samples FFmpeg flags as keyframes (``mov_build_index``)."""
    audio = track.kind == "audio"
    stss, stps, rap = track.stss, track.stps, track.rap
    absent = stss is not None and len(stss) == 0
    key_off = int((stss is not None and len(stss) > 0 and stss[0] > 0) or
                  (stps is not None and len(stps) > 0 and stps[0] > 0))  # fmt: skip
    if stss is None or absent:
        keys = np.full(n, not absent, dtype=bool)
    else:
        keys = np.zeros(n, dtype=bool)
        keys[_walk_matches(stss - key_off, n, None)] = True
    if stps is not None and len(stps):
        keys[_walk_matches(stps - key_off, n, keys)] = True
    rap_present = rap is not None and len(rap.counts) > 0
    if rap_present:
        keys |= _rap_flags(rap, n)
    if absent and (stps is None or not len(stps)) and not rap_present:
        if audio:
            keys[:] = True
        elif n and not first_chunk_empty:
            keys[0] = True
    return keys


def _walk_matches(targets: np.ndarray, n: int, taken: np.ndarray | None) -> np.ndarray:
    """The sample numbers an in-order walk of ``targets`` matches.

    The walk waits on one entry until the sample number reaches it, so it
    stops for good at an entry not larger than the one before, or (for
    ``stps``, ``taken`` given) at one ``stss`` already matched.
    """
    if len(targets) == 0 or targets[0] < 0:
        return np.zeros(0, dtype=np.int64)
    stop = np.flatnonzero(np.diff(targets) <= 0)
    targets = targets[: stop[0] + 1] if len(stop) else targets
    targets = targets[targets < n]
    if taken is not None:
        blocked = np.flatnonzero(taken[targets])
        if len(blocked):
            targets = targets[: blocked[0]]
    return targets


def _rap_flags(rap: Runs, n: int) -> np.ndarray:
    """Samples in a ``rap `` group run with a non-zero description index.

    FFmpeg never leaves a run of count 0: its index then holds for every
    later sample.
    """
    counts, index = rap.counts, rap.values
    zero = np.flatnonzero(counts == 0)
    flags = np.repeat(index > 0, np.minimum(counts, n))[:n]
    if len(zero):
        start = int(min(counts[: zero[0]].sum(), n))
        flags = np.concatenate([flags[:start], np.full(n - start, index[zero[0]] > 0)])
    return np.concatenate([flags, np.zeros(n - len(flags), dtype=bool)])
