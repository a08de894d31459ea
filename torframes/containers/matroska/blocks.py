"""Reader for the header of a SimpleBlock or Block (RFC 9559 "Block Structure",
"SimpleBlock Structure" and "Block Lacing").

A block's data is: the track number (a VINT), a signed 16-bit timestamp
relative to the Cluster's, one octet of flags, then, when laced, the frame
count minus one and the frame sizes, then the frames. FFmpeg's
``packet.pos`` is the offset of the track number; the frame payload starts
``header_size`` bytes later.
"""

from __future__ import annotations

from dataclasses import dataclass

from torframes.containers.matroska.ebml import Buffer, read_vint, read_vsint
from torframes.errors import MalformedContainer, TruncatedContainer

__all__ = ["BlockHeader", "read_block_header"]

#: Lacing kinds, from bits 1-2 of the flags.
NO_LACING, XIPH, FIXED, EBML_LACING = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """What a block's header says.

    ``keyframe`` is the SimpleBlock's keyframe flag, or None for a Block
    (inside a BlockGroup the keyframe is told by the absence of
    ReferenceBlock). ``header_size`` is the number of octets before the
    first frame; ``frame_sizes`` the sizes of the frames (one unless laced).
    """

    track: int
    timecode: int
    flags: int
    keyframe: bool | None
    lacing: int
    header_size: int
    frame_sizes: tuple[int, ...]


def read_block_header(data: Buffer, body_size: int, offset: int, *, simple: bool) -> BlockHeader:
    """The header of a block whose data is ``body_size`` octets; ``data`` holds at least its header.

    ``data`` may be a prefix of the block's data (the frames need not be
    held): a :class:`TruncatedContainer` then means "hold more bytes".
    Frame sizes are checked against ``body_size`` before they are kept.
    """
    track, pos = read_vint(data, 0, offset)
    if pos + 3 > len(data):
        raise TruncatedContainer("block header cut off", offset=offset)
    if pos + 3 > body_size:
        raise MalformedContainer("block shorter than its header", offset=offset)
    timecode = int.from_bytes(data[pos : pos + 2], "big", signed=True)
    flags = data[pos + 2]
    pos += 3
    lacing = (flags >> 1) & 3
    keyframe = bool(flags & 0x80) if simple else None
    if lacing == NO_LACING:
        return BlockHeader(track, timecode, flags, keyframe, lacing, pos, (body_size - pos,))
    if pos >= len(data):
        raise TruncatedContainer("lacing header cut off", offset=offset + pos)
    count = data[pos] + 1
    pos += 1
    sizes: list[int] = []
    if lacing == XIPH:
        for _ in range(count - 1):
            size = 0
            while True:
                if pos >= len(data):
                    raise TruncatedContainer("Xiph lace sizes cut off", offset=offset + pos)
                octet = data[pos]
                pos += 1
                size += octet
                if octet != 255:
                    break
                if size > body_size:
                    raise MalformedContainer("Xiph lace size past the block", offset=offset)
            sizes.append(size)
    elif lacing == EBML_LACING and count > 1:
        size, length = read_vint(data, pos, offset)
        pos += length
        sizes.append(size)
        for _ in range(count - 2):
            delta, length = read_vsint(data, pos, offset)
            pos += length
            size += delta
            if size < 0:
                raise MalformedContainer("negative EBML lace size", offset=offset + pos)
            sizes.append(size)
    elif lacing == FIXED:
        remaining = body_size - pos
        if remaining < 0 or remaining % count:
            raise MalformedContainer(
                f"{remaining} bytes do not split into {count} fixed-size frames", offset=offset
            )
        return BlockHeader(
            track, timecode, flags, keyframe, lacing, pos, (remaining // count,) * count
        )
    last = body_size - pos - sum(sizes)
    if last < 0:
        raise MalformedContainer("laced frames overrun their block", offset=offset)
    sizes.append(last)
    return BlockHeader(track, timecode, flags, keyframe, lacing, pos, tuple(sizes))
