"""Keyframes of a file without Cues, found by probing Clusters: the first one, then a few more.

A bounded strategy, never a linear read. The first Cluster follows the
headers: it is probed first, alone, at its exact place: its header, its
Timestamp and the block headers up to the track's first keyframe (a muxer
puts that keyframe first, so a few KiB at most). Only when more probes
are allowed (``count``, at most ``IndexLimits.max_cluster_probes``) and
Clusters lie past the first one are the others made, side by side in the
same Needs, at evenly spaced offsets past the first Cluster (a probe inside
a Cluster already walked would scan its payload for nothing). Each of them
reads a window at its offset, resyncs on the Cluster ID, validates the
Cluster (:func:`.cluster.resync`), then walks block headers to the first
keyframe of the track; its window widens (doubling) at most ``widenings``
times, then it gives up.

Every probe is a bounded :class:`~.reading.Window`: the bytes all probes
ask for together are at most ``budget`` (:attr:`ProbeResult.budget`), so a
file of one Cluster costs its headers and that Cluster's head, whatever
its size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torframes.containers.base import ByteRange, Need
from torframes.containers.matroska import elements as ids
from torframes.containers.matroska.cluster import FoundBlock, find_block, read_header, resync
from torframes.containers.reading import Reads, Task, Window, WindowExhausted, merge_ranges
from torframes.errors import ContainerError, IndexTooLarge

__all__ = ["ProbeResult", "probe_keyframes", "probe_offsets"]

#: Clusters a probe walks past (holding no keyframe of the track) before giving up; its
#: byte budget usually ends it first (a muxer writing to a pipe cuts Clusters every 32 KiB).
MAX_CLUSTERS_PER_PROBE = 64


@dataclass
class ProbeResult:
    """The keyframes the probes found (one per probe at most, deduplicated, in file order).

    ``first`` is the first probe's find: the track's first keyframe in the
    first Cluster holding one. ``asked`` are the ranges the probes asked
    for (``asked_bytes`` in all, never more than ``budget``); ``used`` the
    bytes they truly read (Cluster IDs scanned for, element and block
    headers walked), merged: what a piece floor counts.
    """

    found: list[FoundBlock] = field(default_factory=list)
    first: FoundBlock | None = None
    asked: tuple[ByteRange, ...] = ()
    used: tuple[ByteRange, ...] = ()
    probes: int = 0
    failed: int = 0
    budget: int = 0

    @property
    def asked_bytes(self) -> int:
        return sum(r.length for r in self.asked)


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
    max_sample: int | None = None,
) -> Task[ProbeResult]:
    """Probe the first Cluster, then up to ``count - 1`` more past it, one Need per round.

    ``budget`` bounds the bytes all probes together ask for: the first
    probe reads at most ``window * (2**(widenings+1) - 1)`` bytes (and at
    most ``budget``); the others share what it left, each at least
    ``window`` (fewer probes are made when that does not allow it) and at
    most as much as the first. ``max_sample`` is passed to
    :func:`~.cluster.find_block`: a block claiming more is refused.
    """
    per_probe = window * ((1 << (widenings + 1)) - 1)
    first_window = Window(
        reads, window, widenings + 1, f"first Cluster at {first_cluster}", min(per_probe, budget)
    )
    windows = [first_window]
    first, after = yield from _probe(
        reads, first_window, first_cluster, stop, track, max_sample, exact=True
    )
    if after is None:  # nothing found in reach: the others start past what the first read
        used = first_window.used
        after = used.stop if used is not None else first_cluster + 1
    results: list[FoundBlock | None] = [first]
    left = budget - first_window.spent
    rest = min(count - 1, left // window)
    if rest > 0:
        share = min(per_probe, left // rest)
        offsets = probe_offsets(after, stop, rest)
        more = [Window(reads, window, widenings + 1, f"probe at {o}", share) for o in offsets]
        windows += more
        tasks = [
            _probe(reads, w, o, stop, track, max_sample, exact=False)
            for o, w in zip(offsets, more, strict=True)
        ]
        results += yield from _side_by_side(tasks)
    found: dict[int, FoundBlock] = {}
    for block in results:
        if block is not None:
            found.setdefault(block.offset, block)
    return ProbeResult(
        found=sorted(found.values(), key=lambda b: b.offset),
        first=first,
        asked=merge_ranges(r for w in windows for r in w.asked),
        used=merge_ranges(r for w in windows for r in w.touched),
        probes=len(results),
        failed=sum(block is None for block in results),
        budget=budget,
    )


def _side_by_side(
    tasks: list[Task[tuple[FoundBlock | None, int | None]]],
) -> Task[list[FoundBlock | None]]:
    """Run probes together: each round, one Need holding every active probe's ranges."""
    results: list[FoundBlock | None] = [None] * len(tasks)
    active = list(range(len(tasks)))
    while active:
        ranges: list[ByteRange] = []
        for i in list(active):
            try:
                need = next(tasks[i])
            except StopIteration as stop_iteration:
                results[i] = stop_iteration.value[0]
                active.remove(i)
                continue
            ranges.extend(need.ranges)
        if ranges:
            yield Need(merge_ranges(ranges), f"{len(active)} cluster probes")
    return results


def _probe(
    reads: Reads,
    window: Window,
    offset: int,
    stop: int,
    track: int,
    max_sample: int | None,
    *,
    exact: bool,
) -> Task[tuple[FoundBlock | None, int | None]]:
    """One probe: the first keyframe of ``track`` in the first valid Cluster from ``offset`` on.

    Also answers where Clusters not walked yet may start: the end of the
    Cluster the keyframe is in when its size is known, else the end of the
    keyframe's frame; None when the probe found nothing.
    """
    try:
        cluster = offset if exact else (yield from resync(reads, window, offset, stop))
        for _ in range(MAX_CLUSTERS_PER_PROBE):
            if cluster is None:
                return None, None
            found, end = yield from find_block(
                reads, window, cluster, stop, track, max_sample=max_sample
            )
            if found is not None:
                head = yield from read_header(reads, window, cluster, stop)
                return found, (found.offset + found.size if head.size is None else head.end)
            if end >= stop:
                return None, None
            head = yield from read_header(reads, window, end, stop)
            if head.id == ids.CLUSTER:
                cluster = end
            else:
                cluster = yield from resync(reads, window, end, stop)
    except IndexTooLarge:
        raise
    except (WindowExhausted, ContainerError):
        return None, None
    return None, None
