"""BEP 52 trees: proofs built here with hashlib, and roots against libtorrent's ``pieces root``."""

from __future__ import annotations

import hashlib
import os
import random

import pytest

from torframes.torrent.wire import merkle
from torframes.torrent.wire.messages import BLOCK_SIZE

BLOCK = BLOCK_SIZE


def tree_layers(data: bytes) -> list[list[bytes]]:
    """The BEP 52 tree of ``data``, leaves first: zero leaves pad to a power of two."""
    leaves = [hashlib.sha256(data[i : i + BLOCK]).digest() for i in range(0, len(data), BLOCK)]
    width = 1
    while width < len(leaves):
        width *= 2
    layers = [leaves + [bytes(32)] * (width - len(leaves))]
    while len(layers[-1]) > 1:
        below = layers[-1]
        layers.append(
            [hashlib.sha256(below[i] + below[i + 1]).digest() for i in range(0, len(below), 2)]
        )
    return layers


def answer(layers: list[list[bytes]], index: int, length: int) -> list[bytes]:
    """What a peer sends for leaves ``index..index+length``: them, then one uncle per layer up."""
    out = layers[0][index : index + length]
    level = length.bit_length() - 1
    position = index // length
    for layer in layers[level:-1]:
        out.append(layer[position ^ 1])
        position //= 2
    return out


@pytest.fixture(scope="module")
def data() -> bytes:
    return random.Random(52).randbytes(37 * BLOCK + 1234)  # 38 blocks: 64 leaves


def test_every_aligned_answer_is_proven_and_a_flipped_bit_is_not(data: bytes) -> None:
    layers = tree_layers(data)
    root, total = layers[-1][0], merkle.num_leaves(len(data))
    assert total == 64
    assert merkle.proof_layers(len(data)) == 5
    for index, length in [(0, 2), (6, 2), (36, 4), (32, 32), (0, 64), (62, 2)]:
        hashes = answer(layers, index, length)
        assert merkle.verify_leaves(root, index, length, hashes, total) == tuple(
            layers[0][index : index + length]
        )
        for spot in range(len(hashes)):
            bad = list(hashes)
            bad[spot] = bytes([bad[spot][0] ^ 1]) + bad[spot][1:]
            with pytest.raises(merkle.HashMismatch):
                merkle.verify_leaves(root, index, length, bad, total)
    with pytest.raises(merkle.HashMismatch):  # one uncle short
        merkle.verify_leaves(root, 6, 2, answer(layers, 6, 2)[:-1], total)


def test_leaf_groups_cover_what_is_asked_with_aligned_subtrees() -> None:
    rng = random.Random(7)
    for _ in range(200):
        total = 1 << rng.randrange(1, 12)
        wanted = {rng.randrange(total) for _ in range(rng.randrange(1, 20))}
        groups = merkle.leaf_groups(wanted, total)
        covered = set()
        for index, length in groups:
            assert 2 <= length <= merkle.MAX_HASHES
            assert length & (length - 1) == 0
            assert index % length == 0
            assert index + length <= total
            assert not covered & set(range(index, index + length))
            # nothing more than the even neighbour of an asked leaf: a seeder in seed
            # mode knows the leaves only of the pieces it has read
            assert {index, index + length - 1} <= {w + d for w in wanted for d in (-1, 0, 1)}
            covered |= set(range(index, index + length))
        assert wanted <= covered
    assert merkle.leaf_groups([5], 64) == [(4, 2)]
    assert merkle.leaf_groups([5, 6], 64) == [(4, 2), (6, 2)]
    assert merkle.leaf_groups([62, 63, 64, 65], 256) == [(62, 2), (64, 2)]
    assert merkle.leaf_groups(range(600), 1024) == [
        (0, 256), (256, 256), (512, 64), (576, 16), (592, 8)
    ]  # fmt: skip


@pytest.mark.parametrize("size", [BLOCK - 1, 5 * BLOCK, 37 * BLOCK + 1234])
def test_the_tree_built_here_has_libtorrents_pieces_root(tmp_path, size: int) -> None:
    """The oracle: libtorrent's ``file_storage.root`` of a v2 torrent of the same bytes."""
    import libtorrent

    data = os.urandom(size)
    (tmp_path / "f.bin").write_bytes(data)
    creator = libtorrent.create_torrent(
        [libtorrent.create_file_entry("f.bin", size)], 4 * BLOCK, libtorrent.create_torrent.v2_only
    )
    libtorrent.set_piece_hashes(creator, str(tmp_path))
    info = libtorrent.torrent_info(creator.generate())
    root = bytes(info.layout().root(0).to_bytes())
    assert tree_layers(data)[-1][0] == root
    assert merkle.subtree_root(tree_layers(data)[0]) == root
    if size <= BLOCK:
        assert merkle.leaf_hash(data) == root  # a one-block file: the root is its leaf
