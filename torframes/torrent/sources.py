"""Turn what a user gives (magnet, infohash, ``.torrent``) into libtorrent add parameters.

Accepted sources:

* a magnet URI (``magnet:?xt=urn:btih:…`` and/or ``xt=urn:btmh:1220…``);
  its ``x.pe`` peers go into ``add_torrent_params.peers``;
* a v1 infohash: 40 hexadecimal digits or 32 base32 characters;
* a v2 infohash: 64 hexadecimal digits;
* a path (``str`` or ``os.PathLike``) to a ``.torrent`` file;
* the bytes of a ``.torrent`` file.

URLs other than magnets (``http://…/x.torrent``) are not sources: torframes
makes no HTTP requests, so download the ``.torrent`` file first and give its
path. Anything else raises :class:`~torframes.errors.BadSource` saying what was wrong.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

from torframes.errors import BadSource

if TYPE_CHECKING:
    import libtorrent

__all__ = ["ParsedSource", "Source", "hex_hashes", "infohash_of", "parse_source"]

#: What :meth:`torframes.Client.add` accepts.
Source = Union[str, bytes, bytearray, memoryview, "os.PathLike[str]"]

_HEX = re.compile(r"[0-9a-fA-F]+")
_BASE32 = re.compile(r"[A-Za-z2-7]{32}")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_SHOWN = 80


@dataclass
class ParsedSource:
    """A source made ready to add: libtorrent's parameters and what it was."""

    params: libtorrent.add_torrent_params
    kind: str  # "magnet", "infohash", "torrent-file" or "torrent-bytes"

    @property
    def key(self) -> str:
        """The torrent's infohash as torframes names it (v1 hex if any, else v2 hex)."""
        return infohash_of(hashes_of(self.params))


def hex_hashes(hashes: libtorrent.info_hash_t) -> tuple[str | None, str | None]:
    """The v1 and v2 infohashes in hex, None where the torrent has none."""
    v1 = hashes.v1.to_bytes().hex() if hashes.has_v1() else None
    v2 = hashes.v2.to_bytes().hex() if hashes.has_v2() else None
    return v1, v2


def infohash_of(hashes: libtorrent.info_hash_t) -> str:
    """v1 hex if the torrent has a v1 infohash, else v2 hex."""
    v1, v2 = hex_hashes(hashes)
    return v1 or v2 or ""


def hashes_of(params: libtorrent.add_torrent_params) -> libtorrent.info_hash_t:
    """The infohashes that add parameters name, from the metadata when present."""
    if params.ti is not None:
        return params.ti.info_hashes()
    return params.info_hashes


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


def parse_source(source: Source) -> ParsedSource:
    """Parse ``source`` into add parameters, reading a ``.torrent`` file if named.

    This may read a file: call it off the event loop. Raises
    :class:`~torframes.errors.BadSource` naming what was wrong.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return ParsedSource(_load_torrent(bytes(source), "the .torrent data"), "torrent-bytes")
    if isinstance(source, os.PathLike):
        return _parse_path(Path(source))
    if not isinstance(source, str):
        raise BadSource(
            f"a source is a magnet URI, an infohash, a .torrent path or .torrent bytes, "
            f"not {type(source).__name__}"
        )
    text = source.strip()
    if text.lower().startswith("magnet:"):
        return ParsedSource(_parse_magnet(text), "magnet")
    if not text:
        raise BadSource("empty source")
    if _URL.match(text):
        raise BadSource(
            f"{_shown(text)} is a URL, and URLs are not sources: download the .torrent "
            "file first and give its path (or give a magnet URI or an infohash)"
        )
    looks_like_path = text.lower().endswith(".torrent") or os.sep in text or "/" in text
    if not looks_like_path and not Path(text).is_file():
        return ParsedSource(_parse_infohash(text), "infohash")
    return _parse_path(Path(text))


def _parse_magnet(uri: str) -> libtorrent.add_torrent_params:
    import libtorrent

    try:
        params = libtorrent.parse_magnet_uri(uri)
    except (RuntimeError, ValueError) as error:
        raise BadSource(f"malformed magnet URI {_shown(uri)}: {error}") from None
    hashes = params.info_hashes
    if not (hashes.has_v1() or hashes.has_v2()):
        raise BadSource(f"magnet URI {_shown(uri)} names no usable infohash (all zeros)")
    return params


def _parse_infohash(text: str) -> libtorrent.add_torrent_params:
    """A bare infohash: 40 hex or 32 base32 (v1), or 64 hex (v2)."""
    if _HEX.fullmatch(text):
        if len(text) == 40:
            return _parse_magnet(f"magnet:?xt=urn:btih:{text.lower()}")
        if len(text) == 64:
            return _parse_magnet(f"magnet:?xt=urn:btmh:1220{text.lower()}")
        if len(text) == 32:
            raise BadSource(
                f"infohash {_shown(text)} has 32 characters but is not base32 (letters A-Z, "
                "digits 2-7), and a hexadecimal infohash has 40 (v1) or 64 (v2) digits"
            )
        raise BadSource(
            f"hexadecimal infohash {_shown(text)} has {len(text)} digits; "
            "a v1 infohash has 40, a v2 infohash 64"
        )
    if _BASE32.fullmatch(text):
        try:
            digest = base64.b32decode(text.upper())
        except binascii.Error as error:  # pragma: no cover - the regex admits only base32
            raise BadSource(f"base32 infohash {_shown(text)} does not decode: {error}") from None
        return _parse_magnet(f"magnet:?xt=urn:btih:{digest.hex()}")
    if len(text) in (40, 64):
        bad = next(ch for ch in text if not _HEX.fullmatch(ch))
        raise BadSource(
            f"infohash {_shown(text)} is not hexadecimal: {bad!r} at position {text.index(bad)}"
        )
    if len(text) == 32:
        raise BadSource(f"infohash {_shown(text)} is not base32 (letters A-Z and digits 2-7)")
    raise BadSource(
        f"{_shown(text)} is not a magnet URI, an infohash (40 or 64 hex digits, 32 base32 "
        "characters) or a path to a .torrent file"
    )


def _parse_path(path: Path) -> ParsedSource:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadSource(f"no such .torrent file: {str(path)!r}") from None
    except IsADirectoryError:
        raise BadSource(f"{str(path)!r} is a directory, not a .torrent file") from None
    except OSError as error:
        raise BadSource(f"cannot read .torrent file {str(path)!r}: {error.strerror}") from None
    return ParsedSource(_load_torrent(data, f".torrent file {str(path)!r}"), "torrent-file")


def _load_torrent(data: bytes, what: str) -> libtorrent.add_torrent_params:
    import libtorrent

    if not data:
        raise BadSource(f"{what} is empty")
    try:
        params = libtorrent.load_torrent_buffer(data)
    except (RuntimeError, ValueError) as error:
        raise BadSource(f"{what} is not a valid torrent: {error}") from None
    if params.ti is None or not params.ti.is_valid():
        raise BadSource(f"{what} holds no torrent metadata")
    return params
