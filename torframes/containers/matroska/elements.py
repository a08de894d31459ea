"""Matroska and EBML Element IDs, named as in the specifications.

IDs are kept with their VINT marker bits, as they are written in files and
listed in the schema (RFC 8794 §5; RFC 9559 "Matroska Schema",
``ebml_matroska.xml`` of ietf-wg-cellar/matroska-specification).
Only the elements this package reads or must recognise are listed.
"""

from __future__ import annotations

# EBML Header (RFC 8794 §11.2) and Global Elements (§11.3).
EBML = 0x1A45DFA3
EBML_VERSION = 0x4286
EBML_READ_VERSION = 0x42F7
EBML_MAX_ID_LENGTH = 0x42F2
EBML_MAX_SIZE_LENGTH = 0x42F3
DOC_TYPE = 0x4282
DOC_TYPE_VERSION = 0x4287
DOC_TYPE_READ_VERSION = 0x4285
VOID = 0xEC
CRC32 = 0xBF

# Root and Top-Level Elements (RFC 9559 "Data Layout").
SEGMENT = 0x18538067
SEEK_HEAD = 0x114D9B74
INFO = 0x1549A966
TRACKS = 0x1654AE6B
CLUSTER = 0x1F43B675
CUES = 0x1C53BB6B
ATTACHMENTS = 0x1941A469
CHAPTERS = 0x1043A770
TAGS = 0x1254C367

# \Segment\SeekHead
SEEK = 0x4DBB
SEEK_ID = 0x53AB
SEEK_POSITION = 0x53AC

# \Segment\Info
TIMESTAMP_SCALE = 0x2AD7B1
DURATION = 0x4489
TITLE = 0x7BA9
MUXING_APP = 0x4D80
WRITING_APP = 0x5741

# \Segment\Cluster
TIMESTAMP = 0xE7
SIMPLE_BLOCK = 0xA3
BLOCK_GROUP = 0xA0
BLOCK = 0xA1
BLOCK_DURATION = 0x9B
REFERENCE_BLOCK = 0xFB

# \Segment\Tracks\TrackEntry
TRACK_ENTRY = 0xAE
TRACK_NUMBER = 0xD7
TRACK_UID = 0x73C5
TRACK_TYPE = 0x83
FLAG_ENABLED = 0xB9
FLAG_DEFAULT = 0x88
DEFAULT_DURATION = 0x23E383
TRACK_TIMESTAMP_SCALE = 0x23314F
NAME = 0x536E
LANGUAGE = 0x22B59C
LANGUAGE_BCP47 = 0x22B59D
CODEC_ID = 0x86
CODEC_PRIVATE = 0x63A2
CODEC_DELAY = 0x56AA
VIDEO = 0xE0
PIXEL_WIDTH = 0xB0
PIXEL_HEIGHT = 0xBA
AUDIO = 0xE1
SAMPLING_FREQUENCY = 0xB5
OUTPUT_SAMPLING_FREQUENCY = 0x78B5
CHANNELS = 0x9F
BIT_DEPTH = 0x6264
CONTENT_ENCODINGS = 0x6D80
CONTENT_ENCODING = 0x6240
CONTENT_ENCODING_ORDER = 0x5031
CONTENT_ENCODING_SCOPE = 0x5032
CONTENT_ENCODING_TYPE = 0x5033
CONTENT_COMPRESSION = 0x5034
CONTENT_COMP_ALGO = 0x4254
CONTENT_COMP_SETTINGS = 0x4255
CONTENT_ENCRYPTION = 0x5035

# \Segment\Cues
CUE_POINT = 0xBB
CUE_TIME = 0xB3
CUE_TRACK_POSITIONS = 0xB7
CUE_TRACK = 0xF7
CUE_CLUSTER_POSITION = 0xF1
CUE_RELATIVE_POSITION = 0xF0
CUE_DURATION = 0xB2
CUE_BLOCK_NUMBER = 0x5378

#: TrackType values (RFC 9559 "TrackType") -> the tracks table's ``kind``.
TRACK_KINDS: dict[int, str] = {
    1: "video",
    2: "audio",
    3: "complex",
    0x10: "logo",
    0x11: "subtitle",
    0x12: "buttons",
    0x20: "control",
    0x21: "metadata",
}

#: Names of the Top-Level Elements, for layouts and messages.
TOP_LEVEL_NAMES: dict[int, str] = {
    SEEK_HEAD: "SeekHead",
    INFO: "Info",
    TRACKS: "Tracks",
    CLUSTER: "Cluster",
    CUES: "Cues",
    ATTACHMENTS: "Attachments",
    CHAPTERS: "Chapters",
    TAGS: "Tags",
    VOID: "Void",
    CRC32: "CRC-32",
}

#: IDs that end a Cluster of unknown size (RFC 8794 §6.2: an element that
#: is not a valid child of the unknown-size element ends it).
ENDS_CLUSTER = frozenset(
    {SEEK_HEAD, INFO, TRACKS, CLUSTER, CUES, ATTACHMENTS, CHAPTERS, TAGS, EBML, SEGMENT}
)


def name_of(element_id: int) -> str:
    """A readable name for an Element ID: the spec's name if known, else its hex."""
    return TOP_LEVEL_NAMES.get(element_id) or _OTHER_NAMES.get(element_id) or f"0x{element_id:X}"


_OTHER_NAMES: dict[int, str] = {
    EBML: "EBML",
    SEGMENT: "Segment",
    SIMPLE_BLOCK: "SimpleBlock",
    BLOCK_GROUP: "BlockGroup",
    BLOCK: "Block",
    TIMESTAMP: "Timestamp",
    TRACK_ENTRY: "TrackEntry",
    CUE_POINT: "CuePoint",
    CUE_TRACK_POSITIONS: "CueTrackPositions",
    SEEK: "Seek",
}
