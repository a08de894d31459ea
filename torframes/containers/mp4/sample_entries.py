"""Sample descriptions: ``stsd`` and its visual and audio sample entries.

ISO/IEC 14496-12 §8.5.2 (``stsd``), §12.1.3 (VisualSampleEntry), §12.2.3
(AudioSampleEntry), with QuickTime's sound description versions 1 and 2
(Apple, *QuickTime File Format*, "Sound Sample Descriptions"), which FFmpeg
reads when the ``stsd`` is version 0 and the entry version is 1 or 2.

The boxes after an entry's fixed fields carry the decoder configuration:
``avcC``, ``hvcC``, ``av1C``, ``vpcC`` (their payload is FFmpeg's
extradata), ``esds`` (possibly inside QuickTime's ``wave``), ``dOps``,
``alac``, ``dfLa``, ``glbl``, and ``sinf``/``frma`` for encrypted entries
(``encv``/``enca``: the real format is in ``frma``, ISO/IEC 23001-7).
Those child boxes are read leniently: a malformed one ends the scan of
that entry's children instead of failing the file, as FFmpeg's
``mov_read_default`` clamps and moves on.
"""

from __future__ import annotations

from dataclasses import dataclass

from torframes.containers.mp4.boxes import BoxHeader, Reader, read_box_header
from torframes.containers.mp4.codecs import (
    audio_codec,
    codec_name,
    frame_layout,
    opus_head,
    parse_esds,
    pcm_bits,
)
from torframes.errors import ContainerError

__all__ = ["SampleEntry", "read_sample_entry", "read_stsd"]

_CONFIG_BOXES = (b"avcC", b"hvcC", b"av1C", b"vpcC")
_ENCRYPTED = {b"encv", b"enca", b"enct", b"encs", b"drms", b"drmi"}
_NESTED = {b"wave", b"sinf", b"schi"}
_KEPT = {*_CONFIG_BOXES, b"esds", b"dOps", b"alac", b"dfLa", b"glbl", b"frma", b"schm", b"enda"}


@dataclass(frozen=True, slots=True)
class SampleEntry:
    """One sample description: its code, the real format and what decoding needs."""

    code: bytes
    format: bytes
    kind: str
    width: int | None = None
    height: int | None = None
    channels: int | None = None
    sample_rate: float | None = None
    sound_version: int = 0
    bits_per_sample: int = 0
    lpcm_flags: int = 0
    little_endian: bool = False
    samples_per_frame: int = 0
    bytes_per_frame: int = 0
    object_type: int | None = None
    extradata: bytes | None = None
    encrypted: bool = False
    scheme: bytes | None = None

    @property
    def codec_name(self) -> str | None:
        name = codec_name(self.format, self.object_type)
        if self.kind != "audio":
            return name
        return audio_codec(
            name, self.format, self.bits_per_sample, self.lpcm_flags, self.little_endian
        )

    @property
    def frame_layout(self) -> tuple[int, int]:
        """FFmpeg's (samples_per_frame, bytes_per_frame) for chunk-demuxed audio."""
        return frame_layout(
            self.codec_name, self.samples_per_frame, self.bytes_per_frame, self.channels or 0
        )

    @property
    def pcm_sample_size(self) -> int:
        """Bytes per PCM frame FFmpeg derives from the codec (0 when not PCM)."""
        return (pcm_bits(self.codec_name) >> 3) * (self.channels or 0)


def read_stsd(r: Reader, handler: bytes) -> tuple[int, list[SampleEntry]]:
    """Sample description box, §8.5.2: version and the sample entries.

    Each entry is a box of at least 8 bytes, so the entry count is checked
    against 8 bytes per entry before any is read.
    """
    version, _ = r.full_box()
    n = r.count(8, "sample entries")
    entries = []
    for _ in range(n):
        box = read_box_header(r.buf, r.pos, r.end, base=r.base)
        entries.append(read_sample_entry(r.buf, box, handler, version, base=r.base))
        r.pos += box.size
    return version, entries


def read_sample_entry(
    buf: bytes | memoryview, box: BoxHeader, handler: bytes, stsd_version: int, *, base: int
) -> SampleEntry:
    """A sample entry, §12.1.3 (visual) or §12.2.3 (audio), by the track's handler.

    Every entry starts with six reserved bytes and a data reference index.
    Visual entries then hold 70 bytes ending the fixed part (width and
    height at 16 and 18); audio entries 20 bytes (channels, sample size,
    16.16 sample rate), plus 16 (sound version 1) or 36 (version 2).
    """
    r = Reader.payload(buf, box, base=base)
    r.skip(8)
    fields: dict = {}
    kind = {b"vide": "video", b"soun": "audio"}.get(bytes(handler), "other")
    if kind == "video":
        r.skip(16)
        fields.update(width=r.u16(), height=r.u16())
        r.skip(50)
    elif kind == "audio":
        version = r.u16()
        r.skip(6)
        channels, bits = r.u16(), r.u16()
        r.skip(4)
        fields.update(sound_version=version, channels=channels, sample_rate=r.u32() / 65536)
        fields["bits_per_sample"] = bits
        if stsd_version == 0 and version == 1:
            fields["samples_per_frame"] = r.u32()
            r.skip(4)
            fields["bytes_per_frame"] = r.u32()
            r.skip(4)
        elif stsd_version == 0 and version == 2:
            r.skip(4)
            fields.update(sample_rate=r.f64(), channels=r.u32())
            r.skip(4)
            fields.update(bits_per_sample=r.u32(), lpcm_flags=r.u32())
            fields.update(bytes_per_frame=r.u32(), samples_per_frame=r.u32())
    children: dict[bytes, tuple[BoxHeader, bytes]] = {}
    if kind != "other" or box.type in _ENCRYPTED:
        _scan_children(buf, r.pos, r.end, base, children, depth=0)
    return _entry(box.type, kind, fields, children)


def _scan_children(
    buf: bytes | memoryview,
    start: int,
    end: int,
    base: int,
    found: dict[bytes, tuple[BoxHeader, bytes]],
    depth: int,
) -> None:
    pos = start
    while end - pos >= 8:
        try:
            child = read_box_header(buf, pos, end, base=base)
        except ContainerError:
            return
        payload_start = child.payload_start - base
        if child.type in _NESTED and depth < 3:
            _scan_children(buf, payload_start, child.end - base, base, found, depth + 1)
        elif child.type in _KEPT and child.type not in found and (child.type != b"frma" or depth):
            found[child.type] = (child, bytes(buf[payload_start : child.end - base]))
        pos += child.size


def _entry(
    code: bytes, kind: str, fields: dict, children: dict[bytes, tuple[BoxHeader, bytes]]
) -> SampleEntry:
    payloads = {kind_: payload for kind_, (_, payload) in children.items()}
    encrypted = code in _ENCRYPTED
    fmt = code
    scheme = None
    if encrypted:
        if len(payloads.get(b"frma", b"")) >= 4:
            fmt = payloads[b"frma"][:4]
        if len(payloads.get(b"schm", b"")) >= 8:
            scheme = payloads[b"schm"][4:8]
    if len(payloads.get(b"enda", b"")) >= 2:
        fields["little_endian"] = payloads[b"enda"][1] == 1  # FFmpeg: rb16 & 0xFF
    object_type, extradata = None, None
    if b"esds" in payloads:
        object_type, extradata = parse_esds(payloads[b"esds"])
    for config in _CONFIG_BOXES:
        if config in payloads:
            extradata = payloads[config]
            break
    else:
        if b"dOps" in payloads:
            extradata = opus_head(payloads[b"dOps"])
        elif b"alac" in payloads:
            extradata = _whole(*children[b"alac"])
        elif b"dfLa" in payloads and len(payloads[b"dfLa"]) >= 8:
            block = payloads[b"dfLa"][4:]
            extradata = block[4 : 4 + int.from_bytes(block[1:4], "big")] or None
        elif extradata is None and b"glbl" in payloads:
            extradata = payloads[b"glbl"] or None
    return SampleEntry(
        code=bytes(code),
        format=bytes(fmt),
        kind=kind,
        object_type=object_type,
        extradata=extradata,
        encrypted=encrypted,
        scheme=scheme,
        **fields,
    )


def _whole(header: BoxHeader, payload: bytes) -> bytes:
    """A box's bytes with an 8-byte header, as FFmpeg keeps ``alac`` extradata."""
    return (8 + len(payload)).to_bytes(4, "big") + header.type + payload
