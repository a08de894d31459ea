"""Keyframes of a file without Cues, found by probing Clusters at evenly spaced offsets.

A bounded strategy, never a linear read: ``count`` probes (at most
``IndexLimits.max_cluster_probes``), all asked for in the same Need. Each
probe reads a window (64 KiB by default) at its offset, resyncs on the
Cluster ID, validates the Cluster (:func:`.cluster.resync`), then walks
block headers to the first keyframe of the track; a probe's window widens
(doubling) at most ``widenings`` times, then the probe gives up. All
probes together ask for at most ``budget`` bytes (the parser's default: a
quarter of the Clusters' span, at least 1 MiB): probing costs at most
``widenings + 1`` Needs and a bounded share of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torframes.containers.base import ByteRange, Need
from torframes.containers.matroska import elements as ids
from torframes.containers.matroska.cluster import FoundBlock, find_block, read_header, resync
from torframes.containers.matroska.reading import Reads, Task, Window, WindowExhausted, merge_ranges
from torframes.errors import ContainerError

__all__ = ["ProbeResult", "probe_keyframes", "probe_offsets"]

#: Clusters a probe walks past (holding no keyframe of the track) before giving up; its
#: byte budget usually ends it first (a muxer writing to a pipe cuts Clusters every 32 KiB).
MAX_CLUSTERS_PER_PROBE = 64


@dataclass
class ProbeResult:
    """The keyframes the probes found (one per probe at most, deduplicated, in file order).

    ``asked`` are the ranges the probes asked for; ``used`` the bytes they
    truly read (Cluster IDs scanned for, element and block headers walked),
    merged: what a piece floor counts.
    """

    found: list[FoundBlock] = field(default_factory=list)
    asked: tuple[ByteRange, ...] = ()
    used: tuple[ByteRange, ...] = ()
    probes: int = 0
    failed: int = 0


def probe_offsets(start: int, stop: int, count: int) -> list[int]:
    """``count`` evenly spaced offsets in ``[start, stop)``, the first at ``start``."""
    if count <= 0 or stop <= start:
        return []
    return sorted({start + (stop - start) * i // count for i in range(count)})


def probe_keyframes(
    reads: Reads,
    first_cluster: int,
    stop: int,
    track: int,
    *,
    count: int,
    window: int,
    widenings: int,
    budget: int,
) -> Task[ProbeResult]:
    """Run the probes side by side, one Need per round for all of them.

    ``budget`` bounds the bytes all probes together ask for: the number of
    probes is cut so that each may read at least ``window`` bytes, and each
    reads at most its share (and at most ``window * (2**(widenings+1) - 1)``).
    """
    count = min(count, max(1, budget // window))
    share = min(window * ((1 << (widenings + 1)) - 1), max(window, budget // max(1, count)))
    offsets = probe_offsets(first_cluster, stop, count)
    windows = [Window(reads, window, widenings + 1, f"probe at {o}", share) for o in offsets]
    tasks = [
        _probe(reads, w, o, stop, track, exact=o == first_cluster)
        for o, w in zip(offsets, windows, strict=True)
    ]
    results: list[FoundBlock | None] = [None] * len(tasks)
    active = list(range(len(tasks)))
    while active:
        ranges: list[ByteRange] = []
        for i in list(active):
            try:
                need = next(tasks[i])
            except StopIteration as stop_iteration:
                results[i] = stop_iteration.value
                active.remove(i)
                continue
            ranges.extend(need.ranges)
        if ranges:
            yield Need(merge_ranges(ranges), f"{len(active)} cluster probes")
    found: dict[int, FoundBlock] = {}
    for block in results:
        if block is not None:
            found.setdefault(block.offset, block)
    return ProbeResult(
        found=sorted(found.values(), key=lambda b: b.offset),
        asked=merge_ranges(r for w in windows for r in w.asked),
        used=merge_ranges(r for w in windows for r in w.touched),
        probes=len(tasks),
        failed=sum(block is None for block in results),
    )


def _probe(
    reads: Reads, window: Window, offset: int, stop: int, track: int, *, exact: bool
) -> Task[FoundBlock | None]:
    """One probe: the first keyframe of ``track`` in the first valid Cluster from ``offset`` on."""
    try:
        cluster = offset if exact else (yield from resync(reads, window, offset, stop))
        for _ in range(MAX_CLUSTERS_PER_PROBE):
            if cluster is None:
                return None
            found, end = yield from find_block(reads, window, cluster, stop, track)
            if found is not None:
                return found
            if end >= stop:
                return None
            head = yield from read_header(reads, window, end, stop)
            if head.id == ids.CLUSTER:
                cluster = end
            else:
                cluster = yield from resync(reads, window, end, stop)
    except (WindowExhausted, ContainerError):
        return None
    return None
