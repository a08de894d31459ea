"""Readers for Tracks (RFC 9559 ``\\Segment\\Tracks``) and their TrackEntry children."""

from __future__ import annotations

from dataclasses import dataclass

from torframes.containers.base import IndexLimits
from torframes.containers.matroska import elements as ids
from torframes.containers.matroska.ebml import (
    MAX_VALUE,
    Buffer,
    children,
    read_binary,
    read_float,
    read_string,
    read_uint,
)
from torframes.errors import MalformedContainer

__all__ = [
    "ContentEncoding",
    "TrackEntry",
    "read_audio",
    "read_content_encoding",
    "read_content_encodings",
    "read_track_entry",
    "read_tracks",
    "read_video",
]

#: Nesting depth of the Tracks element: EBML Header and Segment are at 0.
TRACKS_DEPTH = 1

#: Most TrackEntry elements accepted (TrackNumber fits in the table's int32).
MAX_TRACKS = 1024

#: Bounds on values that reach the tables: picture sides, CodecDelay (ns).
_CAPS = {"pixel_width": 1 << 20, "pixel_height": 1 << 20, "codec_delay": MAX_VALUE}


@dataclass(frozen=True, slots=True)
class ContentEncoding:
    """One ContentEncoding: how a track's frames (scope 1) or CodecPrivate (scope 2) are stored.

    ``kind`` is ContentEncodingType (0 compression, 1 encryption);
    ``algorithm`` is ContentCompAlgo (0 zlib, 1 bzlib, 2 lzo1x, 3 header
    stripping) and ``settings`` its ContentCompSettings.
    """

    order: int = 0
    scope: int = 1
    kind: int = 0
    algorithm: int | None = None
    settings: bytes = b""


@dataclass(frozen=True, slots=True)
class TrackEntry:
    """The fields of a TrackEntry this package uses."""

    number: int
    uid: int | None = None
    type: int = 0
    codec_id: str = ""
    codec_private: bytes | None = None
    name: str | None = None
    language: str = "eng"
    default_duration: int | None = None
    codec_delay: int = 0
    flag_enabled: bool = True
    flag_default: bool = True
    track_timestamp_scale: float = 1.0
    pixel_width: int | None = None
    pixel_height: int | None = None
    sampling_frequency: float | None = None
    output_sampling_frequency: float | None = None
    channels: int | None = None
    bit_depth: int | None = None
    encodings: tuple[ContentEncoding, ...] = ()

    @property
    def kind(self) -> str:
        """``video``, ``audio``, ``subtitle``... from TrackType."""
        return ids.TRACK_KINDS.get(self.type, "other")


def _check_depth(depth: int, limits: IndexLimits, what: str, offset: int) -> None:
    if depth > limits.max_depth:
        raise MalformedContainer(
            f"{what} nested deeper than {limits.max_depth} levels", offset=offset
        )


def read_tracks(body: Buffer, offset: int, limits: IndexLimits) -> list[TrackEntry]:
    """Tracks (RFC 9559 ``\\Segment\\Tracks``): every TrackEntry, TrackNumbers unique."""
    _check_depth(TRACKS_DEPTH, limits, "Tracks", offset)
    tracks: list[TrackEntry] = []
    numbers: set[int] = set()
    for element, data in children(body, offset, "Tracks"):
        if element.id != ids.TRACK_ENTRY:
            continue
        if len(tracks) == MAX_TRACKS:
            raise MalformedContainer(f"more than {MAX_TRACKS} tracks", offset=element.start)
        track = read_track_entry(data, element.data, limits, TRACKS_DEPTH + 1)
        if track.number in numbers:
            raise MalformedContainer(f"two tracks numbered {track.number}", offset=element.start)
        numbers.add(track.number)
        tracks.append(track)
    return tracks


def read_track_entry(body: Buffer, offset: int, limits: IndexLimits, depth: int) -> TrackEntry:
    """TrackEntry (RFC 9559 ``\\Segment\\Tracks\\TrackEntry``).

    TrackNumber is mandatory, non-zero and kept below 2^31 (the tables'
    ``track_id`` is int32). LanguageBCP47 wins over Language when both exist.
    """
    _check_depth(depth, limits, "TrackEntry", offset)
    fields: dict[str, object] = {}
    bcp47 = None
    for element, data in children(body, offset, "TrackEntry"):
        eid, at = element.id, element.data
        if eid == ids.TRACK_NUMBER:
            fields["number"] = read_uint(data, at)
        elif eid == ids.TRACK_UID:
            fields["uid"] = read_uint(data, at)
        elif eid == ids.TRACK_TYPE:
            fields["type"] = read_uint(data, at)
        elif eid == ids.CODEC_ID:
            fields["codec_id"] = read_string(data)
        elif eid == ids.CODEC_PRIVATE:
            fields["codec_private"] = read_binary(data)
        elif eid == ids.NAME:
            fields["name"] = read_string(data)
        elif eid == ids.LANGUAGE:
            fields["language"] = read_string(data)
        elif eid == ids.LANGUAGE_BCP47:
            bcp47 = read_string(data)
        elif eid == ids.DEFAULT_DURATION:
            fields["default_duration"] = read_uint(data, at) or None
        elif eid == ids.CODEC_DELAY:
            fields["codec_delay"] = read_uint(data, at)
        elif eid == ids.FLAG_ENABLED:
            fields["flag_enabled"] = bool(read_uint(data, at))
        elif eid == ids.FLAG_DEFAULT:
            fields["flag_default"] = bool(read_uint(data, at))
        elif eid == ids.TRACK_TIMESTAMP_SCALE:
            fields["track_timestamp_scale"] = read_float(data, at)
        elif eid == ids.VIDEO:
            fields.update(read_video(data, at, limits, depth + 1))
        elif eid == ids.AUDIO:
            fields.update(read_audio(data, at, limits, depth + 1))
        elif eid == ids.CONTENT_ENCODINGS:
            fields["encodings"] = read_content_encodings(data, at, limits, depth + 1)
    number = fields.get("number")
    if not isinstance(number, int) or not 0 < number < 2**31:
        raise MalformedContainer(f"TrackEntry with TrackNumber {number}", offset=offset)
    for name, cap in _CAPS.items():
        value = fields.get(name)
        if isinstance(value, int) and value >= cap:
            raise MalformedContainer(f"track {number}: {name} of {value}", offset=offset)
    if bcp47:
        fields["language"] = bcp47
    return TrackEntry(**fields)  # type: ignore[arg-type]


def read_video(body: Buffer, offset: int, limits: IndexLimits, depth: int) -> dict[str, int]:
    """Video (``\\Segment\\Tracks\\TrackEntry\\Video``): PixelWidth and PixelHeight."""
    _check_depth(depth, limits, "Video", offset)
    found: dict[str, int] = {}
    for element, data in children(body, offset, "Video"):
        if element.id == ids.PIXEL_WIDTH:
            found["pixel_width"] = read_uint(data, element.data)
        elif element.id == ids.PIXEL_HEIGHT:
            found["pixel_height"] = read_uint(data, element.data)
    return found


def read_audio(body: Buffer, offset: int, limits: IndexLimits, depth: int) -> dict[str, object]:
    """Audio (``\\Segment\\Tracks\\TrackEntry\\Audio``): sampling rates, channels, bit depth."""
    _check_depth(depth, limits, "Audio", offset)
    found: dict[str, object] = {}
    for element, data in children(body, offset, "Audio"):
        if element.id == ids.SAMPLING_FREQUENCY:
            found["sampling_frequency"] = read_float(data, element.data)
        elif element.id == ids.OUTPUT_SAMPLING_FREQUENCY:
            found["output_sampling_frequency"] = read_float(data, element.data)
        elif element.id == ids.CHANNELS:
            found["channels"] = read_uint(data, element.data)
        elif element.id == ids.BIT_DEPTH:
            found["bit_depth"] = read_uint(data, element.data)
    return found


def read_content_encodings(
    body: Buffer, offset: int, limits: IndexLimits, depth: int
) -> tuple[ContentEncoding, ...]:
    """ContentEncodings (``...\\TrackEntry\\ContentEncodings``), in ContentEncodingOrder."""
    _check_depth(depth, limits, "ContentEncodings", offset)
    found = [
        read_content_encoding(data, element.data, limits, depth + 1)
        for element, data in children(body, offset, "ContentEncodings")
        if element.id == ids.CONTENT_ENCODING
    ]
    return tuple(sorted(found, key=lambda encoding: encoding.order))


def read_content_encoding(
    body: Buffer, offset: int, limits: IndexLimits, depth: int
) -> ContentEncoding:
    """ContentEncoding (``...\\ContentEncodings\\ContentEncoding``) and its ContentCompression."""
    _check_depth(depth, limits, "ContentEncoding", offset)
    order, scope, kind, algorithm, settings = 0, 1, 0, None, b""
    for element, data in children(body, offset, "ContentEncoding"):
        if element.id == ids.CONTENT_ENCODING_ORDER:
            order = read_uint(data, element.data)
        elif element.id == ids.CONTENT_ENCODING_SCOPE:
            scope = read_uint(data, element.data)
        elif element.id == ids.CONTENT_ENCODING_TYPE:
            kind = read_uint(data, element.data)
        elif element.id == ids.CONTENT_COMPRESSION:
            _check_depth(depth + 1, limits, "ContentCompression", element.start)
            algorithm = 0  # ContentCompAlgo's default: zlib
            for child, value in children(data, element.data, "ContentCompression"):
                if child.id == ids.CONTENT_COMP_ALGO:
                    algorithm = read_uint(value, child.data)
                elif child.id == ids.CONTENT_COMP_SETTINGS:
                    settings = read_binary(value)
        elif element.id == ids.CONTENT_ENCRYPTION:
            kind = 1
    return ContentEncoding(order, scope, kind, algorithm, settings)
