"""Walking a Cluster (RFC 9559 ``\\Segment\\Cluster``) to one block, reading headers only.

Used by the locator (to turn a CuePoint into a frame's exact byte range)
and by the probes of files without Cues (to find a keyframe near an
offset). Block payloads are skipped by size, never read; every read goes
through a bounded :class:`~.reading.Window`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from torframes.containers.matroska import elements as ids
from torframes.containers.matroska.blocks import BlockHeader, read_block_header
from torframes.containers.matroska.ebml import (
    MAX_HEADER,
    MAX_VALUE,
    Element,
    read_element,
    read_uint,
)
from torframes.containers.reading import Reads, Task, Window
from torframes.errors import (
    ContainerError,
    IndexTooLarge,
    MalformedContainer,
    TruncatedContainer,
)

__all__ = ["CLUSTER_MAGIC", "FoundBlock", "find_block", "read_header", "resync"]

#: The Cluster ID as it appears in a file: what probes resync on.
CLUSTER_MAGIC = ids.CLUSTER.to_bytes(4, "big")

#: Bytes of a block's data read for its header: the track VINT, timecode,
#: flags and a lacing header of a few frames. More is read when needed.
BLOCK_HEAD = 64


@dataclass(frozen=True, slots=True)
class FoundBlock:
    """A block found in a Cluster, and its first frame's exact place.

    ``element`` is where the SimpleBlock or BlockGroup starts; ``pos`` where
    the (Simple)Block's data starts (FFmpeg's ``packet.pos``); ``offset``
    and ``size`` the first frame's payload. ``timestamp`` is the Cluster's
    Timestamp plus the block's, in Segment Ticks: negative when the block's
    signed 16-bit timestamp reaches back past zero (see :attr:`has_time`).
    ``first`` is True when no earlier block of the track is in the Cluster.
    """

    cluster: int
    element: int
    pos: int
    offset: int
    size: int
    track: int
    timestamp: int
    keyframe: bool
    first: bool = False

    @property
    def has_time(self) -> bool:
        """Whether FFmpeg gives this block a timestamp.

        FFmpeg's ``matroska_parse_block`` keeps Cluster Timestamp + block
        timestamp only when ``block_time >= 0 || cluster_time >= -block_time``,
        i.e. when the sum is not negative; otherwise the packet has no
        timestamp (``AV_NOPTS_VALUE``) and libavformat makes one up.
        """
        return self.timestamp >= 0


def read_header(reads: Reads, window: Window, pos: int, limit: int) -> Task[Element]:
    """The element header at ``pos`` (which must end by ``limit``), read through ``window``."""
    if pos >= limit:
        raise TruncatedContainer("element header expected past its parent's end", offset=pos)
    stop = min(pos + MAX_HEADER, limit)
    while True:
        extent = reads.extent(pos, stop)
        try:
            element = read_element(reads.get(pos, extent), 0, pos)
        except TruncatedContainer:
            if extent >= stop:
                raise
        else:
            window.touch(pos, pos + element.header)
            return element
        need = window.want(pos, stop, limit)
        if need is not None:
            yield need


def find_block(
    reads: Reads,
    window: Window,
    cluster: int,
    limit: int,
    track: int,
    *,
    target: int | None = None,
    relative: int | None = None,
    max_sample: int | None = None,
) -> Task[tuple[FoundBlock | None, int]]:
    """The block of ``track`` wanted in the Cluster at ``cluster``, and where the Cluster ends.

    Without ``target`` the first keyframe of the track is wanted; with it,
    the track's block whose timestamp is ``target`` (else the first
    keyframe at or after it, else the first keyframe). ``relative`` is a
    CueRelativePosition (from the Cluster's data): that block is tried
    first, and the Cluster walked from its start if it is not the one. A
    Cluster of unknown size ends at the next Top-Level Element (RFC 8794
    §6.2). The Timestamp must come before the first block. A block whose
    first frame is over ``max_sample`` bytes is refused
    (:class:`IndexTooLarge`) before anything reads it.
    """
    head = yield from read_header(reads, window, cluster, limit)
    if head.id != ids.CLUSTER:
        raise MalformedContainer(
            f"expected a Cluster, found {ids.name_of(head.id)}", offset=cluster
        )
    end = limit if head.size is None else head.end
    if end > limit:
        raise MalformedContainer("Cluster overruns the Segment", offset=cluster)
    pos, timestamp = head.data, None
    while timestamp is None:
        if pos >= end:
            raise MalformedContainer("Cluster without a Timestamp", offset=cluster)
        child = yield from _child(reads, window, head, pos, end)
        if child is None:
            raise MalformedContainer("Cluster without a Timestamp", offset=cluster)
        if child.id in (ids.SIMPLE_BLOCK, ids.BLOCK_GROUP):
            raise MalformedContainer("block before its Cluster's Timestamp", offset=pos)
        if child.id == ids.TIMESTAMP:
            if child.size is None or child.size > 8:
                raise MalformedContainer(f"Timestamp of {child.size} octets", offset=pos)
            data = yield from window.bytes(child.data, child.end, end)
            timestamp = read_uint(data, child.data)
            if timestamp >= MAX_VALUE:
                raise MalformedContainer(f"Cluster Timestamp {timestamp}", offset=pos)
        pos = child.end
    if relative is not None and pos <= head.data + relative < end:
        try:
            child = yield from _child(reads, window, head, head.data + relative, end)
            if child is not None and child.id in (ids.SIMPLE_BLOCK, ids.BLOCK_GROUP):
                found = yield from _read_block(reads, window, cluster, child, track, timestamp, end)
                if found is not None and (target is None or found.timestamp == target):
                    return _checked(found, max_sample), end
        except (MalformedContainer, TruncatedContainer):
            pass  # a lying CueRelativePosition: walk the Cluster instead
    fallback: FoundBlock | None = None
    first = True
    while pos < end:
        child = yield from _child(reads, window, head, pos, end)
        if child is None:
            return _checked(fallback, max_sample), pos
        if child.id in (ids.SIMPLE_BLOCK, ids.BLOCK_GROUP):
            found = yield from _read_block(reads, window, cluster, child, track, timestamp, end)
            if found is None:
                pass
            else:
                found = replace(found, first=first)
                first = False
                if target is None:
                    if found.keyframe:
                        return _checked(found, max_sample), end
                elif found.timestamp == target:
                    return _checked(found, max_sample), end
                elif found.keyframe and _closer(fallback, found, target):
                    fallback = found
        pos = child.end
    return _checked(fallback, max_sample), end


def _checked(found: FoundBlock | None, max_sample: int | None) -> FoundBlock | None:
    """``found``, unless its frame is larger than ``max_sample`` bytes (a hostile block size)."""
    if found is not None and max_sample is not None and found.size > max_sample:
        raise IndexTooLarge(
            f"a block of track {found.track} claims a {found.size}-byte frame, over the "
            f"{max_sample}-byte max_sample_bytes limit",
            offset=found.pos,
        )
    return found


def _closer(best: FoundBlock | None, found: FoundBlock, target: int) -> bool:
    """Whether ``found`` is a better stand-in than ``best`` for the block at ``target``."""
    return best is None or (best.timestamp < target <= found.timestamp)


def _child(reads: Reads, window: Window, head: Element, pos: int, end: int) -> Task[Element | None]:
    """The Cluster child at ``pos``, or None where a Cluster of unknown size ends."""
    child = yield from read_header(reads, window, pos, end)
    if head.size is None and child.id in ids.ENDS_CLUSTER:
        return None
    if child.size is None or child.end > end:
        raise MalformedContainer(
            f"{ids.name_of(child.id)} of unknown size or past its Cluster", offset=pos
        )
    return child


def _read_block(
    reads: Reads,
    window: Window,
    cluster: int,
    element: Element,
    track: int,
    cluster_time: int,
    end: int,
) -> Task[FoundBlock | None]:
    """The SimpleBlock or BlockGroup ``element`` as a :class:`FoundBlock` if it is of ``track``.

    A BlockGroup's keyframe status is the absence of ReferenceBlock
    (RFC 9559 "ReferenceBlock"); its children after the Block are read only
    when the Block is of the wanted track.
    """
    assert element.size is not None
    if element.id == ids.SIMPLE_BLOCK:
        header = yield from _block_header(
            reads, window, element.data, element.size, end, simple=True
        )
        if header.track != track:
            return None
        return _found(cluster, element, element.data, header, cluster_time, bool(header.keyframe))
    block = None
    keyframe = True
    pos, stop = element.data, element.end
    while pos < stop:
        child = yield from read_header(reads, window, pos, stop)
        if child.size is None or child.end > stop:
            raise MalformedContainer(
                "BlockGroup child of unknown size or past its group", offset=pos
            )
        if child.id == ids.BLOCK:
            header = yield from _block_header(
                reads, window, child.data, child.size, end, simple=False
            )
            if header.track != track:
                return None
            block = (child.data, header)
        elif child.id == ids.REFERENCE_BLOCK:
            keyframe = False
        pos = child.end
    if block is None:
        raise MalformedContainer("BlockGroup without a Block", offset=element.start)
    return _found(cluster, element, block[0], block[1], cluster_time, keyframe)


def _block_header(
    reads: Reads, window: Window, start: int, size: int, end: int, *, simple: bool
) -> Task[BlockHeader]:
    """A block's header, reading more of its data while lacing sizes run on."""
    stop = start + min(size, BLOCK_HEAD)
    while True:
        data = yield from window.bytes(start, stop, end)
        try:
            return read_block_header(data, size, start, simple=simple)
        except TruncatedContainer:
            if stop >= start + size:
                raise
        stop = min(start + size, start + 2 * (stop - start))


def _found(
    cluster: int, element: Element, pos: int, header: BlockHeader, cluster_time: int, keyframe: bool
) -> FoundBlock:
    return FoundBlock(
        cluster=cluster,
        element=element.start,
        pos=pos,
        offset=pos + header.header_size,
        size=header.frame_sizes[0],
        track=header.track,
        timestamp=cluster_time + header.timecode,
        keyframe=keyframe,
    )


def resync(reads: Reads, window: Window, start: int, limit: int) -> Task[int | None]:
    """The first valid Cluster starting at or after ``start`` (before ``limit``), or None.

    Candidates are the Cluster ID's four octets; one is valid when its size
    fits the Segment (or is unknown) and its first child, after any CRC-32
    or Void, is a Timestamp of 1 to 8 octets.
    """
    pos = start
    while pos < limit:
        extent = reads.extent(pos, limit)
        if extent - pos >= len(CLUSTER_MAGIC):
            data = bytes(reads.get(pos, extent))
            at = data.find(CLUSTER_MAGIC)
            while at >= 0:
                if (yield from _is_cluster(reads, window, pos + at, limit)):
                    window.touch(pos, pos + at)
                    return pos + at
                at = data.find(CLUSTER_MAGIC, at + 1)
            window.touch(pos, extent)
            pos = max(pos, extent - len(CLUSTER_MAGIC) + 1)
        if extent >= limit:
            return None
        need = window.want(extent, extent + len(CLUSTER_MAGIC), limit)
        if need is not None:
            yield need
    return None


def _is_cluster(reads: Reads, window: Window, start: int, limit: int) -> Task[bool]:
    """Whether a Cluster ID at ``start`` opens a plausible Cluster."""
    try:
        head = yield from read_header(reads, window, start, limit)
        if head.size is not None and head.end > limit:
            return False
        end = limit if head.size is None else head.end
        pos = head.data
        for _ in range(3):
            child = yield from read_header(reads, window, pos, end)
            if child.id == ids.TIMESTAMP:
                return child.size is not None and 1 <= child.size <= 8 and child.end <= end
            if child.id not in (ids.CRC32, ids.VOID) or child.size is None:
                return False
            pos = child.end
    except ContainerError:
        return False
    return False
