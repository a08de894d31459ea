"""Reader for Cues (RFC 9559 ``\\Segment\\Cues``, and its "Cues" section).

One row per CueTrackPositions, collected into typed arrays; the tables are
built from them with numpy (see :mod:`.tables`). The per-CuePoint loop is
unavoidable when walking EBML; it is kept flat and allocation-free.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from torframes.containers.base import IndexLimits
from torframes.containers.matroska import elements as ids
from torframes.containers.matroska.ebml import MAX_VALUE, Buffer, read_element
from torframes.errors import IndexTooLarge, MalformedContainer

__all__ = ["CueTable", "read_cue_point", "read_cue_track_positions", "read_cues"]


@dataclass(frozen=True)
class CueTable:
    """Every CueTrackPositions of the Cues, as parallel int64 arrays.

    ``time`` is CueTime in Segment Ticks; ``cluster`` CueClusterPosition
    (a Segment Position); ``relative`` CueRelativePosition (from the
    Cluster's data start), ``duration`` CueDuration and ``block``
    CueBlockNumber are -1 where absent.
    """

    time: np.ndarray
    track: np.ndarray
    cluster: np.ndarray
    relative: np.ndarray
    duration: np.ndarray
    block: np.ndarray

    def __len__(self) -> int:
        return len(self.time)


def read_cues(body: Buffer, offset: int, limits: IndexLimits) -> CueTable:
    """Cues: every CuePoint's CueTrackPositions, at most ``limits.max_samples`` of them.

    The count is checked as rows are collected (arrays grow, nothing is
    allocated up front from a count the file claims).
    """
    buf = bytes(body)
    columns = tuple(array("q") for _ in range(6))
    cap = limits.max_samples
    pos, stop = 0, len(buf)
    while pos < stop:
        element_id, start, end = _header(buf, pos, stop, offset, "Cues")
        if element_id == ids.CUE_POINT:
            read_cue_point(buf, start, end, offset, columns)
            if len(columns[0]) > cap:
                raise IndexTooLarge(f"Cues list more than {cap} cue points", offset=offset + pos)
        pos = end
    if not columns[0]:
        raise MalformedContainer("Cues without any CuePoint", offset=offset)
    arrays = [np.frombuffer(column, dtype=np.int64) for column in columns]
    return CueTable(*arrays)


def read_cue_point(
    buf: bytes, start: int, stop: int, base: int, columns: tuple[array, ...]
) -> None:
    """CuePoint (``\\Segment\\Cues\\CuePoint``) at ``buf[start:stop]``: a row per CueTrackPositions.

    CueTime, CueTrack and CueClusterPosition are mandatory; values of 2^62
    and more are refused so that later arithmetic stays within int64.
    """
    time = None
    positions: list[tuple[int, int, int, int, int]] = []
    pos = start
    while pos < stop:
        element_id, data, end = _header(buf, pos, stop, base, "CuePoint")
        if element_id == ids.CUE_TIME:
            time = _uint(buf, data, end, base)
        elif element_id == ids.CUE_TRACK_POSITIONS:
            positions.append(read_cue_track_positions(buf, data, end, base))
        pos = end
    if time is None or not positions:
        raise MalformedContainer(
            "CuePoint without CueTime or CueTrackPositions", offset=base + start
        )
    for track, cluster, relative, duration, block in positions:
        if max(time, track, cluster, relative, duration, block) >= MAX_VALUE:
            raise MalformedContainer("cue value out of range", offset=base + start)
        columns[0].append(time)
        columns[1].append(track)
        columns[2].append(cluster)
        columns[3].append(relative)
        columns[4].append(duration)
        columns[5].append(block)


def read_cue_track_positions(
    buf: bytes, start: int, stop: int, base: int
) -> tuple[int, int, int, int, int]:
    """CueTrackPositions (``...\\CuePoint\\CueTrackPositions``) as a tuple.

    CueTrack, CueClusterPosition, CueRelativePosition, CueDuration and
    CueBlockNumber; the last three are -1 when absent.
    """
    track = cluster = None
    relative = duration = block = -1
    pos = start
    while pos < stop:
        element_id, data, end = _header(buf, pos, stop, base, "CueTrackPositions")
        if element_id == ids.CUE_TRACK:
            track = _uint(buf, data, end, base)
        elif element_id == ids.CUE_CLUSTER_POSITION:
            cluster = _uint(buf, data, end, base)
        elif element_id == ids.CUE_RELATIVE_POSITION:
            relative = _uint(buf, data, end, base)
        elif element_id == ids.CUE_DURATION:
            duration = _uint(buf, data, end, base)
        elif element_id == ids.CUE_BLOCK_NUMBER:
            block = _uint(buf, data, end, base)
        pos = end
    if track is None or cluster is None:
        raise MalformedContainer(
            "CueTrackPositions without CueTrack or CueClusterPosition", offset=base + start
        )
    return track, cluster, relative, duration, block


def _header(buf: bytes, pos: int, stop: int, base: int, parent: str) -> tuple[int, int, int]:
    """``(id, data start, data end)`` of the child at ``buf[pos]``, which must end by ``stop``.

    The fast path takes a 1-octet ID and a 1-octet size (nearly every Cues
    child); anything else goes through :func:`.ebml.read_element`.
    """
    first = buf[pos]
    if 0x80 <= first < 0xFF and pos + 1 < stop and 0x80 <= buf[pos + 1] < 0xFF:
        element_id, data = first, pos + 2
        end = data + (buf[pos + 1] & 0x7F)
    else:
        element = read_element(memoryview(buf)[:stop], pos, base)
        if element.size is None:
            raise MalformedContainer(
                f"{ids.name_of(element.id)} of unknown size inside {parent}", offset=base + pos
            )
        element_id, data = element.id, pos + element.header
        end = data + element.size
    if end > stop:
        raise MalformedContainer(
            f"{ids.name_of(element_id)} of {end - data} bytes overruns its parent {parent}",
            offset=base + pos,
        )
    return element_id, data, end


def _uint(buf: bytes, start: int, stop: int, base: int) -> int:
    if stop - start > 8:
        raise MalformedContainer(f"unsigned integer of {stop - start} octets", offset=base + start)
    return int.from_bytes(buf[start:stop], "big")
