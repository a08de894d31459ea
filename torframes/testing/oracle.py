"""The independent oracle: what FFmpeg's demuxer (through PyAV) reports for a file.

Tests compare torframes' sample tables with these rows: a parser agrees with
FFmpeg when, packet for packet, ``offset`` (``packet.pos``), ``size``,
``pts``, ``dts`` and ``is_keyframe`` are equal.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import pandas as pd

__all__ = ["demux_packets", "keyframe_packets"]

PACKET_COLUMNS = [
    "stream",
    "track_id",
    "kind",
    "offset",
    "size",
    "pts",
    "dts",
    "time",
    "is_keyframe",
    "discard",
]


def demux_packets(source: str | Path | bytes) -> pd.DataFrame:
    """Every packet PyAV demuxes from ``source`` (a path or the file's bytes), in demux order.

    ``stream`` is PyAV's stream index, ``track_id`` the container's own id
    (the MP4 track ID, the Matroska track number), ``offset`` is
    ``packet.pos``, ``time`` the pts in seconds. Zero-size flush packets are
    left out.
    """
    opened = av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    rows = []
    with opened as container:
        for packet in container.demux():
            if packet.size == 0:
                continue
            stream = packet.stream
            time = None if packet.pts is None else float(packet.pts * stream.time_base)
            rows.append(
                (
                    stream.index,
                    stream.id,
                    stream.type,
                    packet.pos,
                    packet.size,
                    packet.pts,
                    packet.dts,
                    time,
                    bool(packet.is_keyframe),
                    bool(packet.is_discard),
                )
            )
    return pd.DataFrame(rows, columns=PACKET_COLUMNS)


def keyframe_packets(source: str | Path | bytes) -> pd.DataFrame:
    """The keyframe packets of the first video stream, in decode order, index reset."""
    packets = demux_packets(source)
    video = packets[packets["kind"] == "video"]
    first = video[video["stream"] == video["stream"].min()]
    keyframes = first[first["is_keyframe"]].sort_values("dts", kind="stable")
    return keyframes.reset_index(drop=True)
