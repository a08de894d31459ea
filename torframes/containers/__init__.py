"""Container indexes: parsers that turn byte ranges into track and sample tables.

Each container has its own subpackage (``mp4``, ``matroska``, ``avi``); ``sniff``
picks one from the first bytes; ``local`` drives a parser over a file on
disk. Parsers do no I/O.
"""

from torframes.containers.base import (
    ByteRange,
    ContainerIndex,
    DecoderConfig,
    IndexLimits,
    IndexParser,
    Need,
)
from torframes.containers.local import LocalIndex, index_file
from torframes.containers.sniff import AutoIndexParser, sniff

__all__ = [
    "AutoIndexParser",
    "ByteRange",
    "ContainerIndex",
    "DecoderConfig",
    "IndexLimits",
    "IndexParser",
    "LocalIndex",
    "Need",
    "index_file",
    "sniff",
]
