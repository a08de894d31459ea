"""torframes: keyframe tables and screenshots from videos in BitTorrent swarms.

Fetches a torrent's metadata, then only the pieces holding the video's index
(MP4 ``moov``, Matroska Cues), parses it into pandas tables of samples and
keyframes, and fetches only the pieces holding the keyframes asked for,
decoding them to PIL images.

Names are imported lazily so ``import torframes`` stays cheap (libtorrent,
PyAV and pandas load on first use).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    "Settings": "torframes.settings",
    "Client": "torframes.torrent.client",
    "Torrent": "torframes.torrent.torrent",
    "index_file": "torframes.containers.local",
    "Video": "torframes.api.video",
    "open": "torframes.api.default",
    "open_sync": "torframes.sync",
    "ScreenshotService": "torframes.service.service",
    "batch": "torframes.service.sync",
    "cache_info": "torframes.cache",
    "TorframesWarning": "torframes.warnings",
    "match": "torframes.research.match",
}

_ERRORS = [
    "TorframesError", "RetryableError", "PermanentError", "SettingsError", "ClientClosed",
    "TorrentError", "BadSource", "NoSuchFile", "NoVideoFile", "MetadataTimeout", "NoPeers",
    "PieceTimeout", "PieceFailed", "ReadTooLarge", "StorageBudgetExceeded", "ContainerError",
    "MalformedContainer", "TruncatedContainer", "IndexTooLarge", "UnsupportedContainer",
    "DecodeError", "UnsupportedCodec", "BadTime", "ClusterUnreachable",
]  # fmt: skip
_EXPORTS.update(dict.fromkeys(_ERRORS, "torframes.errors"))

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from torframes.errors import *  # noqa: F403


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'torframes' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
