"""One reader per chunk, fed bytes packed from the AVI and OpenDML reference structures."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from torframes.containers.avi.hdrl import read_hdrl
from torframes.containers.avi.headers import (
    read_audio_format,
    read_avih,
    read_strh,
    read_video_format,
)
from torframes.containers.avi.indexes import (
    INDEX_OF_CHUNKS,
    INDEX_OF_INDEXES,
    idx1_data_offset,
    read_idx1,
    read_odml_index,
    stream_number,
)
from torframes.containers.avi.riff import iter_chunks, read_chunk
from torframes.containers.sniff import sniff
from torframes.errors import MalformedContainer, TruncatedContainer, UnsupportedContainer


def chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)


def riff_list(form: bytes, data: bytes) -> bytes:
    return b"LIST" + struct.pack("<I", 4 + len(data)) + form + data


def avih(period: int = 41666, streams: int = 1) -> bytes:
    return struct.pack("<10I", period, 0, 0, 0x10, 48, 0, streams, 0, 320, 240) + bytes(16)


def strh(kind: bytes = b"vids", scale: int = 1, rate: int = 24, sample_size: int = 0) -> bytes:
    return struct.pack(
        "<4s4sIHHIIIIIIII", kind, b"XVID", 0, 0, 0, 0, scale, rate, 0, 48, 0, 0, sample_size
    ) + struct.pack("<4h", 0, 0, 320, 240)


def bitmapinfo(
    width: int = 320, height: int = 240, tag: bytes = b"XVID", extra: bytes = b""
) -> bytes:
    return (
        struct.pack("<IiiHH4sIiiII", 40 + len(extra), width, height, 1, 24, tag, 0, 0, 0, 0, 0)
        + extra
    )


# -- RIFF chunks ------------------------------------------------------------------


def test_chunk_headers_lists_and_padding() -> None:
    data = chunk(b"JUNK", b"abc") + riff_list(b"hdrl", chunk(b"avih", b"x" * 4))
    junk, hdrl = list(iter_chunks(data, 0, 0, len(data)))
    assert (junk.fourcc, junk.size, junk.data, junk.stop, junk.end) == (b"JUNK", 3, 8, 11, 12)
    assert (hdrl.fourcc, hdrl.form, hdrl.data, hdrl.end) == (b"LIST", b"hdrl", 24, len(data))
    assert hdrl.name == "hdrl"


def test_chunk_overrunning_its_parent_or_cut_short() -> None:
    data = chunk(b"JUNK", b"abcd")
    with pytest.raises(MalformedContainer, match="overruns"):
        read_chunk(data, 0, 0, 10)
    with pytest.raises(TruncatedContainer):
        read_chunk(data[:6], 0, 0, 100)
    with pytest.raises(MalformedContainer, match="LIST chunk of 2 bytes"):
        read_chunk(b"LIST\x02\x00\x00\x00hd", 0, 0, 100)


# -- hdrl ---------------------------------------------------------------------------


def test_avih() -> None:
    header = read_avih(avih(41666, 2), 24)
    assert (header.micro_sec_per_frame, header.streams, header.width, header.height) == (
        41666, 2, 320, 240,
    )  # fmt: skip
    with pytest.raises(MalformedContainer, match="'avih' of 39 bytes"):
        read_avih(avih()[:39], 24)


def test_strh_accepts_the_short_48_byte_form() -> None:
    header = read_strh(strh(scale=1001, rate=30000)[:48], 100)
    assert (header.type, header.handler, header.scale, header.rate, header.length) == (
        b"vids", b"XVID", 1001, 30000, 48,
    )  # fmt: skip
    with pytest.raises(MalformedContainer):
        read_strh(strh()[:47], 100)


def test_bitmapinfoheader_extradata_and_top_down_height() -> None:
    fmt = read_video_format(bitmapinfo(height=-240, extra=b"\x00\x00\x01\xb0\x01"), 164)
    assert (fmt.width, fmt.height, fmt.compression) == (320, 240, b"XVID")
    assert fmt.extradata == b"\x00\x00\x01\xb0\x01"
    # biSize counting a pad byte the chunk holds: FFmpeg leaves the pad out
    padded = bitmapinfo(extra=b"abc")[:-3] + b"abc\0"
    padded = struct.pack("<I", 43) + padded[4:]
    assert read_video_format(padded, 0).extradata == b"abc"
    with pytest.raises(MalformedContainer, match="picture of"):
        read_video_format(bitmapinfo(width=1 << 20), 0)
    with pytest.raises(MalformedContainer):
        read_video_format(bitmapinfo()[:39], 0)


def test_waveformatex() -> None:
    data = struct.pack("<HHIIHHH", 0x55, 2, 44100, 16000, 1152, 0, 0)
    fmt = read_audio_format(data, 0)
    assert (fmt.format_tag, fmt.channels, fmt.sample_rate, fmt.block_align) == (
        0x55,
        2,
        44100,
        1152,
    )
    assert read_audio_format(data[:14], 0).bits_per_sample == 0  # WAVEFORMAT without wBitsPerSample
    with pytest.raises(MalformedContainer):
        read_audio_format(data[:13], 0)


def test_hdrl_streams_and_zero_rate_replaced_as_ffmpeg_does() -> None:
    video = riff_list(b"strl", chunk(b"strh", strh(scale=0, rate=0)) + chunk(b"strf", bitmapinfo()))
    audio = riff_list(
        b"strl",
        chunk(b"strh", strh(b"auds", 2, 16000, 2))
        + chunk(b"strf", struct.pack("<HHIIHHH", 1, 1, 8000, 16000, 2, 16, 0)),
    )
    body = chunk(b"avih", avih(40000, 2)) + video + audio
    header = read_hdrl(body, 24, 10**6, 1000)
    first, second = header.streams
    assert (first.kind, first.scale, first.rate, first.video.compression) == (
        "video",
        40000,
        1_000_000,
        b"XVID",
    )
    assert (second.kind, second.number, second.audio.block_align) == ("audio", 1, 2)
    with pytest.raises(MalformedContainer, match="no 'strh'"):
        read_hdrl(riff_list(b"strl", chunk(b"strf", bitmapinfo())), 24, 10**6, 1000)


# -- indexes --------------------------------------------------------------------------


def test_stream_numbers_from_chunk_ids() -> None:
    ids = np.frombuffer(b"00dc01wb12txrec ix00", dtype="<u4").astype(np.int64)
    rec = (ord("r") - 48) * 10 + ord("e") - 48
    ix = (ord("i") - 48) * 10 + ord("x") - 48
    assert stream_number(ids).tolist() == [0, 1, 12, rec, ix]


def test_idx1_entries_and_trailing_bytes() -> None:
    data = struct.pack("<4sIII", b"00dc", 0x10, 4, 100) + struct.pack("<4sIII", b"01wb", 0, 112, 8)
    idx1 = read_idx1(data + b"xyz", 0, 10)
    assert idx1.offsets.tolist() == [4, 112]
    assert idx1.sizes.tolist() == [100, 8]
    assert idx1.flags.tolist() == [0x10, 0]
    with pytest.raises(MalformedContainer, match="more than the 1 allowed"):
        read_idx1(data, 0, 1)


@pytest.mark.parametrize(
    ("first_offset", "movi_list", "first_packet", "base"),
    [
        (4, 1000, 1004, 1000),  # relative to 'movi': the usual form
        (1004, 1000, 1004, 0),  # absolute: the first entry is the first chunk
        (1004, 1000, 1600, 0),  # absolute, the entry just past 'movi' and the chunk well after
        (1004, 1000, 1400, 396),  # ... but within 500 bytes: FFmpeg takes the chunk it found
        (0, 1000, None, 0),  # no chunk found in movi: absolute
    ],
)
def test_idx1_relative_or_absolute(first_offset, movi_list, first_packet, base) -> None:
    assert idx1_data_offset(first_offset, movi_list, first_packet) == base


def odml(
    kind: int, chunk_id: bytes, base: int, entries: bytes, count: int, longs: int = 2
) -> bytes:
    return struct.pack("<HBBI4sQI", longs, 0, kind, count, chunk_id, base, 0) + entries


def test_standard_index_keyframe_bit_and_base() -> None:
    entries = struct.pack("<II", 8, 500) + struct.pack("<II", 516, 0x8000_0000 | 20)
    index = read_odml_index(odml(INDEX_OF_CHUNKS, b"00dc", 4096, entries, 2), 0, 10**6, 100)
    assert index.offsets.tolist() == [4104, 4612]
    assert index.sizes.tolist() == [500, 20]
    assert index.keyframes.tolist() == [True, False]
    assert stream_number(index.chunk_id) == 0


def test_super_index_entries() -> None:
    entries = struct.pack("<QII", 70000, 112, 10) + struct.pack("<QII", 900000, 32, 1)
    index = read_odml_index(odml(INDEX_OF_INDEXES, b"01wb", 0, entries, 2, longs=4), 0, 10**6, 100)
    assert index.kind == INDEX_OF_INDEXES
    assert index.offsets.tolist() == [70000, 900000]
    assert index.sizes.tolist() == [112, 32]
    assert index.durations.tolist() == [10, 1]


def test_odml_index_counts_checked_before_reading() -> None:
    entries = struct.pack("<II", 8, 500)
    with pytest.raises(MalformedContainer, match="2 entries in room for 1"):
        read_odml_index(odml(INDEX_OF_CHUNKS, b"00dc", 0, entries, 2), 0, 10**6, 100)
    with pytest.raises(MalformedContainer, match="longs per entry"):
        read_odml_index(odml(INDEX_OF_CHUNKS, b"00dc", 0, entries, 1, longs=3), 0, 10**6, 100)
    with pytest.raises(MalformedContainer, match="type 7"):
        read_odml_index(odml(7, b"00dc", 0, entries, 1), 0, 10**6, 100)
    field_index = struct.pack("<HBBI4sQI", 2, 1, 1, 0, b"00dc", 0, 0)
    with pytest.raises(UnsupportedContainer, match="sub-type 1"):
        read_odml_index(field_index, 0, 10**6, 100)


def test_standard_index_base_with_equal_halves_is_repaired() -> None:
    """FFmpeg's workaround for a muxer that wrote the 32-bit base twice."""
    entries = struct.pack("<II", 8, 500)
    doubled = (4096 << 32) | 4096
    index = read_odml_index(odml(INDEX_OF_CHUNKS, b"00dc", doubled, entries, 1), 0, 10**6, 100)
    assert index.offsets.tolist() == [4104]
    with pytest.raises(MalformedContainer, match="past the file"):
        read_odml_index(odml(INDEX_OF_CHUNKS, b"00dc", 2 * 10**6, entries, 1), 0, 10**6, 100)


def test_sniffing_names_avi_and_still_refuses_other_riff_forms() -> None:
    assert sniff(b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(52)) == "avi"
    assert sniff(b"RIFF\x00\x10\x00\x00AVIXLIST" + bytes(52)) == "avi"
    with pytest.raises(UnsupportedContainer, match="RIFF"):
        sniff(b"RIFF\x00\x10\x00\x00WAVEfmt " + bytes(52))
