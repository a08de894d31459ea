"""BEP 52 merkle trees: verify 16 KiB blocks against a file's ``pieces root``.

BEP 52 ("File tree", "Piece layers"): each file has a binary SHA-256 tree
whose leaves are the hashes of its 16 KiB blocks (the last block may be
short and is hashed as it is). The leaf layer is padded with zero hashes
up to a power of two; each inner node is ``sha256(left + right)``; the
root is the file's ``pieces root``. A ``hashes`` message answers a
``hash request`` with ``length`` hashes of a layer starting at ``index``,
followed by one uncle hash per layer from the top of that subtree up to
the root, lowest first (libtorrent ``merkle_tree::get_hashes``).

Nothing here does I/O: :func:`leaf_groups` says what to ask, and
:func:`verify_leaves` checks an answer before any of its hashes is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from torframes.torrent.wire.messages import BLOCK_SIZE, MAX_HASHES, WireError

__all__ = [
    "ZERO_HASH",
    "HashMismatch",
    "leaf_groups",
    "leaf_hash",
    "num_leaves",
    "proof_layers",
    "subtree_root",
    "verify_leaves",
]

#: A leaf past the end of the file (BEP 52: "set to zero").
ZERO_HASH = bytes(32)


class HashMismatch(WireError):
    """Hashes or a block from a peer do not lead to the file's ``pieces root``."""


def leaf_hash(block: bytes) -> bytes:
    """The leaf of one block: SHA-256 of its bytes (a file's last block is not padded)."""
    return hashlib.sha256(block).digest()


def num_leaves(file_size: int) -> int:
    """Leaves of a file's tree: its block count rounded up to a power of two (at least 1)."""
    blocks = max(1, -(-file_size // BLOCK_SIZE))
    return 1 << (blocks - 1).bit_length()


def proof_layers(file_size: int) -> int:
    """The ``proof layers`` of a hash request for leaves whose proof reaches the root.

    Counted as libtorrent counts them (``merkle_tree::get_hashes``): one per
    layer walked up from the base layer, the first walk landing on the
    parent of the base; the uncles come from the layers above the requested
    subtree. A tree of ``2**d`` leaves takes ``d - 1``, the most
    ``validate_hash_request`` allows.
    """
    return max(0, num_leaves(file_size).bit_length() - 2)


def subtree_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a perfect subtree over ``hashes`` (a power of two of them)."""
    layer = list(hashes)
    if not layer or len(layer) & (len(layer) - 1):
        raise ValueError(f"a subtree has a power of two of leaves, not {len(layer)}")
    while len(layer) > 1:
        layer = [hashlib.sha256(layer[i] + layer[i + 1]).digest() for i in range(0, len(layer), 2)]
    return layer[0]


def leaf_groups(leaves: Iterable[int], total_leaves: int) -> list[tuple[int, int]]:
    """``(index, length)`` hash requests covering ``leaves``: aligned power-of-two subtrees.

    Each run of consecutive leaves is cut into the largest aligned subtrees
    that fit inside it (a request's ``index`` is a multiple of its
    ``length``), of at least two leaves (a lone leaf's sibling is not among
    the uncles) and at most :data:`MAX_HASHES`. A subtree never reaches far
    beyond the run: a seeder may know the leaves only of pieces it has read.
    """
    if total_leaves < 2:
        raise ValueError("a tree of one leaf needs no hash request: its root is the leaf")
    runs: list[tuple[int, int]] = []
    for leaf in sorted(set(leaves)):
        if not 0 <= leaf < total_leaves:
            raise ValueError(f"leaf {leaf} is not in 0..{total_leaves - 1}")
        if runs and runs[-1][1] == leaf:
            runs[-1] = (runs[-1][0], leaf + 1)
        else:
            runs.append((leaf, leaf + 1))
    groups: list[tuple[int, int]] = []
    for first, end in runs:
        at = first
        while at < end:
            index, size = at - at % 2, 2
            while size < MAX_HASHES and index % (size * 2) == 0 and index + size * 2 <= end:
                size *= 2
            if not groups or groups[-1][0] + groups[-1][1] <= index:
                groups.append((index, size))
            at = index + size
    return groups


def verify_leaves(
    pieces_root: bytes, index: int, length: int, hashes: Sequence[bytes], total_leaves: int
) -> tuple[bytes, ...]:
    """Check a ``hashes`` answer (leaves ``index..index+length``, then uncles) against the root.

    Returns the ``length`` leaf hashes, proven. Raises :class:`HashMismatch`
    when the count is wrong or the path does not end at ``pieces_root``.
    """
    if length < 1 or length & (length - 1) or index % length:
        raise ValueError(f"a hash request is an aligned power of two, not {length} at {index}")
    uncles = (total_leaves.bit_length() - 1) - (length.bit_length() - 1)
    if len(hashes) != length + uncles:
        raise HashMismatch(f"{len(hashes)} hashes for {length} leaves and {uncles} uncles (BEP 52)")
    leaves = tuple(hashes[:length])
    node = subtree_root(leaves)
    position = index // length
    for uncle in hashes[length:]:
        node = hashlib.sha256(node + uncle if position % 2 == 0 else uncle + node).digest()
        position //= 2
    if node != pieces_root:
        raise HashMismatch("the hashes do not lead to the file's pieces root (BEP 52)")
    return leaves
