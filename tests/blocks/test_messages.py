"""Peer wire messages (BEP 3, 6, 10, 52) against bytes laid out by hand from the specs."""

from __future__ import annotations

import struct

import pytest

from torframes.torrent.wire import messages as m
from torframes.torrent.wire.messages import WireError

ROOT = bytes(range(32))


def frame(message_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", 1 + len(payload)) + bytes([message_id]) + payload


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        (m.KeepAlive(), b"\0\0\0\0"),
        (m.Choke(), frame(0)),
        (m.Unchoke(), frame(1)),
        (m.Interested(), frame(2)),
        (m.NotInterested(), frame(3)),
        (m.Have(7), frame(4, b"\0\0\0\x07")),
        (m.Bitfield(b"\xa0"), frame(5, b"\xa0")),
        (m.Request(1, 16384, 16384), frame(6, struct.pack(">III", 1, 16384, 16384))),
        (m.Piece(2, 0, b"xyz"), frame(7, struct.pack(">II", 2, 0) + b"xyz")),
        (m.Cancel(1, 0, 5), frame(8, struct.pack(">III", 1, 0, 5))),
        (m.Port(6881), frame(9, b"\x1a\xe1")),
        (m.Suggest(3), frame(13, b"\0\0\0\x03")),
        (m.HaveAll(), frame(14)),
        (m.HaveNone(), frame(15)),
        (m.Reject(1, 0, 5), frame(16, struct.pack(">III", 1, 0, 5))),
        (m.AllowedFast(9), frame(17, b"\0\0\0\x09")),
        (m.Extended(0, b"de"), frame(20, b"\0de")),
        (m.HashRequest(ROOT, 0, 4, 2, 3), frame(21, ROOT + struct.pack(">IIII", 0, 4, 2, 3))),
        (m.HashReject(ROOT, 0, 4, 2, 3), frame(23, ROOT + struct.pack(">IIII", 0, 4, 2, 3))),
        (
            m.Hashes(ROOT, 0, 4, 2, 3, (b"a" * 32, b"b" * 32)),
            frame(22, ROOT + struct.pack(">IIII", 0, 4, 2, 3) + b"a" * 32 + b"b" * 32),
        ),
    ],
)
def test_encode_and_decode_agree_with_the_spec_layout(message: m.Message, wire: bytes) -> None:
    assert m.encode(message) == wire
    length = m.check_length(wire[:4], m.max_message_size(8))
    assert length == len(wire) - 4
    assert m.decode(wire[4:]) == message


def test_handshake_layout_and_reserved_bits() -> None:
    ours = m.Handshake.ours(b"\x11" * 32, b"-TF0100-" + b"\0" * 12, v2=True)
    wire = ours.encode()
    assert len(wire) == m.HANDSHAKE_SIZE
    assert wire[:20] == b"\x13BitTorrent protocol"
    assert wire[28:48] == b"\x11" * 20  # BEP 52: the v2 infohash truncated to 20 bytes
    assert wire[25] & 0x10  # BEP 10
    assert wire[27] & 0x04  # BEP 6
    assert wire[27] & 0x10  # BEP 52
    theirs = m.Handshake.decode(wire)
    assert (theirs.extended, theirs.fast, theirs.v2) == (True, True, True)
    with pytest.raises(WireError):
        m.Handshake.decode(b"\x13BitTorrent protocoX" + wire[20:])


def test_a_hostile_length_is_refused_before_anything_is_read() -> None:
    limit = m.max_message_size(num_pieces=100)
    assert limit == 1 + 8 + m.BLOCK_SIZE  # a block and its header: nothing larger is read
    with pytest.raises(WireError, match="more than"):
        m.check_length(struct.pack(">I", limit + 1), limit)
    with pytest.raises(WireError, match="more than"):
        m.check_length(b"\xff\xff\xff\xff", limit)


@pytest.mark.parametrize(
    "body",
    [
        bytes([4]) + b"\0\0\0",  # have: 3 bytes, not 4
        bytes([6]) + bytes(11),  # request: 11 bytes, not 12
        bytes([7]) + bytes(7),  # piece without its header
        bytes([7]) + bytes(8 + m.BLOCK_SIZE + 1),  # piece longer than a block
        bytes([0]) + b"x",  # choke with a payload
        bytes([20]),  # extended without its id
        bytes([22]) + ROOT + bytes(16) + bytes(31),  # hashes not a multiple of 32
        bytes([22]) + ROOT + bytes(16) + bytes(32 * (m.MAX_HASHES + m.MAX_PROOF + 1)),
    ],
)
def test_malformed_messages_raise_wire_errors(body: bytes) -> None:
    with pytest.raises(WireError):
        m.decode(body)


def test_unknown_ids_are_ignored_and_bitfields_read_msb_first() -> None:
    assert m.decode(bytes([99]) + b"abc") == m.Unknown(99, 3)
    bits = m.Bitfield(b"\x80\x01")
    assert [p for p in range(16) if bits.has(p)] == [0, 15]
    assert not bits.has(400)
