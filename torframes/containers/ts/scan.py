"""Access unit starts of one elementary stream in a span of packets.

Every PES packet of a video stream in a transport stream opens in a packet
whose ``payload_unit_start_indicator`` is set (ISO/IEC 13818-1 §2.4.3.3),
and muxers start one PES packet per access unit (a frame): so the frames'
starts, their PTS/DTS and whether each is a random access point can be read
from a span of packets without reading the whole frames. A frame is a
keyframe when its first packet's ``random_access_indicator`` is set, or, if
not, when its first picture is an IDR/IRAP/I picture (:mod:`.codecs`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torframes.containers.ts.codecs import is_keyframe
from torframes.containers.ts.packets import SYNC_BYTE, PacketFormat, find_sync, read_packet
from torframes.containers.ts.pes import read_pes_header
from torframes.errors import MalformedContainer

__all__ = ["UnitStart", "access_unit", "next_unit_start", "payloads", "unit_starts"]

#: Payload bytes of a frame looked at for its first picture (past SEI and parameter sets).
KEY_SCAN_BYTES = 8 * 1024


@dataclass(frozen=True, slots=True)
class UnitStart:
    """Where a frame's PES packet starts (its first transport packet), and what it says.

    ``pts``/``dts`` are 33-bit raw values (``dts`` is ``pts`` when absent);
    ``key`` is None when the span ends before the frame's first picture
    and no random_access_indicator was set.
    """

    offset: int
    pts: int
    dts: int
    key: bool | None
    random_access: bool


def payloads(
    data: bytes, base: int, fmt: PacketFormat, pid: int, start: int = 0
) -> list[tuple[int, bool, bool, bytes]]:
    """``(offset, unit_start, random_access, payload)`` of the packets of ``pid`` in ``data``.

    ``data`` lies at file offset ``base``. Resyncs (:func:`.packets.find_sync`)
    at the start and after any lost sync; a packet cut by the end of ``data``
    and a packet flagged with a transport error are left out.
    """
    out: list[tuple[int, bool, bool, bytes]] = []
    pos = find_sync(data, fmt, start)
    while pos is not None and pos + fmt.size <= len(data):
        if data[pos + fmt.prefix] != SYNC_BYTE:
            pos = find_sync(data, fmt, pos + 1)
            continue
        h = read_packet(data, pos, fmt)
        if h.pid == pid and not h.error:
            payload = data[pos + h.payload : pos + fmt.size]
            out.append((base + pos, h.unit_start, h.random_access, payload))
        pos += fmt.size
    return out


def unit_starts(
    data: bytes, base: int, fmt: PacketFormat, pid: int, codec: str, start: int = 0
) -> list[UnitStart]:
    """The frames of ``pid`` whose first packet lies in ``data`` (at file offset ``base``).

    In file order. Frames whose PES header carries no PTS are left out (they
    cannot be placed in time). A frame whose first picture lies past the end
    of ``data`` has ``key`` None unless its random_access_indicator is set.
    """
    units: list[UnitStart] = []
    current: tuple[int, int, int, bool] | None = None
    gathered = bytearray()

    def close(ended: bool) -> None:
        if current is None:
            return
        offset, pts, dts, rai = current
        found = True if rai else is_keyframe(codec, bytes(gathered))
        key = found if ended else found is True
        units.append(UnitStart(offset, pts, dts, key, rai))

    for offset, unit_start, rai, payload in payloads(data, base, fmt, pid, start):
        if unit_start:
            close(ended=False)
            current, gathered = None, bytearray()
            header = read_pes_header(payload, offset)
            if header is None or header.pts is None:
                continue
            current = (offset, header.pts, header.pts if header.dts is None else header.dts, rai)
            gathered += payload[header.data :]
        elif current is not None and len(gathered) < KEY_SCAN_BYTES:
            gathered += payload
    close(ended=len(gathered) < KEY_SCAN_BYTES)
    return units


def access_unit(data: bytes, fmt: PacketFormat, pid: int, base: int = 0) -> bytes:
    """The elementary stream bytes of the frame whose first packet opens ``data``.

    The payloads of ``pid`` from the first packet starting a PES packet to
    the next one, the PES header taken off (§2.4.3.6): what a decoder of
    the stream is given for one access unit.
    """
    out = bytearray()
    started = False
    for offset, unit_start, _, payload in payloads(data, base, fmt, pid):
        if unit_start:
            if started:
                break
            header = read_pes_header(payload, offset)
            if header is None:
                raise MalformedContainer("PES header cut short", offset=offset)
            started = True
            out += payload[header.data :]
        elif started:
            out += payload
    if not started:
        raise MalformedContainer(f"no PES packet of PID {pid} starts here", offset=base)
    return bytes(out)


def next_unit_start(data: bytes, base: int, fmt: PacketFormat, pid: int, after: int) -> int | None:
    """The offset of the first packet of ``pid`` opening a PES packet past ``after``, or None."""
    for offset, unit_start, _, _ in payloads(data, base, fmt, pid):
        if unit_start and offset > after:
            return offset
    return None
