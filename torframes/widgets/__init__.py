"""The notebook face of torframes: widgets, pictures and reprs.

- :class:`ThumbnailGrid` (``video.grid(...)``): thumbnails that fill in as
  their pieces arrive, with progress, Stop, captions and a large view;
- :class:`KeyframeExplorer` (``video.explore()``): keyframes on a timeline,
  cheap (pieces held) against costly, a selection as a DataFrame;
- :func:`render_piece_map` (``video.piece_map()``) and :class:`PieceMapView`:
  the file's pieces, fetched against untouched, with the index and keyframes;
- :func:`contact_sheet`, :func:`interval_chart`, :func:`bar_chart`: static
  pictures for notebooks, drawn with PIL;
- :mod:`~torframes.widgets.reprs`: the HTML reprs of ``Video`` and ``Torrent``.

Widgets never block the kernel: their downloads are tasks on the loop the
video belongs to (:mod:`torframes.widgets.background`). Names load lazily,
so ``import torframes.widgets`` does not import ipywidgets until used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ThumbnailGrid": "torframes.widgets.grid",
    "KeyframeExplorer": "torframes.widgets.explorer",
    "PieceMap": "torframes.widgets.piecemap",
    "PieceMapView": "torframes.widgets.piecemap",
    "render_piece_map": "torframes.widgets.piecemap",
    "contact_sheet": "torframes.widgets.images",
    "interval_chart": "torframes.widgets.charts",
    "keyframe_intervals": "torframes.widgets.charts",
    "bar_chart": "torframes.widgets.charts",
}

__all__ = [
    "KeyframeExplorer",
    "PieceMap",
    "PieceMapView",
    "ThumbnailGrid",
    "bar_chart",
    "contact_sheet",
    "interval_chart",
    "keyframe_intervals",
    "render_piece_map",
]

if TYPE_CHECKING:  # pragma: no cover
    from torframes.widgets.charts import bar_chart, interval_chart, keyframe_intervals
    from torframes.widgets.explorer import KeyframeExplorer
    from torframes.widgets.grid import ThumbnailGrid
    from torframes.widgets.images import contact_sheet
    from torframes.widgets.piecemap import PieceMap, PieceMapView, render_piece_map


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'torframes.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
