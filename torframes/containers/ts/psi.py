"""Program-specific information: the PAT and the PMT, their sections checked by CRC_32.

ISO/IEC 13818-1 §2.4.4: a section starts after the ``pointer_field`` of
the payload of a packet whose ``payload_unit_start_indicator`` is set
(§2.4.4.2) and may continue in later packets of its PID. Both tables are
long-form sections (``section_syntax_indicator`` 1) ending in a CRC_32 over
the whole section (Annex A: polynomial 0x04C11DB7, no reflection, initial
value 0xFFFFFFFF, the CRC of a whole valid section being 0). The Program
Association Table (§2.4.4.3, table_id 0 on PID 0) maps programs to PMT
PIDs; a TS_program_map_section (§2.4.4.8, table_id 2) lists the program's
elementary streams with their ``stream_type`` (Table 2-34).
"""

from __future__ import annotations

from dataclasses import dataclass

from torframes.errors import MalformedContainer

__all__ = [
    "ElementaryStream",
    "ProgramMap",
    "SectionReader",
    "crc32_mpeg",
    "read_pat",
    "read_pmt",
]

#: Largest section_length of a PAT or PMT (§2.4.4.3, §2.4.4.8).
MAX_SECTION = 1021


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32_mpeg(data: bytes | memoryview) -> int:
    """CRC_32 of 13818-1 Annex A over ``data`` (0 over a whole section with its CRC)."""
    crc = 0xFFFFFFFF
    for byte in bytes(data):
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ byte]
    return crc


class SectionReader:
    """Joins the payloads of one PID's packets into its first whole section (§2.4.4.2)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._buffer: bytearray | None = None

    def add(self, payload: bytes | memoryview, unit_start: bool, offset: int) -> bytes | None:
        """Add one packet's payload; the section once complete, else None."""
        if unit_start:
            if not payload:
                raise MalformedContainer("section packet without a pointer_field", offset=offset)
            pointer = payload[0]
            if 1 + pointer > len(payload):
                raise MalformedContainer(f"pointer_field {pointer} past the packet", offset=offset)
            if self._buffer is None:
                self._buffer = bytearray(payload[1 + pointer :])
            else:  # the previous section ends in the bytes before the pointer's target
                self._buffer += payload[1 : 1 + pointer]
        elif self._buffer is not None:
            self._buffer += payload
        if self._buffer is None or len(self._buffer) < 3:
            return None
        length = ((self._buffer[1] & 0x0F) << 8) | self._buffer[2]
        if length > MAX_SECTION:
            raise MalformedContainer(f"section_length {length} over {MAX_SECTION}", offset=offset)
        if len(self._buffer) < 3 + length:
            return None
        return bytes(self._buffer[: 3 + length])


def _long_section(section: bytes, table_id: int, what: str, offset: int) -> bytes:
    """The body of a long-form section (past its 8-byte header, before the CRC), checked."""
    if len(section) < 12 or section[0] != table_id:
        found = section[0] if section else None
        raise MalformedContainer(f"{what}: table_id {found} for {table_id}", offset=offset)
    if not section[1] & 0x80:
        raise MalformedContainer(f"{what}: section_syntax_indicator 0", offset=offset)
    if crc32_mpeg(section):
        raise MalformedContainer(f"{what}: CRC_32 mismatch", offset=offset)
    return section[8:-4]


def read_pat(section: bytes, offset: int = 0) -> dict[int, int]:
    """``{program_number: program_map_PID}`` of a PAT section (§2.4.4.3), the NIT left out."""
    body = _long_section(section, 0x00, "PAT", offset)
    if len(body) % 4:
        raise MalformedContainer(f"PAT loop of {len(body)} bytes", offset=offset)
    programs = {}
    for i in range(0, len(body), 4):
        number = (body[i] << 8) | body[i + 1]
        pid = ((body[i + 2] & 0x1F) << 8) | body[i + 3]
        if number:
            programs.setdefault(number, pid)
    return programs


@dataclass(frozen=True, slots=True)
class ElementaryStream:
    """One entry of a PMT's elementary stream loop: its ``stream_type`` and PID."""

    stream_type: int
    pid: int
    descriptors: bytes = b""

    def descriptor(self, tag: int) -> bytes | None:
        """The body of the first descriptor with ``tag`` in the ES_info loop (§2.6), if any."""
        d, i = self.descriptors, 0
        while i + 2 <= len(d):
            found, length = d[i], d[i + 1]
            if found == tag and i + 2 + length <= len(d):
                return bytes(d[i + 2 : i + 2 + length])
            i += 2 + length
        return None

    def registration(self) -> bytes | None:
        """The format_identifier of a registration_descriptor (tag 5, §2.6.8), if any."""
        body = self.descriptor(5)
        return body[:4] if body is not None and len(body) >= 4 else None

    def tags(self) -> list[int]:
        """The tags of the descriptors in the ES_info loop, in order."""
        d, i, tags = self.descriptors, 0, []
        while i + 2 <= len(d):
            tags.append(d[i])
            i += 2 + d[i + 1]
        return tags

    def language(self) -> str | None:
        """The ISO_639_language_code of an ISO_639_language_descriptor (tag 10, §2.6.18)."""
        body = self.descriptor(10)
        if body is None or len(body) < 3 or not body[:3].isalpha():
            return None
        return body[:3].decode("ascii").lower()


@dataclass(frozen=True, slots=True)
class ProgramMap:
    """A TS_program_map_section: its program, PCR_PID and elementary streams (§2.4.4.8)."""

    program: int
    pcr_pid: int
    streams: tuple[ElementaryStream, ...]


def read_pmt(section: bytes, offset: int = 0) -> ProgramMap:
    """A PMT section's program, PCR_PID and elementary streams, every length checked."""
    body = _long_section(section, 0x02, "PMT", offset)
    if len(body) < 4:
        raise MalformedContainer("PMT shorter than its fixed fields", offset=offset)
    pcr_pid = ((body[0] & 0x1F) << 8) | body[1]
    info_length = ((body[2] & 0x0F) << 8) | body[3]
    pos = 4 + info_length
    if pos > len(body):
        raise MalformedContainer(f"program_info_length {info_length} past the PMT", offset=offset)
    streams = []
    while pos < len(body):
        if pos + 5 > len(body):
            raise MalformedContainer("PMT stream entry cut short", offset=offset)
        stream_type = body[pos]
        pid = ((body[pos + 1] & 0x1F) << 8) | body[pos + 2]
        es_length = ((body[pos + 3] & 0x0F) << 8) | body[pos + 4]
        if pos + 5 + es_length > len(body):
            raise MalformedContainer(f"ES_info_length {es_length} past the PMT", offset=offset)
        streams.append(ElementaryStream(stream_type, pid, body[pos + 5 : pos + 5 + es_length]))
        pos += 5 + es_length
    program = (section[3] << 8) | section[4]
    return ProgramMap(program, pcr_pid, tuple(streams))
