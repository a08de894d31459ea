"""One test group per box reader, fed hand-made payloads."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from torframes.containers.base import IndexLimits
from torframes.containers.mp4 import parse_moov
from torframes.containers.mp4.boxes import Reader, read_box_header
from torframes.containers.mp4.codecs import codec_name, opus_head, parse_esds
from torframes.containers.mp4.headers import (
    mdhd_language,
    read_elst,
    read_hdlr,
    read_mdhd,
    read_mvhd,
    read_tkhd,
)
from torframes.containers.mp4.sample_entries import read_stsd
from torframes.containers.mp4.sample_tables import (
    read_co64,
    read_ctts,
    read_rap_groups,
    read_stco,
    read_stsc,
    read_stss,
    read_stsz,
    read_stts,
    read_stz2,
)
from torframes.errors import IndexTooLarge, MalformedContainer, TruncatedContainer
from torframes.testing import mp4synth as synth


def payload(box: bytes, base: int = 1000) -> Reader:
    """A reader over the payload of the box ``box`` (as if found at file offset ``base``)."""
    header = read_box_header(box, 0, len(box), base=base)
    return Reader.payload(box, header, base=base)


def test_mvhd_versions():
    assert read_mvhd(payload(synth.mvhd(600, 1234))).timescale == 600
    v1 = synth.full_box(b"mvhd", 1, 0, struct.pack(">QQIQ", 0, 0, 90000, 2**40), bytes(80))
    mvhd = read_mvhd(payload(v1))
    assert (mvhd.timescale, mvhd.duration) == (90000, 2**40)
    with pytest.raises(MalformedContainer, match="version 2"):
        read_mvhd(payload(synth.full_box(b"mvhd", 2, 0, bytes(100))))


def test_tkhd():
    tkhd = read_tkhd(payload(synth.tkhd(7, 1920, 1080, duration=5000)))
    assert (tkhd.track_id, tkhd.width, tkhd.height, tkhd.duration) == (7, 1920, 1080, 5000)
    with pytest.raises(TruncatedContainer, match="'tkhd'"):
        read_tkhd(payload(synth.full_box(b"tkhd", 0, 0, bytes(20))))


def test_mdhd_and_languages():
    mdhd = read_mdhd(payload(synth.mdhd(48000, 96000, "eng")))
    assert (mdhd.timescale, mdhd.duration, mdhd.language) == (48000, 96000, "eng")
    assert mdhd_language(0x55C4) == "und"
    assert mdhd_language(0x7FFF) is None
    assert mdhd_language(0) == "eng"
    assert mdhd_language(1) == "fra"
    assert mdhd_language(0x400) is None  # letters out of range


def test_hdlr():
    assert read_hdlr(payload(synth.hdlr(b"soun"))) == b"soun"


@pytest.mark.parametrize("version", [0, 1])
def test_elst(version):
    elst = read_elst(payload(synth.elst([(500, -1), (2000, 1024)], version)[8:]))
    assert elst.duration.tolist() == [500, 2000]
    assert elst.media_time.tolist() == [-1, 1024]
    assert elst.rate.tolist() == [65536, 65536]


def test_elst_count_larger_than_the_box():
    box = synth.full_box(b"elst", 0, 0, struct.pack(">I", 1000), bytes(24))
    with pytest.raises(MalformedContainer, match="1000 edits"):
        read_elst(payload(box))


def test_stts():
    runs = read_stts(payload(synth.stts([(3, 512), (1, 1024)])))
    assert runs.counts.tolist() == [3, 1]
    assert runs.values.tolist() == [512, 1024]
    assert runs.total == 4


@pytest.mark.parametrize("version", [0, 1])
def test_ctts_is_signed_in_both_versions(version):
    runs = read_ctts(payload(synth.ctts([(2, -512), (1, 1024), (2**31 + 5, 7)], version)))
    assert runs.values.tolist() == [-512, 1024, 7]
    assert runs.counts.tolist() == [2, 1, 2**31 + 5]


def test_stss_and_stps():
    assert read_stss(payload(synth.stss([1, 13, 25]))).tolist() == [1, 13, 25]
    assert len(read_stss(payload(synth.stss([])))) == 0


def test_stsz_constant_and_table():
    table = read_stsz(payload(synth.stsz([5, 6, 7])))
    assert (table.count, table.constant, table.sizes.tolist()) == (3, 0, [5, 6, 7])
    constant = read_stsz(payload(synth.stsz(constant=100, count=2**32 - 1)))
    assert (constant.count, constant.constant, constant.sizes) == (2**32 - 1, 100, None)


def test_stsz_count_larger_than_the_box():
    box = synth.full_box(b"stsz", 0, 0, struct.pack(">II", 0, 2**32 - 1), bytes(8))
    with pytest.raises(MalformedContainer, match="4294967295 sample sizes"):
        read_stsz(payload(box))


@pytest.mark.parametrize(
    ("field", "packed", "sizes"),
    [
        (4, bytes([0x12, 0x3F, 0xA0]), [1, 2, 3, 15, 10]),
        (8, bytes([1, 2, 255]), [1, 2, 255]),
        (16, struct.pack(">3H", 1, 300, 65535), [1, 300, 65535]),
    ],
)
def test_stz2(field, packed, sizes):
    box = synth.full_box(
        b"stz2", 0, 0, bytes(3), bytes([field]), struct.pack(">I", len(sizes)), packed
    )
    table = read_stz2(payload(box))
    assert table.sizes.tolist() == sizes
    assert table.count == len(sizes)


def test_stz2_bad_field_and_count():
    with pytest.raises(MalformedContainer, match="field size 5"):
        read_stz2(payload(synth.full_box(b"stz2", 0, 0, bytes(3), b"\x05", bytes(4))))
    box = synth.full_box(b"stz2", 0, 0, bytes(3), b"\x10", struct.pack(">I", 100), bytes(10))
    with pytest.raises(MalformedContainer, match="100 samples"):
        read_stz2(payload(box))


def test_stsc():
    runs = read_stsc(payload(synth.stsc([(1, 10, 1), (5, 3, 2)])))
    assert runs.first_chunk.tolist() == [1, 5]
    assert runs.samples_per_chunk.tolist() == [10, 3]
    assert runs.description.tolist() == [1, 2]


@pytest.mark.parametrize("runs", [[(0, 1, 1)], [(1, 1, 1), (1, 2, 1)], [(3, 1, 1), (2, 1, 1)]])
def test_stsc_first_chunk_zero_or_not_increasing(runs):
    with pytest.raises(MalformedContainer, match="first_chunk"):
        read_stsc(payload(synth.stsc(runs)))


def test_stco_and_co64():
    assert read_stco(payload(synth.stco([8, 2**32 - 1]))).tolist() == [8, 2**32 - 1]
    assert read_co64(payload(synth.co64([2**40, 2**63 + 1]))).tolist() == [2**40, 2**63 + 1]


def test_rap_sample_groups():
    box = synth.full_box(
        b"sbgp", 0, 0, b"rap ", struct.pack(">I", 2), struct.pack(">4I", 3, 1, 2, 0)
    )
    runs = read_rap_groups(payload(box))
    assert runs.counts.tolist() == [3, 2]
    assert runs.values.tolist() == [1, 0]
    v1 = synth.full_box(
        b"sbgp", 1, 0, b"rap ", bytes(4), struct.pack(">I", 1), struct.pack(">2I", 5, 1)
    )
    assert read_rap_groups(payload(v1)).counts.tolist() == [5]
    other = synth.full_box(b"sbgp", 0, 0, b"roll", struct.pack(">I", 0))
    assert read_rap_groups(payload(other)) is None


# -- sample entries -------------------------------------------------------------


def _stsd(*entries: bytes, handler: bytes = b"vide", version: int = 0):
    box = synth.full_box(b"stsd", version, 0, struct.pack(">I", len(entries)), *entries)
    return read_stsd(payload(box), handler)


def test_visual_entry_with_avcc():
    avcc = b"\x01\x64\x00\x1f\xff\xe1"
    _, (entry,) = _stsd(
        synth.sample_entry(b"avc1", synth.box(b"avcC", avcc), width=1920, height=1080)
    )
    assert (entry.kind, entry.width, entry.height) == ("video", 1920, 1080)
    assert (entry.codec_name, entry.extradata) == ("h264", avcc)


@pytest.mark.parametrize(
    ("code", "config", "name"),
    [(b"hvc1", b"hvcC", "hevc"), (b"av01", b"av1C", "av1"), (b"vp09", b"vpcC", "vp9")],
)
def test_config_box_payload_is_extradata(code, config, name):
    _, (entry,) = _stsd(
        synth.sample_entry(code, synth.box(b"pasp", bytes(8)), synth.box(config, b"cfg!"))
    )
    assert (entry.codec_name, entry.extradata) == (name, b"cfg!")


def _esds(object_type: int, info: bytes) -> bytes:
    dsi = bytes([0x05, len(info)]) + info
    dcd = bytes([0x04, 13 + len(dsi), object_type, 0x15]) + bytes(11) + dsi
    es = bytes([0x03, 3 + len(dcd)]) + b"\x00\x01\x00" + dcd
    return synth.full_box(b"esds", 0, 0, es)


def test_esds_audio_specific_config():
    entry = synth.sample_entry(b"mp4a", _esds(0x40, b"\x11\x90"), audio=True)
    _, (parsed,) = _stsd(entry, handler=b"soun")
    assert (parsed.kind, parsed.channels, parsed.sample_rate) == ("audio", 2, 48000)
    assert (parsed.codec_name, parsed.extradata, parsed.object_type) == ("aac", b"\x11\x90", 0x40)
    mp3 = synth.sample_entry(b"mp4a", _esds(0x6B, b""), audio=True)
    assert _stsd(mp3, handler=b"soun")[1][0].codec_name == "mp3"


def test_parse_esds_edge_cases():
    assert parse_esds(bytes(4)) == (None, None)
    assert parse_esds(bytes(4) + b"\x03\x80\x80\x80\x05\x00\x01\x00") == (None, None)
    assert parse_esds(_esds(0x20, b"VOL")[8:]) == (0x20, b"VOL")


def test_quicktime_sound_v1_with_wave():
    fixed = struct.pack(">HHIHHHHI", 1, 0, 0, 2, 16, 0xFFFE, 0, 44100 << 16)
    v1 = struct.pack(">4I", 1024, 0, 8, 2)
    wave = synth.box(
        b"wave",
        synth.box(b"frma", b"mp4a"),
        synth.box(b"mp4a", bytes(4)),
        _esds(0x40, b"\x12\x10"),
        bytes(8),
    )
    entry = synth.box(b"mp4a", bytes(6), b"\0\1", fixed, v1, wave)
    _, (parsed,) = _stsd(entry, handler=b"soun")
    assert (parsed.sound_version, parsed.samples_per_frame, parsed.bytes_per_frame) == (1, 1024, 8)
    assert (parsed.format, parsed.encrypted, parsed.extradata) == (b"mp4a", False, b"\x12\x10")


def test_quicktime_sound_v2():
    fixed = struct.pack(">HHIHHHHI", 2, 0, 0, 3, 16, 0xFFFE, 0, 1 << 16)
    v2 = struct.pack(">IdIIIIII", 72, 96000.0, 6, 0x7F000000, 24, 0, 0, 1)
    _, (parsed,) = _stsd(synth.box(b"lpcm", bytes(6), b"\0\1", fixed, v2), handler=b"soun")
    assert (parsed.sample_rate, parsed.channels, parsed.sound_version) == (96000.0, 6, 2)


def test_iso_audio_entry_v1_has_no_quicktime_fields():
    fixed = struct.pack(">HHIHHHHI", 1, 0, 0, 2, 16, 0, 0, 48000 << 16)
    entry = synth.box(b"mp4a", bytes(6), b"\0\1", fixed, _esds(0x40, b"\x11\x90"))
    _, (parsed,) = _stsd(entry, handler=b"soun", version=1)
    assert (parsed.samples_per_frame, parsed.extradata) == (0, b"\x11\x90")


def test_encrypted_entry_takes_the_format_from_frma():
    sinf = synth.box(
        b"sinf", synth.box(b"frma", b"avc1"), synth.full_box(b"schm", 0, 0, b"cenc", b"\0\1\0\0")
    )
    entry = synth.sample_entry(b"encv", synth.box(b"avcC", b"cfg"), sinf)
    _, (parsed,) = _stsd(entry)
    assert (parsed.code, parsed.format, parsed.encrypted, parsed.scheme) == (
        b"encv",
        b"avc1",
        True,
        b"cenc",
    )
    assert (parsed.codec_name, parsed.extradata) == ("h264", b"cfg")


def test_opus_head_from_dops():
    dops = struct.pack(">BBHIhB", 0, 2, 312, 48000, -5, 0)
    _, (parsed,) = _stsd(
        synth.sample_entry(b"Opus", synth.box(b"dOps", dops), audio=True), handler=b"soun"
    )
    assert parsed.codec_name == "opus"
    assert parsed.extradata == b"OpusHead\x01\x02" + struct.pack("<HIhB", 312, 48000, -5, 0)
    assert opus_head(b"\x01" + bytes(10)) is None


def test_alac_and_flac_extradata():
    alac = synth.full_box(b"alac", 0, 0, bytes(24))
    _, (parsed,) = _stsd(synth.sample_entry(b"alac", alac, audio=True), handler=b"soun")
    assert parsed.extradata == alac
    info = bytes(range(34))
    dfla = synth.full_box(b"dfLa", 0, 0, bytes([0x80, 0, 0, 34]) + info)
    _, (parsed,) = _stsd(synth.sample_entry(b"fLaC", dfla, audio=True), handler=b"soun")
    assert (parsed.codec_name, parsed.extradata) == ("flac", info)


def test_malformed_children_of_an_entry_are_skipped():
    entry = synth.sample_entry(b"avc1", synth.box(b"avcC", b"ok"), struct.pack(">I4s", 3, b"junk"))
    _, (parsed,) = _stsd(entry)
    assert parsed.extradata == b"ok"


def test_stsd_count_larger_than_the_box():
    box = synth.full_box(b"stsd", 0, 0, struct.pack(">I", 50), synth.sample_entry(b"avc1"))
    with pytest.raises(MalformedContainer, match="50 sample entries"):
        read_stsd(payload(box), b"vide")


def test_unknown_codes_have_no_name():
    assert codec_name(b"xvid") is None
    assert codec_name(b"mp4v", 0x20) == "mpeg4"
    assert codec_name(b"mp4v", 0x99) == "mpeg4"


# -- moov-level checks ---------------------------------------------------------------


def _moov(*traks: bytes) -> bytes:
    return synth.box(b"moov", synth.mvhd(), *traks)


def test_sample_count_cap_is_checked_before_anything_is_expanded():
    tables = [
        synth.stts([(2**32 - 1, 1)]),
        synth.stsz(constant=1, count=2**32 - 1),
        synth.stsc([(1, 1, 1)]),
        synth.stco([0]),
    ]
    moov = _moov(synth.trak(1, tables=tables))
    with pytest.raises(IndexTooLarge, match="4294967295 samples"):
        parse_moov(moov, base=0, file_size=2**40, limits=IndexLimits())


def test_duplicate_tables_and_tracks():
    tables = [synth.stts([]), synth.stts([])]
    with pytest.raises(MalformedContainer, match="second 'stts'"):
        parse_moov(_moov(synth.trak(1, tables=tables)), base=0, file_size=100, limits=IndexLimits())
    with pytest.raises(MalformedContainer, match="two tracks have ID 1"):
        parse_moov(_moov(synth.trak(1), synth.trak(1)), base=0, file_size=100, limits=IndexLimits())


def test_missing_boxes():
    with pytest.raises(MalformedContainer, match="no 'mvhd'"):
        parse_moov(synth.box(b"moov", synth.trak(1)), base=0, file_size=100, limits=IndexLimits())
    no_tkhd = synth.box(b"trak", synth.box(b"mdia"))
    with pytest.raises(MalformedContainer, match="no 'tkhd'"):
        parse_moov(_moov(no_tkhd), base=0, file_size=100, limits=IndexLimits())


def test_compressed_moov_is_inflated():
    import zlib

    inner = _moov(synth.trak(3))
    cmov = synth.box(
        b"cmov",
        synth.box(b"dcom", b"zlib"),
        synth.box(b"cmvd", struct.pack(">I", len(inner)), zlib.compress(inner)),
    )
    movie = parse_moov(synth.box(b"moov", cmov), base=0, file_size=100, limits=IndexLimits())
    assert [t.track_id for t in movie.tracks] == [3]
    assert "compressed" in movie.notes[0]
    bad = synth.box(
        b"cmov", synth.box(b"dcom", b"zlib"), synth.box(b"cmvd", struct.pack(">I", 10), b"nope")
    )
    with pytest.raises(MalformedContainer, match="does not inflate"):
        parse_moov(synth.box(b"moov", bad), base=0, file_size=100, limits=IndexLimits())
    huge = synth.box(
        b"cmov", synth.box(b"dcom", b"zlib"), synth.box(b"cmvd", struct.pack(">I", 2**31))
    )
    with pytest.raises(IndexTooLarge):
        parse_moov(synth.box(b"moov", huge), base=0, file_size=100, limits=IndexLimits())


def test_native_arrays():
    assert read_stts(payload(synth.stts([(1, 2)]))).counts.dtype == np.int64
