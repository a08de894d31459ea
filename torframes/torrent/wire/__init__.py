"""Block-level reads over the BitTorrent peer wire (issue 16): below the piece floor.

libtorrent fetches and verifies whole pieces only. This package reads the
16 KiB blocks that hold the bytes a job needs straight from peers, checks
them (BEP 52 merkle proofs for v2 and hybrid torrents; two agreeing peers,
or nothing, for v1 as ``Settings.verify`` says) and falls back to whole
pieces when no peer can serve them. libtorrent stays in charge of
discovery, metadata and whole pieces.

Modules, one job each:

* ``messages``   — peer wire messages: encode/decode, lengths bounded (BEP 3, 6, 10, 52);
* ``connection`` — one peer: handshake, choke state, pipelined requests, hash requests;
* ``blocks``     — which blocks hold a byte range; the block floor;
* ``merkle``     — BEP 52 trees: which hashes to ask, proofs checked against ``pieces root``;
* ``reader``     — :class:`BlockReader`: blocks from several peers, failover, fallback;
* ``pieces``     — rounds of whole pieces from several peers, each block asked once (issue 12).
"""

from torframes.torrent.wire.blocks import Block, block_floor, blocks_for_range
from torframes.torrent.wire.reader import (
    BlockRead,
    BlockReader,
    NoBlockPeers,
    block_reader,
    reads_unverified,
)

__all__ = [
    "Block",
    "BlockRead",
    "BlockReader",
    "NoBlockPeers",
    "block_floor",
    "block_reader",
    "blocks_for_range",
    "reads_unverified",
]
