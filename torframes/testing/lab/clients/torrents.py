"""``.torrent`` files for the lab, made by libtorrent from data on disk.

Every lab client is given the same metainfo file (BEP 3; BEP 52 for v2 and
hybrid), so a leecher meets one torrent whoever seeds it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

__all__ = ["make_torrent"]


def make_torrent(
    content: Path,
    out: Path,
    *,
    piece_size: int = 16 * 1024,
    version: Literal["v1", "v2", "hybrid"] = "v1",
    trackers: Sequence[str] = (),
) -> Path:
    """Write a torrent of ``content`` (a file or a folder) to ``out``; returns ``out``.

    The data stays where it is: a client seeds it with ``content_dir =
    content.parent``. ``trackers``: announce URLs, one tier each (BEP 12).
    """
    import libtorrent

    create = libtorrent.create_torrent
    flags = {"v1": create.v1_only, "v2": create.v2_only, "hybrid": 0}[version]
    creator = create(libtorrent.list_files(os.fspath(content)), piece_size, flags)
    for tier, url in enumerate(trackers):
        creator.add_tracker(url, tier)
    creator.set_creator("torframes lab")
    libtorrent.set_piece_hashes(creator, os.fspath(content.parent))
    out.write_bytes(libtorrent.bencode(creator.generate()))
    return out
