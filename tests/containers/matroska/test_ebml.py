"""EBML primitives and per-element readers, on byte strings."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from torframes.containers.base import IndexLimits
from torframes.containers.matroska import ebml
from torframes.containers.matroska.blocks import read_block_header
from torframes.containers.matroska.codecs import codec_name, decoder_config
from torframes.containers.matroska.cues import read_cues
from torframes.containers.matroska.segment import read_ebml_header, read_info, read_seekhead
from torframes.containers.matroska.tracks import read_tracks
from torframes.errors import (
    IndexTooLarge,
    MalformedContainer,
    TruncatedContainer,
    UnsupportedContainer,
)


@pytest.mark.parametrize("length", range(1, 9))
def test_vint_of_every_length(length: int) -> None:
    value = (1 << (7 * length)) - 2  # the largest value of that length that is not "unknown"
    encoded = ((1 << (7 * length)) | value).to_bytes(length, "big")
    assert ebml.read_vint(b"\xaa" + encoded, 1) == (value, length)
    assert ebml.read_size(encoded, 0) == (value, length)
    assert ebml.read_vint(encoded + b"\xff", 0) == (value, length)


@pytest.mark.parametrize("length", range(1, 9))
def test_unknown_size_at_every_length(length: int) -> None:
    encoded = ((1 << (7 * length + 1)) - 1).to_bytes(length, "big")
    assert ebml.read_size(encoded, 0) == (None, length)


def test_vint_longer_than_eight_octets() -> None:
    with pytest.raises(MalformedContainer, match="longer than 8"):
        ebml.read_vint(b"\x00\x01", 0)


@pytest.mark.parametrize("data", [b"", b"\x40", b"\x20\x00", b"\x01" + b"\x00" * 6])
def test_truncated_vint(data: bytes) -> None:
    with pytest.raises(TruncatedContainer):
        ebml.read_vint(data, 0)


def test_ids_keep_their_marker_and_stop_at_four_octets() -> None:
    assert ebml.read_id(b"\x1a\x45\xdf\xa3", 0) == (0x1A45DFA3, 4)
    assert ebml.read_id(b"\xa3", 0) == (0xA3, 1)
    assert ebml.read_id(b"\x80", 0) == (0x80, 1)  # legal since RFC 9559
    with pytest.raises(MalformedContainer, match="longer than 4"):
        ebml.read_id(b"\x08\x00\x00\x00\x01", 0)
    with pytest.raises(MalformedContainer, match="reserved"):
        ebml.read_id(b"\xff", 0)
    with pytest.raises(TruncatedContainer):
        ebml.read_id(b"\x1a\x45", 0)


def test_element_header_and_children(mkv) -> None:
    body = mkv.uint(0xD7, 1) + mkv.el(0xEC, b"\0" * 3) + mkv.text(0x86, "V_VP9")
    element = ebml.read_element(mkv.el(0xAE, body), 0, base=100)
    assert (element.id, element.start, element.header, element.size) == (0xAE, 100, 2, len(body))
    assert (element.data, element.end) == (102, 102 + len(body))
    found = [(e.id, bytes(d)) for e, d in ebml.children(body, 0, "TrackEntry")]
    assert found == [(0xD7, b"\x01"), (0xEC, b"\0\0\0"), (0x86, b"V_VP9")]


def test_children_refuse_overruns_and_unknown_sizes(mkv) -> None:
    lying = b"\xd7\x85\x01"  # claims 5 bytes, holds 1
    with pytest.raises(MalformedContainer, match="overruns"):
        list(ebml.children(lying, 0, "TrackEntry"))
    with pytest.raises(MalformedContainer, match="unknown size"):
        list(ebml.children(mkv.unknown(0xE0, b""), 0, "TrackEntry"))
    with pytest.raises(TruncatedContainer):
        list(ebml.children(b"\x63", 0, "TrackEntry"))


def test_typed_values() -> None:
    assert ebml.read_uint(b"") == 0
    assert ebml.read_uint(b"\x01\x00") == 256
    assert ebml.read_sint(b"\xff\xfe") == -2
    assert ebml.read_float(struct.pack(">f", 1.5)) == 1.5
    assert ebml.read_float(struct.pack(">d", 2.25)) == 2.25
    assert ebml.read_string(b"eng\x00\x00") == "eng"
    assert ebml.read_string(b"\xff\xfeok") == "\ufffd\ufffdok"
    with pytest.raises(MalformedContainer):
        ebml.read_uint(b"\x01" * 9)
    with pytest.raises(MalformedContainer):
        ebml.read_float(b"\x00\x00\x00")
    with pytest.raises(MalformedContainer, match="finite"):
        ebml.read_float(struct.pack(">d", float("nan")))


def test_peek_doctype(mkv) -> None:
    assert ebml.peek_doctype(mkv.ebml_header("webm")) == "webm"
    assert ebml.peek_doctype(mkv.ebml_header("matroska")[:20]) is None
    assert ebml.peek_doctype(b"\x1a\x45\xdf\xa3\x00") is None
    assert ebml.peek_doctype(b"garbage") is None


def test_ebml_header(mkv) -> None:
    body = mkv.ebml_header("webm")[5:]
    assert read_ebml_header(body, 5).doc_type == "webm"
    with pytest.raises(UnsupportedContainer, match="'mka3d'"):
        read_ebml_header(mkv.text(0x4282, "mka3d"), 5)
    with pytest.raises(UnsupportedContainer, match="DocTypeReadVersion"):
        read_ebml_header(mkv.text(0x4282, "matroska") + mkv.uint(0x4285, 9), 5)
    with pytest.raises(UnsupportedContainer, match="EBMLReadVersion"):
        read_ebml_header(mkv.uint(0x42F7, 2), 5)
    with pytest.raises(MalformedContainer, match="EBMLMaxIDLength"):
        read_ebml_header(mkv.uint(0x42F2, 9), 5)


def test_seekhead_and_info(mkv) -> None:
    seek = mkv.el(0x4DBB, mkv.el(0x53AB, b"\x1c\x53\xbb\x6b"), mkv.uint(0x53AC, 4000))
    partial = mkv.el(0x4DBB, mkv.uint(0x53AC, 9))  # no SeekID: skipped
    entries = read_seekhead(seek + partial + mkv.el(0xBF, b"\0" * 4), 0)
    assert [(e.element_id, e.position) for e in entries] == [(0x1C53BB6B, 4000)]
    with pytest.raises(MalformedContainer, match="SeekID"):
        read_seekhead(mkv.el(0x4DBB, mkv.el(0x53AB, b"12345"), mkv.uint(0x53AC, 1)), 0)
    info = read_info(mkv.uint(0x2AD7B1, 100_000) + mkv.fl(0x4489, 250.0) + mkv.text(0x7BA9, "t"), 0)
    assert (info.timestamp_scale, info.duration, info.title) == (100_000, 250.0, "t")
    assert read_info(b"", 0).timestamp_scale == 1_000_000
    with pytest.raises(MalformedContainer, match="TimestampScale is 0"):
        read_info(mkv.el(0x2AD7B1, b""), 0)


def test_tracks(mkv) -> None:
    body = mkv.track_entry(1, "V_MPEG4/ISO/AVC", private=b"\x01avcC") + mkv.track_entry(
        2, "A_OPUS", kind=2, extra=mkv.text(0x22B59C, "fre") + mkv.text(0x22B59D, "fr-CA")
    )
    video, audio = read_tracks(body, 0, IndexLimits())
    assert (video.number, video.kind, video.codec_id, video.codec_private) == (
        1,
        "video",
        "V_MPEG4/ISO/AVC",
        b"\x01avcC",
    )
    assert (video.pixel_width, video.pixel_height, video.language) == (128, 64, "eng")
    assert (audio.kind, audio.channels, audio.language, audio.sampling_frequency) == (
        "audio",
        1,
        "fr-CA",
        48000.0,
    )
    with pytest.raises(MalformedContainer, match="two tracks numbered 1"):
        read_tracks(mkv.track_entry(1, "V_VP9") * 2, 0, IndexLimits())
    with pytest.raises(MalformedContainer, match="TrackNumber"):
        read_tracks(mkv.el(0xAE, mkv.text(0x86, "V_VP9")), 0, IndexLimits())
    with pytest.raises(MalformedContainer, match="nested deeper"):
        read_tracks(body, 0, IndexLimits(max_depth=2))


def test_cues(mkv) -> None:
    def point(time: int, *positions: bytes) -> bytes:
        return mkv.el(0xBB, mkv.uint(0xB3, time), *positions)

    def where(track: int, cluster: int, *extra: bytes) -> bytes:
        return mkv.el(0xB7, mkv.uint(0xF7, track), mkv.uint(0xF1, cluster), *extra)

    body = point(0, where(1, 10, mkv.uint(0xF0, 7), mkv.uint(0x5378, 2))) + point(
        500, where(1, 900), where(2, 905, mkv.uint(0xB2, 40))
    )
    cues = read_cues(body, 0, IndexLimits())
    assert cues.time.tolist() == [0, 500, 500]
    assert cues.track.tolist() == [1, 1, 2]
    assert cues.cluster.tolist() == [10, 900, 905]
    assert cues.relative.tolist() == [7, -1, -1]
    assert cues.duration.tolist() == [-1, -1, 40]
    assert cues.block.tolist() == [2, -1, -1]
    assert cues.time.dtype == np.int64
    with pytest.raises(IndexTooLarge):
        read_cues(body, 0, IndexLimits(max_samples=2))
    with pytest.raises(MalformedContainer, match="without CueTime"):
        read_cues(mkv.el(0xBB, where(1, 1)), 0, IndexLimits())
    with pytest.raises(MalformedContainer, match="CueClusterPosition"):
        read_cues(point(1, mkv.el(0xB7, mkv.uint(0xF7, 1))), 0, IndexLimits())
    with pytest.raises(MalformedContainer, match="without any CuePoint"):
        read_cues(mkv.el(0xEC, b"\0"), 0, IndexLimits())


@pytest.mark.parametrize(
    ("flags", "lacing_header", "body_tail", "sizes"),
    [
        (0x80, b"", b"x" * 10, (10,)),
        (0x82, b"\x02" + b"\xff\x05" + b"\x03", b"a" * 260 + b"b" * 3 + b"c" * 4, (260, 3, 4)),
        (0x84, b"\x02", b"z" * 12, (4, 4, 4)),
        (0x86, b"\x02" + b"\x85" + b"\xc0", b"p" * 5 + b"q" * 6 + b"r" * 2, (5, 6, 2)),
        (0x06, b"\x00", b"s" * 9, (9,)),
    ],
    ids=["none", "xiph", "fixed", "ebml", "ebml-one-frame"],
)
def test_block_lacing(
    flags: int, lacing_header: bytes, body_tail: bytes, sizes: tuple[int, ...]
) -> None:
    body = b"\x81\x00\x10" + bytes([flags]) + lacing_header + body_tail
    header = read_block_header(body, len(body), 0, simple=True)
    assert (header.track, header.timecode) == (1, 16)
    assert header.keyframe is bool(flags & 0x80)
    assert header.frame_sizes == sizes
    assert header.header_size == 4 + len(lacing_header)
    assert (
        read_block_header(body[: header.header_size], len(body), 0, simple=False).keyframe is None
    )


def test_block_header_edge_cases() -> None:
    with pytest.raises(TruncatedContainer):
        read_block_header(b"\x81\x00", 100, 0, simple=True)
    with pytest.raises(TruncatedContainer):
        read_block_header(b"\x81\x00\x00\x02\x03\xff", 1000, 0, simple=True)  # Xiph sizes cut
    with pytest.raises(MalformedContainer, match="fixed-size"):
        read_block_header(b"\x81\x00\x00\x04\x02" + b"x" * 10, 15, 0, simple=True)
    with pytest.raises(MalformedContainer, match="overrun"):
        read_block_header(b"\x81\x00\x00\x02\x01\x50" + b"x" * 4, 10, 0, simple=True)
    with pytest.raises(MalformedContainer, match="negative"):
        read_block_header(b"\x81\x00\x00\x06\x02\x85\x80" + b"x" * 20, 27, 0, simple=True)
    with pytest.raises(MalformedContainer, match="shorter than its header"):
        read_block_header(b"\x81\x00\x00\x80", 2, 0, simple=True)


def test_codec_ids_and_decoder_configs(mkv) -> None:
    assert codec_name("V_MPEGH/ISO/HEVC") == "hevc"
    assert codec_name("V_MPEG4/ISO/ASP") == "mpeg4"
    assert codec_name("A_AAC/MPEG4/LC/SBR") == "aac"
    assert codec_name("V_NOPE") is None

    def config(entry: bytes):
        (track,) = read_tracks(entry, 0, IndexLimits())
        return decoder_config(track)

    bih = struct.pack("<IiiHH4sIiiII", 40, 640, -480, 1, 24, b"XVID", 0, 0, 0, 0, 0)
    vfw, _ = config(mkv.track_entry(1, "V_MS/VFW/FOURCC", private=bih + b"VOL!", extra=b""))
    assert (vfw.codec_name, vfw.extradata) == ("mpeg4", b"VOL!")
    vp9, _ = config(mkv.track_entry(1, "V_VP9", private=b"\x01\x01\x00"))
    assert (vp9.codec_name, vp9.extradata) == ("vp9", None)  # as FFmpeg: not exported
    stripped, _ = config(
        mkv.track_entry(1, "V_MPEG4/ISO/ASP", extra=mkv.header_stripping(b"\0\0\1\xb6"))
    )
    assert stripped.sample_prefix == b"\0\0\1\xb6"
    aac, _ = config(mkv.track_entry(2, "A_AAC/MPEG4/LC", kind=2))
    assert aac.extradata == bytes([0x11, 0x88])  # LC, 48 kHz, mono
    zlib_frames = mkv.el(0x6D80, mkv.el(0x6240, mkv.el(0x5034, mkv.uint(0x4254, 0))))
    compressed, notes = config(mkv.track_entry(1, "V_VP8", extra=zlib_frames))
    assert compressed.codec_name is None
    assert "ContentCompAlgo 0" in notes[0]
    unknown, notes = config(mkv.track_entry(1, "V_NOPE"))
    assert unknown.codec_name is None
    assert "no FFmpeg decoder" in notes[0]
