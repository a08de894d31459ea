"""PES packet headers: stream_id, PTS and DTS (ISO/IEC 13818-1 §2.4.3.6, §2.4.3.7).

A PES packet starts at the payload of a transport packet whose
``payload_unit_start_indicator`` is set: ``packet_start_code_prefix``
00 00 01, ``stream_id``, ``PES_packet_length``; for most stream_ids an
optional header follows (``'10'`` marker, ``PTS_DTS_flags``,
``PES_header_data_length``) holding the 33-bit PTS and DTS in 90 kHz ticks.
"""

from __future__ import annotations

from dataclasses import dataclass

from torframes.errors import MalformedContainer

__all__ = ["PTS_MODULUS", "PesHeader", "read_pes_header", "read_timestamp", "unwrap"]

#: PTS and DTS are 33-bit counters of a 90 kHz clock: they wrap after 26.5 hours.
PTS_MODULUS = 1 << 33

#: stream_ids whose PES packets have no optional header (§2.4.3.7, Table 2-22):
#: program_stream_map, padding, private_stream_2, ECM, EMM, DSMCC, H.222.1 type E, directory.
_NO_HEADER = frozenset((0xBC, 0xBE, 0xBF, 0xF0, 0xF1, 0xF2, 0xF8, 0xFF))


@dataclass(frozen=True, slots=True)
class PesHeader:
    """A PES header: ``stream_id``, timestamps (None when absent) and where the data starts."""

    stream_id: int
    pts: int | None
    dts: int | None
    data: int


def read_timestamp(b: bytes | memoryview, offset: int = 0) -> int:
    """A 33-bit PTS or DTS from its five bytes (marker bits between the parts, §2.4.3.7)."""
    return ((b[0] >> 1) & 0x07) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1


def read_pes_header(payload: bytes | memoryview, offset: int = 0) -> PesHeader | None:
    """The PES header opening ``payload``; None if ``payload`` is too short to hold it.

    Raises :class:`MalformedContainer` when the start code is missing or the
    header's fields contradict each other.
    """
    if len(payload) < 6:
        return None
    if payload[0] or payload[1] or payload[2] != 1:
        raise MalformedContainer("PES packet without its start code", offset=offset)
    stream_id = payload[3]
    if stream_id in _NO_HEADER:
        return PesHeader(stream_id, None, None, 6)
    if len(payload) < 9:
        return None
    if payload[6] & 0xC0 != 0x80:
        raise MalformedContainer("PES header without its '10' marker", offset=offset)
    flags = payload[7] >> 6
    length = payload[8]
    if flags == 1:
        raise MalformedContainer("PES header with PTS_DTS_flags '01'", offset=offset)
    needed = {0: 0, 2: 5, 3: 10}[flags]
    if length < needed:
        raise MalformedContainer(
            f"PES_header_data_length {length} holds no {needed}-byte timestamps", offset=offset
        )
    if len(payload) < 9 + length:
        return None
    pts = read_timestamp(payload[9:14]) if flags & 2 else None
    dts = read_timestamp(payload[14:19]) if flags == 3 else pts
    return PesHeader(stream_id, pts, dts, 9 + length)


def unwrap(ts: int, reference: int) -> int:
    """``ts`` (33 bits) as the value nearest ``reference``: counts past a wrap go on counting."""
    return reference + ((ts - reference + PTS_MODULUS // 2) % PTS_MODULUS) - PTS_MODULUS // 2
