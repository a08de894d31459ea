"""Plausibility of a track's finished rows: what a scrambled ``moov`` gives away.

Noise written over a ``moov`` payload can leave every box header intact:
the tables (``stts``, ``ctts``, ``stsz``, ``stco``...) then hold random
words that every reader must accept, since ISO/IEC 14496-12 allows any
value in them one by one. Taken together they give themselves away, and
these checks, run on each track's rows once its times are final, turn
such tables into :class:`~torframes.errors.MalformedContainer` naming
what is wrong instead of an index of absurd rows:

* every sample's bytes lie inside the file: a chunk offset is a file
  offset (§8.7.5), and no sample is larger than the file;
* no sample is larger than ``IndexLimits.max_sample_bytes``
  (:class:`~torframes.errors.IndexTooLarge`: a configured bound, checked
  here so that nothing downstream ever allocates a sample's claimed size);
* every presentation time lies within the durations the headers declare:
  the movie's (``mvhd``, §8.2.2), the track's (``tkhd``, §8.3.2, and the
  sum of its edits, §8.6.6), the media's (``mdhd``, §8.4.2) and the
  fragmented movie's (``mehd``, §8.8.2), the largest of them, ``D``, give
  or take a margin ``M`` of ``D`` or :data:`TIME_MARGIN_S`, whichever is
  more: times must lie in ``[-(D + M), D + M]``.

The time window is wide on purpose. FFmpeg legitimately reports times
below zero (an edit list's pre-roll: samples from the keyframe before the
edit, flagged discard, which reach back at most the media's duration;
audio primed a second early) and times past the movie's end (samples
kept after an edit up to the next keyframe). A ``ctts`` or ``stts`` of
noise, in contrast, gives times of days: a random 32-bit word is hours at
any timescale below a million.

Not checked, because it cannot be told from a real file: a track whose
headers declare no duration at all (then there is nothing to compare
with), and the times of fragment samples, whose decode times start where
the fragment's ``tfdt`` says (a live capture may start at days); for a
fragmented movie with an ``mehd`` only the span of its times is held to
the window's width.
"""

from __future__ import annotations

import numpy as np

from torframes.containers.base import IndexLimits
from torframes.containers.mp4.moov import Movie, Track
from torframes.containers.mp4.tables import outside_file
from torframes.errors import IndexTooLarge, MalformedContainer

__all__ = ["TIME_MARGIN_S", "check_rows", "declared_duration"]

#: The least margin, in seconds, allowed around the declared duration.
TIME_MARGIN_S = 60.0

#: Duration values writers use for "unknown".
_UNKNOWN = (2**32 - 1, 2**64 - 1)


def _seconds(duration: float | None, timescale: int) -> float | None:
    if duration is None or timescale <= 0 or duration <= 0 or duration in _UNKNOWN:
        return None
    return duration / timescale


def declared_duration(movie: Movie, track: Track) -> float | None:
    """The longest duration, in seconds, the headers declare for ``track`` (None: none)."""
    movie_scale = movie.mvhd.timescale
    elst = track.elst
    edits = float(elst.duration.sum(dtype=np.float64)) if elst is not None and len(elst) else None
    found = [
        _seconds(movie.mvhd.duration, movie_scale),
        _seconds(track.tkhd.duration, movie_scale),
        _seconds(edits, movie_scale),
        _seconds(track.mdhd.duration, track.mdhd.timescale),
        _seconds(movie.fragment_duration, movie_scale),
    ]
    known = [s for s in found if s is not None]
    return max(known) if known else None


def check_rows(
    movie: Movie,
    track: Track,
    part: dict[str, np.ndarray],
    *,
    timescale: int,
    fragment_rows: int,
    file_size: int,
    limits: IndexLimits,
    truncated: str | None = None,
) -> None:
    """Raise unless ``track``'s rows (``part``: sample, offset, size, pts) are plausible.

    The last ``fragment_rows`` rows come from movie fragments; ``truncated``
    is as for :func:`~torframes.containers.mp4.tables.outside_file`.
    """
    name = f"track {track.track_id}"
    offsets, sizes, pts = part["offset"], part["size"], part["pts"]
    if not len(offsets):
        return
    _check_bytes(name, part["sample"], offsets, sizes, file_size, limits, truncated)
    duration = declared_duration(movie, track)
    if fragment_rows:
        duration = _seconds(movie.fragment_duration, movie.mvhd.timescale)
    if duration is None:
        return
    margin = max(duration, TIME_MARGIN_S)
    limit = duration + margin
    times = pts / timescale
    first, last = float(times.min()), float(times.max())
    if fragment_rows:
        if last - first > 2 * limit:
            raise MalformedContainer(
                f"{name}: sample times span {last - first:.0f} s, implausible for a movie "
                f"of {duration:.3f} s (scrambled tables?)"
            )
        return
    if first < -limit or last > limit:
        bad = int(np.argmax((times < -limit) | (times > limit)))
        number, time = int(part["sample"][bad]), float(times[bad])
        raise MalformedContainer(
            f"{name}: sample {number} at {time:.3f} s lies far outside the "
            f"{duration:.3f} s the headers declare (scrambled tables?)"
        )


def _check_bytes(
    name: str,
    numbers: np.ndarray,
    offsets: np.ndarray,
    sizes: np.ndarray,
    file_size: int,
    limits: IndexLimits,
    truncated: str | None,
) -> None:
    """Every sample inside the file and no larger than ``limits.max_sample_bytes``."""
    largest = int(sizes.max())
    if largest > limits.max_sample_bytes:
        bad = int(np.argmax(sizes))
        raise IndexTooLarge(
            f"{name}: sample {int(numbers[bad])} claims {largest} bytes, over the "
            f"{limits.max_sample_bytes}-byte max_sample_bytes limit",
            offset=int(offsets[bad]),
        )
    outside = (offsets < 0) | (sizes < 0) | (offsets + sizes > file_size)
    if outside.any():
        bad = int(np.argmax(outside))
        raise outside_file(
            f"{name}: sample {int(numbers[bad])} [{int(offsets[bad])}, +{int(sizes[bad])}) "
            f"lies outside the {file_size}-byte file",
            truncated,
        )
