"""Readers for the EBML Header and the Segment's SeekHead and Info elements.

Each reader takes an element's data (``body``) and the file offset of its
first byte, and returns a small frozen record.
"""

from __future__ import annotations

from dataclasses import dataclass

from torframes.containers.matroska import elements as ids
from torframes.containers.matroska.ebml import (
    MAX_VALUE,
    Buffer,
    children,
    read_float,
    read_string,
    read_uint,
)
from torframes.errors import MalformedContainer, UnsupportedContainer

__all__ = [
    "DOC_TYPES",
    "EbmlHeader",
    "Info",
    "SeekEntry",
    "read_ebml_header",
    "read_info",
    "read_seekhead",
]

#: DocTypes read here (RFC 9559 "Added EBML Constraints"; WebM is Matroska's subset).
DOC_TYPES = ("matroska", "webm")

#: Highest DocTypeReadVersion understood: Matroska version 4 (RFC 9559 §2).
MAX_DOC_TYPE_READ_VERSION = 4


@dataclass(frozen=True, slots=True)
class EbmlHeader:
    """The EBML Header's fields that matter to a reader."""

    doc_type: str
    doc_type_version: int
    doc_type_read_version: int


@dataclass(frozen=True, slots=True)
class SeekEntry:
    """One Seek: a Top-Level Element's ID and its Segment Position (from the Segment's data)."""

    element_id: int
    position: int


@dataclass(frozen=True, slots=True)
class Info:
    """Segment Info: the timestamp scale (ns per Segment Tick) and duration in ticks."""

    timestamp_scale: int = 1_000_000
    duration: float | None = None
    title: str | None = None
    muxing_app: str | None = None
    writing_app: str | None = None


def read_ebml_header(body: Buffer, offset: int) -> EbmlHeader:
    """EBML Header (RFC 8794 §11.2; RFC 9559 "Added EBML Constraints").

    Checks that an EBML reader of version 1 may read the document, that IDs
    are at most 4 octets and sizes at most 8, and that the DocType is
    ``matroska`` or ``webm`` of a version this reader understands.
    """
    read_version, max_id, max_size = 1, 4, 8
    doc_type, version, doc_read_version = "matroska", 1, 1
    for element, data in children(body, offset, "EBML Header"):
        if element.id == ids.EBML_READ_VERSION:
            read_version = read_uint(data, element.data)
        elif element.id == ids.EBML_MAX_ID_LENGTH:
            max_id = read_uint(data, element.data)
        elif element.id == ids.EBML_MAX_SIZE_LENGTH:
            max_size = read_uint(data, element.data)
        elif element.id == ids.DOC_TYPE:
            doc_type = read_string(data)
        elif element.id == ids.DOC_TYPE_VERSION:
            version = read_uint(data, element.data)
        elif element.id == ids.DOC_TYPE_READ_VERSION:
            doc_read_version = read_uint(data, element.data)
    if doc_type not in DOC_TYPES:
        raise UnsupportedContainer(f"unsupported container: EBML document of type {doc_type!r}")
    if read_version != 1:
        raise UnsupportedContainer(f"unsupported EBMLReadVersion {read_version}")
    if not 1 <= max_id <= 4 or not 1 <= max_size <= 8:
        raise MalformedContainer(
            f"EBMLMaxIDLength {max_id} / EBMLMaxSizeLength {max_size} out of range", offset=offset
        )
    if doc_read_version > MAX_DOC_TYPE_READ_VERSION:
        raise UnsupportedContainer(f"unsupported {doc_type} DocTypeReadVersion {doc_read_version}")
    return EbmlHeader(doc_type, version, doc_read_version)


def read_seekhead(body: Buffer, offset: int) -> list[SeekEntry]:
    """SeekHead (RFC 9559 ``\\Segment\\SeekHead``): the Seek entries it lists.

    A Seek missing its SeekID or SeekPosition is skipped, as FFmpeg does.
    """
    entries: list[SeekEntry] = []
    for seek, seek_data in children(body, offset, "SeekHead"):
        if seek.id != ids.SEEK:
            continue
        element_id = position = None
        for element, data in children(seek_data, seek.data, "Seek"):
            if element.id == ids.SEEK_ID:
                if not 1 <= len(data) <= 4:
                    raise MalformedContainer(f"SeekID of {len(data)} octets", offset=element.start)
                element_id = int.from_bytes(data, "big")
            elif element.id == ids.SEEK_POSITION:
                position = read_uint(data, element.data)
        if element_id is not None and position is not None:
            entries.append(SeekEntry(element_id, position))
    return entries


def read_info(body: Buffer, offset: int) -> Info:
    """Info (RFC 9559 ``\\Segment\\Info``): TimestampScale, Duration, title and apps."""
    scale, duration = 1_000_000, None
    title = muxing = writing = None
    for element, data in children(body, offset, "Info"):
        if element.id == ids.TIMESTAMP_SCALE:
            scale = read_uint(data, element.data)
            if scale == 0:
                raise MalformedContainer("TimestampScale is 0", offset=element.start)
        elif element.id == ids.DURATION:
            duration = read_float(data, element.data)
            if not 0 <= duration < MAX_VALUE:
                raise MalformedContainer(f"Duration of {duration} ticks", offset=element.start)
        elif element.id == ids.TITLE:
            title = read_string(data)
        elif element.id == ids.MUXING_APP:
            muxing = read_string(data)
        elif element.id == ids.WRITING_APP:
            writing = read_string(data)
    return Info(scale, duration, title, muxing, writing)
