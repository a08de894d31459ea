"""The transport stream readers, one by one, on hand-built bytes (ISO/IEC 13818-1 clauses)."""

from __future__ import annotations

import struct

import pytest

from torframes.containers.sniff import sniff
from torframes.containers.ts.codecs import (
    is_keyframe,
    parameter_sets,
    picture_size,
    stream_codec,
)
from torframes.containers.ts.packets import TS, find_sync, read_packet
from torframes.containers.ts.pes import PTS_MODULUS, read_pes_header, unwrap
from torframes.containers.ts.psi import SectionReader, crc32_mpeg, read_pat, read_pmt
from torframes.errors import MalformedContainer, UnsupportedContainer


def crc(section: bytes) -> bytes:
    """``section`` with its CRC_32, computed here bit by bit (Annex A), independently of ours."""
    value = 0xFFFFFFFF
    for byte in section:
        for bit in range(7, -1, -1):
            top = ((value >> 31) & 1) ^ ((byte >> bit) & 1)
            value = (value << 1) & 0xFFFFFFFF
            if top:
                value ^= 0x04C11DB7
    return section + struct.pack(">I", value)


def long_section(table_id: int, extension: int, body: bytes) -> bytes:
    length = 5 + len(body) + 4
    head = bytes([table_id, 0xB0 | (length >> 8), length & 0xFF])
    return crc(head + struct.pack(">HBBB", extension, 0xC1, 0, 0) + body)


def timestamp(prefix: int, value: int) -> bytes:
    return bytes(
        [
            (prefix << 4) | ((value >> 29) & 0x0E) | 1,
            (value >> 22) & 0xFF,
            ((value >> 14) & 0xFE) | 1,
            (value >> 7) & 0xFF,
            ((value << 1) & 0xFE) | 1,
        ]
    )


def test_crc32_check_value_and_sections() -> None:
    assert crc32_mpeg(b"123456789") == 0x0376E6E7  # the CRC-32/MPEG-2 check value
    pat = long_section(0, 1, struct.pack(">HH", 0, 0xE010) + struct.pack(">HH", 1, 0xF000))
    assert crc32_mpeg(pat) == 0
    assert read_pat(pat) == {1: 0x1000}  # program 0 (the NIT) left out
    broken = bytearray(pat)
    broken[9] ^= 1
    with pytest.raises(MalformedContainer, match="CRC_32 mismatch"):
        read_pat(bytes(broken))


def test_pmt_streams_and_their_lengths() -> None:
    es = bytes([0x1B, 0xE1, 0x00, 0xF0, 0x00]) + bytes([0x06, 0xE1, 0x01, 0xF0, 0x06])
    es += bytes([0x05, 0x04]) + b"AC-3"
    pmt = read_pmt(long_section(2, 1, struct.pack(">HH", 0xE100, 0xF000) + es))
    assert pmt.pcr_pid == 0x100
    assert [(s.stream_type, s.pid) for s in pmt.streams] == [(0x1B, 0x100), (0x06, 0x101)]
    assert pmt.streams[1].registration() == b"AC-3"
    assert stream_codec(0x06, pmt.streams[1].registration()) == ("audio", "ac3")


def test_private_streams_and_languages_from_descriptors() -> None:
    descriptors = bytes([0x0A, 0x04]) + b"eng\x00" + bytes([0x7C, 0x01, 0x58])
    es = bytes([0x06, 0xE1, 0x01, 0xF0, len(descriptors)]) + descriptors
    pmt = read_pmt(long_section(2, 1, struct.pack(">HH", 0xE100, 0xF000) + es))
    stream = pmt.streams[0]
    assert stream.language() == "eng"
    assert stream.tags() == [0x0A, 0x7C]
    assert stream_codec(0x06, stream.registration(), stream.tags()) == ("audio", "aac")
    assert stream_codec(0x06, None) == ("data", None)
    with pytest.raises(MalformedContainer, match="ES_info_length"):
        read_pmt(long_section(2, 1, struct.pack(">HH", 0xE100, 0xF000) + es[:-3]))
    with pytest.raises(MalformedContainer, match="program_info_length"):
        read_pmt(long_section(2, 1, struct.pack(">HH", 0xE100, 0xF0FF)))


def test_a_section_spread_over_packets_is_joined() -> None:
    section = long_section(2, 1, struct.pack(">HH", 0xE100, 0xF000) + bytes(200))
    reader = SectionReader(0x1000)
    assert reader.add(b"\x00" + section[:150], True, 0) is None
    assert reader.add(section[150:] + b"\xff" * 20, False, 188) == section


def test_packet_header_adaptation_field_and_pcr() -> None:
    pcr = 0x1_2345_6789
    field = bytes([0x50]) + struct.pack(">IH", pcr >> 1, ((pcr & 1) << 15) | 0x7E00)
    packet = bytes([0x47, 0x41, 0x00, 0x30, len(field)]) + field
    packet += bytes(188 - len(packet))
    header = read_packet(packet, 0, TS)
    assert (header.pid, header.unit_start, header.random_access) == (0x100, True, True)
    assert header.pcr == pcr
    assert header.payload == 5 + len(field)
    with pytest.raises(MalformedContainer, match="adaptation field of 200 bytes"):
        read_packet(packet[:4] + bytes([200]) + packet[5:], 0, TS)
    assert find_sync(b"\x00\x47" + packet * 3, TS) == 2  # a lone 0x47 is not a packet


def test_pes_timestamps_and_the_wrap() -> None:
    pts, dts = PTS_MODULUS - 3000, PTS_MODULUS - 6000
    header = b"\x00\x00\x01\xe0\x00\x00\x80\xc0\x0a" + timestamp(3, pts) + timestamp(1, dts)
    parsed = read_pes_header(header + b"\x00\x00\x00\x01\x09")
    assert parsed is not None
    assert (parsed.stream_id, parsed.pts, parsed.dts, parsed.data) == (0xE0, pts, dts, 19)
    assert unwrap(1500, pts) == PTS_MODULUS + 1500
    assert read_pes_header(header[:12]) is None  # cut short: more bytes needed
    with pytest.raises(MalformedContainer, match="start code"):
        read_pes_header(b"\x00\x00\x02" + header[3:])
    with pytest.raises(MalformedContainer, match="PTS_DTS_flags '01'"):
        read_pes_header(header[:7] + b"\x40" + header[8:])


def test_keyframes_in_the_payload() -> None:
    sps, pps = b"\x00\x00\x00\x01\x67\x64\x00\x1f", b"\x00\x00\x00\x01\x68\xeb"
    idr, slice_ = b"\x00\x00\x01\x65\x88", b"\x00\x00\x01\x41\x9a"
    assert is_keyframe("h264", b"\x00\x00\x00\x01\x09\x10" + sps + pps + idr)
    assert is_keyframe("h264", b"\x00\x00\x00\x01\x09\x30" + slice_) is False
    assert is_keyframe("h264", sps) is None  # no picture yet
    assert parameter_sets("h264", sps + pps + idr) == sps + pps
    cra, trail = b"\x00\x00\x01\x2a\x01", b"\x00\x00\x01\x02\x01"  # types 21 and 1
    assert is_keyframe("hevc", cra)
    assert is_keyframe("hevc", trail) is False
    header = b"\x00\x00\x01\xb3\x14\x00\xf0\x13\xff\xff\xe0\x18"
    i_picture = b"\x00\x00\x01\x00\x00\x0f\xff\xf8"  # picture_coding_type 1
    p_picture = b"\x00\x00\x01\x00\x00\x17\xff\xf8"  # 2
    assert is_keyframe("mpeg2video", header + i_picture)
    assert is_keyframe("mpeg2video", p_picture) is False
    config = parameter_sets("mpeg2video", header + i_picture)
    assert config == header
    assert picture_size("mpeg2video", config) == (320, 240)


def test_sniffing_needs_three_packets_in_step() -> None:
    packet = b"\x47" + bytes(187)
    assert sniff(packet * 3) == "mpegts"
    assert sniff((b"\x00\x00\x00\x00" + packet) * 3) == "mpegts"
    with pytest.raises(UnsupportedContainer, match="unknown container"):
        sniff(packet + b"\x00" * 400)
