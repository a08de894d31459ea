"""Peer wire messages: encode and decode, every length checked before anything is read.

Implements the framing of BEP 3 (the 68-byte handshake, then messages as a
4-byte big-endian length, a 1-byte id and a payload), the fast extension's
messages (BEP 6: ``suggest``, ``have all``, ``have none``, ``reject``,
``allowed fast``), the extension protocol's envelope (BEP 10, id 20) and
BEP 52's ``hash request``/``hashes``/``hash reject`` (ids 21-23). A v2
torrent's handshake carries its SHA-256 infohash truncated to 20 bytes
(BEP 52, "Upgrade path").

Decoding never trusts a length: :func:`check_length` bounds a message
before its body is read (a block plus its header, or the bitfield of the
torrent at hand), and each decoder checks the payload against the size its
message must have. Anything else raises :class:`WireError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from torframes.errors import TorrentError

__all__ = [
    "BLOCK_SIZE",
    "HANDSHAKE_SIZE",
    "MAX_HASHES",
    "AllowedFast",
    "Bitfield",
    "Cancel",
    "Choke",
    "Extended",
    "Handshake",
    "HashReject",
    "HashRequest",
    "Hashes",
    "Have",
    "HaveAll",
    "HaveNone",
    "Interested",
    "KeepAlive",
    "Message",
    "MessageId",
    "NotInterested",
    "Piece",
    "Port",
    "Reject",
    "Request",
    "Suggest",
    "Unchoke",
    "Unknown",
    "WireError",
    "check_length",
    "decode",
    "encode",
    "max_message_size",
]

#: Bytes per request (BEP 3 block; BEP 52 leaf).
BLOCK_SIZE = 16 * 1024
#: ``\x13BitTorrent protocol``, 8 reserved bytes, 20-byte infohash, 20-byte peer id.
HANDSHAKE_SIZE = 68
PROTOCOL = b"\x13BitTorrent protocol"
#: Most hashes asked in one ``hash request`` (base layer plus uncles stay under a block).
MAX_HASHES = 256
#: Most uncle hashes a ``hashes`` message may add: one per layer of a 2^32-leaf tree.
MAX_PROOF = 32

_HASH_HEADER = struct.Struct(">32sIIII")  # pieces root, base layer, index, length, proof layers


class WireError(TorrentError):
    """A peer broke the wire protocol: a bad length, an unknown handshake, a malformed message."""


class MessageId(IntEnum):
    """Message ids: BEP 3 (0-9), BEP 6 (13-17), BEP 10 (20), BEP 52 (21-23)."""

    CHOKE = 0
    UNCHOKE = 1
    INTERESTED = 2
    NOT_INTERESTED = 3
    HAVE = 4
    BITFIELD = 5
    REQUEST = 6
    PIECE = 7
    CANCEL = 8
    PORT = 9
    SUGGEST = 13
    HAVE_ALL = 14
    HAVE_NONE = 15
    REJECT = 16
    ALLOWED_FAST = 17
    EXTENDED = 20
    HASH_REQUEST = 21
    HASHES = 22
    HASH_REJECT = 23


@dataclass(frozen=True, slots=True)
class Handshake:
    """BEP 3 handshake; ``reserved`` bits say which extensions the sender speaks."""

    info_hash: bytes
    peer_id: bytes
    reserved: bytes = bytes(8)

    @classmethod
    def ours(cls, info_hash: bytes, peer_id: bytes, *, v2: bool = False) -> Handshake:
        """Our handshake: BEP 10 (reserved bit 20), BEP 6 (bit 62), BEP 52 when ``v2`` (bit 59)."""
        reserved = bytearray(8)
        reserved[5] |= 0x10  # BEP 10 extension protocol
        reserved[7] |= 0x04  # BEP 6 fast extension
        if v2:
            reserved[7] |= 0x10  # BEP 52: the peer speaks v2
        return cls(info_hash[:20], peer_id, bytes(reserved))

    @property
    def extended(self) -> bool:
        return bool(self.reserved[5] & 0x10)

    @property
    def fast(self) -> bool:
        return bool(self.reserved[7] & 0x04)

    @property
    def v2(self) -> bool:
        return bool(self.reserved[7] & 0x10)

    def encode(self) -> bytes:
        if len(self.info_hash) != 20 or len(self.peer_id) != 20 or len(self.reserved) != 8:
            raise ValueError("a handshake has a 20-byte infohash and peer id, 8 reserved bytes")
        return PROTOCOL + self.reserved + self.info_hash + self.peer_id

    @classmethod
    def decode(cls, data: bytes) -> Handshake:
        if len(data) != HANDSHAKE_SIZE or not data.startswith(PROTOCOL):
            raise WireError("the peer's handshake is not BitTorrent's (BEP 3)")
        return cls(info_hash=data[28:48], peer_id=data[48:68], reserved=data[20:28])


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """A zero-length message."""


@dataclass(frozen=True, slots=True)
class Choke:
    pass


@dataclass(frozen=True, slots=True)
class Unchoke:
    pass


@dataclass(frozen=True, slots=True)
class Interested:
    pass


@dataclass(frozen=True, slots=True)
class NotInterested:
    pass


@dataclass(frozen=True, slots=True)
class HaveAll:
    pass


@dataclass(frozen=True, slots=True)
class HaveNone:
    pass


@dataclass(frozen=True, slots=True)
class Have:
    piece: int


@dataclass(frozen=True, slots=True)
class Suggest:
    piece: int


@dataclass(frozen=True, slots=True)
class AllowedFast:
    piece: int


@dataclass(frozen=True, slots=True)
class Bitfield:
    """Pieces the sender has, most significant bit of the first byte is piece 0."""

    bits: bytes

    def has(self, piece: int) -> bool:
        byte = piece >> 3
        return byte < len(self.bits) and bool(self.bits[byte] & (0x80 >> (piece & 7)))


@dataclass(frozen=True, slots=True)
class Request:
    piece: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True)
class Cancel:
    piece: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True)
class Reject:
    piece: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True)
class Piece:
    piece: int
    begin: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Port:
    port: int


@dataclass(frozen=True, slots=True)
class Extended:
    """BEP 10: ``ext_id`` 0 is the extension handshake; ``payload`` is bencoded."""

    ext_id: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class HashRequest:
    """BEP 52: ``length`` hashes of layer ``base`` (0: leaves) from ``index``, plus uncles."""

    pieces_root: bytes
    base: int
    index: int
    length: int
    proof_layers: int


@dataclass(frozen=True, slots=True)
class HashReject:
    pieces_root: bytes
    base: int
    index: int
    length: int
    proof_layers: int


@dataclass(frozen=True, slots=True)
class Hashes:
    """BEP 52: the hashes asked for, then the uncle hashes, lowest layer first."""

    pieces_root: bytes
    base: int
    index: int
    length: int
    proof_layers: int
    hashes: tuple[bytes, ...]

    @property
    def request(self) -> HashRequest:
        return HashRequest(self.pieces_root, self.base, self.index, self.length, self.proof_layers)


@dataclass(frozen=True, slots=True)
class Unknown:
    """A message id we do not speak; ignored (BEP 3 asks peers to ignore unknown ids)."""

    message_id: int
    size: int


Message = (
    KeepAlive | Choke | Unchoke | Interested | NotInterested | Have | Bitfield | Request | Piece
    | Cancel | Port | Suggest | HaveAll | HaveNone | Reject | AllowedFast | Extended
    | HashRequest | Hashes | HashReject | Unknown
)  # fmt: skip

_EMPTY = {
    Choke: MessageId.CHOKE,
    Unchoke: MessageId.UNCHOKE,
    Interested: MessageId.INTERESTED,
    NotInterested: MessageId.NOT_INTERESTED,
    HaveAll: MessageId.HAVE_ALL,
    HaveNone: MessageId.HAVE_NONE,
}
_ONE_INT = {Have: MessageId.HAVE, Suggest: MessageId.SUGGEST, AllowedFast: MessageId.ALLOWED_FAST}
_THREE_INTS = {Request: MessageId.REQUEST, Cancel: MessageId.CANCEL, Reject: MessageId.REJECT}
_HASH_HEADS = {HashRequest: MessageId.HASH_REQUEST, HashReject: MessageId.HASH_REJECT}


def _frame(message_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">IB", len(payload) + 1, message_id) + payload


def encode(message: Message) -> bytes:
    """The bytes of ``message`` on the wire, length prefix included."""
    kind = type(message)
    if isinstance(message, KeepAlive):
        return bytes(4)
    if kind in _EMPTY:
        return _frame(_EMPTY[kind])
    if isinstance(message, (Have, Suggest, AllowedFast)):
        return _frame(_ONE_INT[kind], struct.pack(">I", message.piece))
    if isinstance(message, (Request, Cancel, Reject)):
        payload = struct.pack(">III", message.piece, message.begin, message.length)
        return _frame(_THREE_INTS[kind], payload)
    if isinstance(message, Bitfield):
        return _frame(MessageId.BITFIELD, message.bits)
    if isinstance(message, Piece):
        return _frame(
            MessageId.PIECE, struct.pack(">II", message.piece, message.begin) + message.data
        )
    if isinstance(message, Port):
        return _frame(MessageId.PORT, struct.pack(">H", message.port))
    if isinstance(message, Extended):
        return _frame(MessageId.EXTENDED, bytes([message.ext_id]) + message.payload)
    if isinstance(message, (HashRequest, HashReject)):
        return _frame(_HASH_HEADS[kind], _hash_header(message))
    if isinstance(message, Hashes):
        return _frame(MessageId.HASHES, _hash_header(message) + b"".join(message.hashes))
    raise TypeError(f"not a peer wire message: {message!r}")


def _hash_header(message: HashRequest | HashReject | Hashes) -> bytes:
    if len(message.pieces_root) != 32:
        raise ValueError("a pieces root is 32 bytes")
    return _HASH_HEADER.pack(
        message.pieces_root, message.base, message.index, message.length, message.proof_layers
    )


def max_message_size(num_pieces: int) -> int:
    """The longest message body we accept: a block with its header, or this torrent's bitfield.

    A BEP 10 message must fit too: we advertise no extension, so only the
    peer's extension handshake (a few hundred bytes) comes our way.
    """
    return max(1 + 8 + BLOCK_SIZE, 1 + -(-num_pieces // 8))


def check_length(prefix: bytes, limit: int) -> int:
    """The body length a 4-byte prefix announces; :class:`WireError` above ``limit``."""
    if len(prefix) != 4:
        raise WireError("a message length is 4 bytes")
    (length,) = struct.unpack(">I", prefix)
    if length > limit:
        raise WireError(f"the peer announced a {length}-byte message, more than {limit}")
    return length


def decode(body: bytes) -> Message:
    """One message from its body (the bytes after the length prefix)."""
    if not body:
        return KeepAlive()
    message_id, payload = body[0], body[1:]
    size = len(payload)
    try:
        kind = MessageId(message_id)
    except ValueError:
        return Unknown(message_id, size)
    for cls, known in _EMPTY.items():
        if known is kind:
            _expect(kind, size, 0)
            return cls()
    for cls, known in _ONE_INT.items():
        if known is kind:
            _expect(kind, size, 4)
            return cls(*struct.unpack(">I", payload))
    for cls, known in _THREE_INTS.items():
        if known is kind:
            _expect(kind, size, 12)
            return cls(*struct.unpack(">III", payload))
    if kind is MessageId.BITFIELD:
        return Bitfield(bytes(payload))
    if kind is MessageId.PIECE:
        if not 8 <= size <= 8 + BLOCK_SIZE:
            raise WireError(f"a piece message of {size} bytes (8 + at most {BLOCK_SIZE})")
        piece, begin = struct.unpack(">II", payload[:8])
        return Piece(piece, begin, bytes(payload[8:]))
    if kind is MessageId.PORT:
        _expect(kind, size, 2)
        return Port(*struct.unpack(">H", payload))
    if kind is MessageId.EXTENDED:
        if size < 1:
            raise WireError("an extended message without its extension id (BEP 10)")
        return Extended(payload[0], bytes(payload[1:]))
    if kind in (MessageId.HASH_REQUEST, MessageId.HASH_REJECT):
        _expect(kind, size, _HASH_HEADER.size)
        head = _HASH_HEADER.unpack(payload)
        return HashRequest(*head) if kind is MessageId.HASH_REQUEST else HashReject(*head)
    # MessageId.HASHES
    body_size = size - _HASH_HEADER.size
    if body_size < 0 or body_size % 32 or body_size // 32 > MAX_HASHES + MAX_PROOF:
        raise WireError(f"a hashes message of {size} bytes (BEP 52)")
    head = _HASH_HEADER.unpack(payload[: _HASH_HEADER.size])
    rest = payload[_HASH_HEADER.size :]
    hashes = tuple(bytes(rest[i : i + 32]) for i in range(0, body_size, 32))
    return Hashes(*head, hashes=hashes)


def _expect(kind: MessageId, size: int, wanted: int) -> None:
    if size != wanted:
        raise WireError(f"a {kind.name.lower()} message of {size} bytes, not {wanted}")
