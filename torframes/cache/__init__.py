"""The persistent cache: metadata, parsed indexes and fetched pieces kept between runs.

Modules, one job each: :mod:`~torframes.cache.layout` (names on disk, from
infohashes only), :mod:`~torframes.cache.atomic` (temporary then rename),
:mod:`~torframes.cache.locking` (one lock per torrent across processes),
:mod:`~torframes.cache.metadata` (the info dictionary as a ``.torrent``),
:mod:`~torframes.cache.indexes` (tables as Parquet plus a versioned
manifest), :mod:`~torframes.cache.budget` (least recently used eviction)
and :mod:`~torframes.cache.store` (all of it as one :class:`Cache`).
Pieces are kept by libtorrent itself, in each torrent's ``pieces`` folder,
and checked against their hashes by libtorrent when a torrent is added again.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from torframes.cache.layout import FORMAT_VERSION

if TYPE_CHECKING:
    import pandas as pd

    from torframes.cache.store import CACHE_COLUMNS, Cache
    from torframes.settings import Settings

__all__ = ["CACHE_COLUMNS", "FORMAT_VERSION", "Cache", "cache_info"]


def __getattr__(name: str) -> Any:
    """``Cache`` and ``CACHE_COLUMNS`` on first use (the torrent layer imports this package)."""
    if name in ("Cache", "CACHE_COLUMNS"):
        return getattr(importlib.import_module("torframes.cache.store"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def cache_info(settings: Settings | None = None) -> pd.DataFrame:
    """One row per cached torrent (sizes on disk, last use); empty when the cache is off."""
    import pandas as pd

    from torframes.cache.store import CACHE_COLUMNS, Cache
    from torframes.settings import Settings

    settings = settings if settings is not None else Settings()
    cache = Cache.from_settings(settings)
    if cache is None:
        return pd.DataFrame(columns=list(CACHE_COLUMNS)).astype(CACHE_COLUMNS)
    return cache.table()
