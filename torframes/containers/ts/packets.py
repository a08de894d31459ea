"""Transport stream packets: the packet format, sync, and one packet's header.

ISO/IEC 13818-1 §2.4.3.2 (transport packet: ``sync_byte`` 0x47,
``transport_error_indicator``, ``payload_unit_start_indicator``, the 13-bit
``PID``, ``adaptation_field_control``, ``continuity_counter``) and §2.4.3.4
(adaptation field: ``random_access_indicator``, ``PCR_flag`` and the PCR).
M2TS (Blu-ray, AVCHD camera ``.mts``) puts a 4-byte ``TP_extra_header`` (a
30-bit arrival time stamp) before every 188-byte packet: 192-byte packets
whose sync byte is at offset 4.
"""

from __future__ import annotations

from dataclasses import dataclass

from torframes.errors import MalformedContainer

__all__ = [
    "M2TS",
    "SYNC_BYTE",
    "TS",
    "PacketFormat",
    "PacketHeader",
    "detect_format",
    "find_sync",
    "read_packet",
]

SYNC_BYTE = 0x47
#: Packets whose sync bytes must line up before a position is taken as a packet start.
SYNC_RUN = 3


@dataclass(frozen=True, slots=True)
class PacketFormat:
    """Packet ``size`` (188 or 192) and where in a packet its sync byte is (``prefix``)."""

    size: int
    prefix: int

    @property
    def name(self) -> str:
        return "m2ts" if self.size == 192 else "mpegts"


TS = PacketFormat(188, 0)
M2TS = PacketFormat(192, 4)


def detect_format(head: bytes | memoryview) -> PacketFormat | None:
    """The packet format whose sync bytes open ``head``: at 0/188/376, or at 4/196/388 (M2TS)."""
    for fmt in (TS, M2TS):
        stops = [fmt.prefix + k * fmt.size for k in range(SYNC_RUN)]
        if stops[-1] < len(head) and all(head[s] == SYNC_BYTE for s in stops):
            return fmt
    return None


def find_sync(data: bytes | memoryview, fmt: PacketFormat, start: int = 0) -> int | None:
    """The first packet start at or after ``start`` in ``data`` (packet start, not sync byte).

    A packet start is where ``SYNC_RUN`` sync bytes follow one another
    ``fmt.size`` apart; near the end of ``data``, as many as fit (at least one).
    """
    size, prefix = fmt.size, fmt.prefix
    raw = data if isinstance(data, bytes) else bytes(data)
    s = raw.find(b"\x47", start + prefix)
    while s != -1 and s - prefix + size <= len(raw):
        run = range(s, min(len(raw), s + SYNC_RUN * size), size)
        if all(raw[r] == SYNC_BYTE for r in run):
            return s - prefix
        s = raw.find(b"\x47", s + 1)
    return None


@dataclass(frozen=True, slots=True)
class PacketHeader:
    """One transport packet's header and adaptation field (§2.4.3.2, §2.4.3.4).

    ``payload`` is the offset of the payload within the packet (from the
    packet start, M2TS prefix included); equal to the packet size when
    there is none. ``pcr`` is the PCR base (90 kHz) when the packet has one.
    """

    pid: int
    unit_start: bool
    error: bool
    random_access: bool
    continuity: int
    payload: int
    pcr: int | None = None


def read_packet(data: bytes | memoryview, at: int, fmt: PacketFormat) -> PacketHeader:
    """The header of the packet starting at ``at`` (its M2TS prefix, if any, included)."""
    b = data[at + fmt.prefix : at + fmt.size]
    if len(b) < 188:
        raise MalformedContainer("transport packet cut short", offset=at)
    if b[0] != SYNC_BYTE:
        raise MalformedContainer(f"lost packet sync: byte {b[0]:#04x} for 0x47", offset=at)
    control = (b[3] >> 4) & 3
    pos, random_access, pcr = 4, False, None
    if control & 2:
        length = b[4]
        if length > (183 if control & 1 else 184):
            raise MalformedContainer(f"adaptation field of {length} bytes", offset=at)
        pos = 5 + length
        if length:
            flags = b[5]
            random_access = bool(flags & 0x40)
            if flags & 0x10 and length >= 7:
                pcr = (b[6] << 25) | (b[7] << 17) | (b[8] << 9) | (b[9] << 1) | (b[10] >> 7)
    return PacketHeader(
        pid=((b[1] & 0x1F) << 8) | b[2],
        unit_start=bool(b[1] & 0x40),
        error=bool(b[1] & 0x80),
        random_access=random_access,
        continuity=b[3] & 0x0F,
        payload=fmt.prefix + pos if control & 1 else fmt.size,
        pcr=pcr,
    )
