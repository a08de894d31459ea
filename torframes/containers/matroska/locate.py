"""Sample locators: from a cue row (a Cluster's place) to a keyframe's exact byte range.

A Matroska CuePoint gives the Cluster a keyframe is in (CueClusterPosition)
and often the block's place in it (CueRelativePosition, from the Cluster's
data start), never the frame's size. :class:`ClusterLocator` reads the
Cluster's header and Timestamp and the block's header there, and answers
:class:`~torframes.containers.base.Located` with the first frame's payload:
``[offset, offset + size)`` is what the decoder is given (after
``DecoderConfig.sample_prefix``, if any). ``offset`` is FFmpeg's
``packet.pos`` (the block's data, where the track number starts) plus the
block header (track number VINT, 2-octet timestamp, flags, lacing sizes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from torframes.containers.base import ByteRange, IndexLimits, Located, Need, SampleLocator
from torframes.containers.matroska.cluster import find_block
from torframes.containers.matroska.tables import CueRows
from torframes.containers.reading import Reads, Runner, Task, Window, WindowExhausted
from torframes.errors import MalformedContainer

__all__ = ["ClusterLocator", "KnownLocator", "MatroskaLocator"]

#: First read at a Cluster whose block is not placed by the cue; it doubles
#: on each further read, at most ``LOCATE_READS`` reads (16 MiB in all). The
#: first read is small: a muxer puts the cued keyframe first in its Cluster,
#: so its header is near, and a wider read would fetch pieces past the frame.
LOCATE_WINDOW = 4 * 1024
LOCATE_READS = 12

#: Bytes read at the Cluster start and at the block when CueRelativePosition
#: places it: the Cluster header, a CRC-32 and the Timestamp (38 octets at
#: most); the block's element header and the 64 octets of its data
#: :func:`.cluster.find_block` reads for the block header (lacing sizes
#: beyond that are read through the window). No more: past them lie pieces
#: the frame may not touch.
CLUSTER_HEAD = 64
BLOCK_HEAD = 80


class ClusterLocator(SampleLocator):
    """Finds the block of ``track`` at ``target`` (Segment Ticks) in the Cluster at ``cluster``.

    ``limit`` is where the Cluster must end (the Segment's end); ``delay``
    the track's CodecDelay in ticks, taken off the answered ``pts`` as
    FFmpeg does.
    """

    def __init__(
        self,
        file_size: int,
        cluster: int,
        track: int,
        limit: int,
        *,
        target: int | None = None,
        relative: int | None = None,
        delay: int = 0,
        window: int = LOCATE_WINDOW,
        max_reads: int = LOCATE_READS,
        limits: IndexLimits | None = None,
    ) -> None:
        limits = limits or IndexLimits()
        self.cluster, self.track, self.target, self.relative = cluster, track, target, relative
        self._reads = Reads(file_size, limits.max_index_bytes)
        self._limit = min(limit, file_size)
        self._delay = delay
        self._max_sample = limits.max_sample_bytes
        self._window = Window(self._reads, window, max_reads, f"block in the Cluster at {cluster}")
        self._runner: Runner[Located] = Runner(self._run(), self._reads, "a Matroska Cluster")

    def feed(self, offset: int, data: bytes | memoryview) -> None:
        self._reads.feed(offset, data)

    def step(self) -> Need | Located:
        return self._runner.step()

    def _run(self) -> Task[Located]:
        c = self.cluster
        first = [ByteRange(c, c + CLUSTER_HEAD)]
        if self.relative is not None:
            # The block starts 5 to 12 bytes past c + relative (Cluster ID + size VINT).
            block = c + 5 + self.relative
            first.append(ByteRange(block, block + 7 + BLOCK_HEAD))
        else:
            first = [ByteRange(c, c + self._window.first)]
        yield from self._reads.require(
            [r.clip(self._limit) for r in first], f"Cluster at {c} for track {self.track}"
        )
        try:
            found, _ = yield from find_block(
                self._reads,
                self._window,
                c,
                self._limit,
                self.track,
                target=self.target,
                relative=self.relative,
                max_sample=self._max_sample,
            )
        except WindowExhausted:
            found = None
        if found is None:
            raise MalformedContainer(f"no keyframe of track {self.track} in the Cluster", offset=c)
        return Located(found.offset, found.size, found.timestamp - self._delay, found.keyframe)


class KnownLocator(SampleLocator):
    """A locator for a row whose range is already known: answers at once."""

    def __init__(self, located: Located) -> None:
        self._located = located

    def feed(self, offset: int, data: bytes | memoryview) -> None:
        pass

    def step(self) -> Need | Located:
        return self._located


class MatroskaLocator:
    """``ContainerIndex.locator`` of a Matroska index: a :class:`SampleLocator` per table row."""

    def __init__(
        self,
        file_size: int,
        segment_end: int,
        limits: IndexLimits,
        delays: Mapping[int, int],
        cues: CueRows | None = None,
    ) -> None:
        self.file_size = file_size
        self.segment_end = segment_end
        self.limits = limits
        self.delays = dict(delays)
        self.cues = cues

    def to_state(self) -> dict[str, Any]:
        """Plain JSON types, for the persistent cache (never pickled: the cache is only data)."""
        cues = self.cues
        return {
            "file_size": self.file_size,
            "segment_end": self.segment_end,
            "limits": dataclasses.asdict(self.limits),
            "delays": sorted([int(track), int(delay)] for track, delay in self.delays.items()),
            "cues": None
            if cues is None
            else {
                name: [int(v) for v in getattr(cues, name)]
                for name in ("track", "offset", "pts", "time", "relative")
            },
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> MatroskaLocator:
        """The locator :meth:`to_state` described; ``ValueError``/``TypeError`` if it is not one."""
        limits = IndexLimits(**{k: int(v) for k, v in dict(state["limits"]).items()})
        delays = {int(track): int(delay) for track, delay in state["delays"]}
        cues = state["cues"]
        rows = None
        if cues is not None:
            arrays = {
                name: np.asarray(cues[name], dtype=np.int64)
                for name in ("track", "offset", "pts", "time", "relative")
            }
            if len({len(a) for a in arrays.values()}) != 1:
                raise ValueError("cue arrays of different lengths")
            rows = CueRows(**arrays)
        return cls(int(state["file_size"]), int(state["segment_end"]), limits, delays, rows)

    def __call__(self, row: pd.Series) -> SampleLocator:
        track, offset, pts = int(row["track_id"]), int(row["offset"]), int(row["pts"])
        if not pd.isna(row["size"]):
            return KnownLocator(Located(offset, int(row["size"]), pts, bool(row["is_keyframe"])))
        delay = self.delays.get(track, 0)
        target, relative = pts + delay, None
        cue = None if self.cues is None else self.cues.lookup(row.name, track, offset, pts)
        if cue is not None:
            target, relative = cue
        return ClusterLocator(
            self.file_size,
            offset,
            track,
            self.segment_end,
            target=target,
            relative=relative,
            delay=delay,
            limits=self.limits,
        )
