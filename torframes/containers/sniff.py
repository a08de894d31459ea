"""Container sniffing: pick the index parser from a file's first bytes.

MP4/MOV is recognised by a known top-level box type in bytes 4..8
(ISO/IEC 14496-12 §4.2: every file is a sequence of boxes); Matroska and
WebM by the EBML magic ``1A 45 DF A3`` (RFC 8794 §8) and told apart by the
EBML Header's DocType when the first bytes hold it (an EBML document of
another DocType is unsupported); AVI by a ``RIFF`` chunk of form ``AVI `` or
``AVIX`` (Microsoft AVI RIFF File Reference; OpenDML 1.02); an MPEG
transport stream by its sync bytes 0x47 at 0, 188 and 376, or at 4, 196
and 388 for M2TS (ISO/IEC 13818-1 §2.4.3.2), which takes the first
``TS_SNIFF_BYTES`` (more than the others). Other common
containers are named in the :class:`UnsupportedContainer` error so a user
learns what the file is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torframes.containers.avi import AviIndexParser
from torframes.containers.base import (
    ByteRange,
    ByteStore,
    ContainerIndex,
    IndexLimits,
    IndexParser,
    Need,
)
from torframes.containers.matroska import MatroskaIndexParser
from torframes.containers.mp4 import Mp4IndexParser
from torframes.containers.ts import TsIndexParser
from torframes.containers.ts.packets import detect_format
from torframes.errors import TruncatedContainer, UnsupportedContainer

__all__ = ["SNIFF_BYTES", "TS_SNIFF_BYTES", "AutoIndexParser", "sniff"]

#: How many leading bytes sniffing looks at.
SNIFF_BYTES = 64
#: How many leading bytes a file opening with a sync byte (0x47 at 0 or 4) is sniffed on:
#: three M2TS packets' sync bytes.
TS_SNIFF_BYTES = 392

#: Box types that may open an ISO base media file (14496-12 §4.2 and Annex).
_MP4_FIRST_BOXES = {
    b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"uuid",
    b"styp", b"sidx", b"moof", b"junk", b"pnot", b"PICT", b"meta",
}  # fmt: skip

_EBML_MAGIC = b"\x1a\x45\xdf\xa3"

_OTHER_CONTAINERS: tuple[tuple[int, bytes, str], ...] = (
    (0, b"RIFF", "RIFF (not AVI: WAV, WebP...)"),
    (0, b"FLV", "Flash Video (FLV)"),
    (0, b"OggS", "Ogg"),
    (0, b"\x00\x00\x01\xba", "MPEG program stream"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "ASF/WMV"),
    (0, b"\x2e\x52\x4d\x46", "RealMedia"),
    (0, b"ID3", "MP3 audio"),
    (0, b"fLaC", "FLAC audio"),
    (0, b"PK\x03\x04", "a ZIP archive"),
    (0, b"Rar!", "a RAR archive"),
    (0, b"7z\xbc\xaf", "a 7-Zip archive"),
    (0, b"%PDF", "a PDF document"),
    (0, b"GIF8", "a GIF image"),
)


def sniff(head: bytes | memoryview) -> str:
    """Name the container of a file from its first bytes.

    ``"mp4"``, ``"matroska"``, ``"webm"``, ``"avi"`` or ``"mpegts"`` (M2TS
    too). A head that opens with a sync byte is a transport stream only
    when it holds three packets' sync bytes (:data:`TS_SNIFF_BYTES`).

    Raises :class:`UnsupportedContainer` naming what was found otherwise.
    """
    head = bytes(head[:TS_SNIFF_BYTES])
    if head.startswith(_EBML_MAGIC):
        from torframes.containers.matroska.ebml import peek_doctype

        doc_type = peek_doctype(head)
        if doc_type is None or doc_type in ("matroska", "webm"):
            return doc_type or "matroska"
        raise UnsupportedContainer(f"unsupported container: EBML document of type {doc_type!r}")
    if len(head) >= 8 and head[4:8] in _MP4_FIRST_BOXES:
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "avi"
    for offset, magic, name in _OTHER_CONTAINERS:
        if head[offset : offset + len(magic)] == magic:
            raise UnsupportedContainer(f"unsupported container: {name}")
    if detect_format(head) is not None:
        return "mpegts"
    raise UnsupportedContainer(f"unknown container: first bytes {head[:16].hex(' ')}")


def _might_be_ts(head: bytes | memoryview) -> bool:
    """A sync byte where a TS or M2TS packet's first would be: sniff on more bytes."""
    return (head[:1] == b"\x47" and head[:4] != b"GIF8") or head[4:5] == b"\x47"


class AutoIndexParser(IndexParser):
    """An index parser that sniffs the container, then hands over to its parser.

    ``options`` gives keyword arguments to one container's parser, by the
    name :func:`sniff` answers (``{"mpegts": {"search_reads": 16}}``).
    """

    def __init__(
        self,
        file_size: int,
        limits: IndexLimits | None = None,
        *,
        options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(file_size, limits)
        self._options = dict(options or {})
        self._early = ByteStore(file_size, self.limits.max_buffer_bytes)
        self._inner: IndexParser | None = None

    @property
    def inner(self) -> IndexParser | None:
        """The container's own parser, once sniffed."""
        return self._inner

    def feed(self, offset: int, data: bytes | memoryview) -> None:
        """Before sniffing, keep what fits ``max_buffer_bytes``, else only the signature bytes."""
        if self._inner is not None:
            self._inner.feed(offset, data)
            return
        if self._early.held + len(data) > self._early.max_bytes:
            data = memoryview(data)[: max(0, TS_SNIFF_BYTES - offset)]
        self._early.add(offset, data)

    def step(self) -> Need | ContainerIndex:
        if self._inner is None:
            wanted = min(SNIFF_BYTES, self.file_size)
            if wanted < 8:
                raise TruncatedContainer(f"a {self.file_size}-byte file holds no container")
            head = self._early.get(0, wanted)
            if head is None:
                return Need((ByteRange(0, wanted),), "container signature")
            try:
                container = sniff(head)
            except UnsupportedContainer:
                longer = min(TS_SNIFF_BYTES, self.file_size)
                if not _might_be_ts(head) or longer <= wanted:
                    raise
                head = self._early.get(0, longer)
                if head is None:
                    return Need((ByteRange(wanted, longer),), "transport stream packet sync")
                container = sniff(head)
            options = self._options.get(container, {})
            self._inner = _parser_class(container)(self.file_size, self.limits, **options)
            for start, chunk in self._early.spans():
                self._inner.feed(start, chunk)
            self._early = ByteStore(self.file_size, 0)
        return self._inner.step()


def _parser_class(container: str) -> type[IndexParser]:
    if container == "mp4":
        return Mp4IndexParser
    if container == "avi":
        return AviIndexParser
    if container == "mpegts":
        return TsIndexParser
    return MatroskaIndexParser  # "matroska" and "webm"
