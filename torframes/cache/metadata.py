"""Cached metadata: a torrent's info dictionary kept as a ``.torrent``.

The entry is the bencoded dictionary ``{"info": <info dict, byte for byte>,
"torframes cache version": FORMAT_VERSION}`` (BEP 3 metainfo, keys sorted).
It is read back only if its version matches and the info dictionary hashes
to the infohash asked for (BEP 3 / BEP 52 infohashes, checked by
libtorrent): a damaged or foreign entry is ignored and the metadata fetched
again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from torframes.cache.atomic import sweep_temporaries, write_atomic
from torframes.cache.layout import FORMAT_VERSION, CacheLayout, check_infohash
from torframes.torrent.sources import hex_hashes

if TYPE_CHECKING:
    import libtorrent

__all__ = ["load_metadata", "save_metadata"]

log = logging.getLogger(__name__)

_VERSION_KEY = b"torframes cache version"


def _entry_bytes(info_section: bytes) -> bytes:
    version = str(FORMAT_VERSION).encode()
    return (
        b"d4:info"
        + info_section
        + str(len(_VERSION_KEY)).encode()
        + b":"
        + _VERSION_KEY
        + b"i"
        + version
        + b"ee"
    )


def save_metadata(layout: CacheLayout, info: libtorrent.torrent_info) -> str:
    """Store ``info``'s info dictionary; returns the folder name (v1 hex, else v2 hex).

    A hybrid torrent's other infohash gets an alias naming that folder.
    """
    v1, v2 = hex_hashes(info.info_hashes())
    key = v1 or v2
    assert key is not None
    sweep_temporaries(layout.torrent_dir(key))
    write_atomic(layout.metadata_path(key), _entry_bytes(bytes(info.info_section())))
    if v1 and v2:
        write_atomic(layout.alias_path(v2), key.encode("ascii"))
    return key


def load_metadata(layout: CacheLayout, infohash: str) -> libtorrent.torrent_info | None:
    """The cached metadata of ``infohash`` (v1 or v2 hex), or None if absent or not valid."""
    import libtorrent

    infohash = check_infohash(infohash)
    path = layout.metadata_path(layout.resolve(infohash))
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        decoded = libtorrent.bdecode(data)
        if not isinstance(decoded, dict) or decoded.get(_VERSION_KEY) != FORMAT_VERSION:
            log.info("cached metadata of %s has another format version: ignored", infohash)
            return None
        info = libtorrent.torrent_info(data)
    except (RuntimeError, ValueError, TypeError) as error:
        log.info("cached metadata of %s is not valid (%s): ignored", infohash, error)
        return None
    if infohash not in hex_hashes(info.info_hashes()):
        log.info("cached metadata under %s is another torrent's: ignored", infohash)
        return None
    return info
