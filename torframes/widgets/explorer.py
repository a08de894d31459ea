"""``KeyframeExplorer``: choose keyframes on the timeline and see what they would cost.

``video.explore()`` shows the main track's keyframes on a timeline strip: a
keyframe whose pieces are all held already is **cheap** (green: showing it
downloads nothing), any other is **costly** (grey, with how many pieces it
still needs). A time range slider, a count and a strategy (``balanced``,
``even``, ``cheapest``, ``all``, as in :meth:`Video.select <torframes.Video.select>`)
pick keyframes inside the range; the picks are drawn tall on the strip,
outlined on the piece map, summed up (pieces and bytes still to fetch), and
available to code as :attr:`KeyframeExplorer.selected`, a DataFrame.
"Show thumbnails" opens a :class:`~torframes.widgets.ThumbnailGrid` of the
selection below; as its frames arrive the strip and the piece map follow.

Nothing here blocks: changing a control only recomputes tables and redraws
two small pictures; the fetching is the grid's task. The views follow every
piece that arrives, whoever fetched it (this explorer's grid, another grid,
code in another cell). The controls wrap onto more lines in a narrow output.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from html import escape
from typing import TYPE_CHECKING

import ipywidgets as widgets
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from torframes.plan.pieces import piece_bytes, pieces_for_rows, row_pieces
from torframes.plan.select import select_keyframes
from torframes.plural import plural
from torframes.widgets.background import follow_pieces
from torframes.widgets.grid import ThumbnailGrid
from torframes.widgets.images import INK, MUTED, WHITE, caption_font, encode, picture_layout
from torframes.widgets.piecemap import PieceMapView

if TYPE_CHECKING:
    from torframes.api.video import Video

__all__ = ["KeyframeExplorer", "annotate_costs", "timeline_strip"]

CHEAP = (44, 160, 44)
COSTLY = (158, 158, 158)
RANGE = (222, 235, 247)
PICK = (214, 39, 40)


def annotate_costs(
    keyframes: pd.DataFrame, held: Collection[int], piece_size: dict[int, int] | None = None
) -> pd.DataFrame:
    """``keyframes`` with ``new_pieces`` (int64: pieces not held yet) and ``cheap`` (bool).

    A keyframe of unknown size (a Matroska block not located yet) counts
    only the piece it starts in.
    """
    held = set(held)
    new = np.fromiter(
        (
            sum(1 for p in row_pieces(first, last) if p not in held)
            for first, last in zip(keyframes["piece_first"], keyframes["piece_last"], strict=True)
        ),
        dtype=np.int64,
        count=len(keyframes),
    )
    out = keyframes.copy()
    out["new_pieces"] = new
    out["cheap"] = new == 0
    return out


def timeline_strip(
    keyframes: pd.DataFrame,
    *,
    end: float,
    span: tuple[float, float] | None = None,
    picks: Collection[Hashable] = (),
    width: int = 720,
    height: int = 64,
) -> Image.Image:
    """The keyframe timeline: a tick per keyframe, green when cheap, grey when costly.

    ``keyframes`` carries ``time`` and ``cheap`` (see :func:`annotate_costs`);
    ``span`` is shaded; ``picks`` (index labels) are drawn tall and red-capped.
    """
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    font = caption_font(10)
    left, right, top, axis = 8, width - 8, 6, height - 18
    end = max(end, 1e-9)

    def x_of(t: float) -> float:
        return left + (right - left) * min(max(t, 0.0), end) / end

    if span is not None:
        draw.rectangle((x_of(span[0]), top, x_of(span[1]), axis), fill=RANGE)
    draw.line((left, axis, right, axis), fill=INK)
    picked = set(picks)
    for label, t, cheap in zip(keyframes.index, keyframes["time"], keyframes["cheap"], strict=True):
        x = round(x_of(float(t)))
        colour = CHEAP if cheap else COSTLY
        if label in picked:
            draw.line((x, top + 6, x, axis - 1), fill=colour, width=3)
            draw.rectangle((x - 2, top, x + 2, top + 4), fill=PICK)
        else:
            draw.line((x, axis - (axis - top) // 2, x, axis - 1), fill=colour, width=1)
    for tick in _ticks(end):
        x = x_of(tick)
        draw.line((x, axis, x, axis + 3), fill=INK)
        text = f"{tick:g}s"
        draw.text(
            (min(max(x - draw.textlength(text, font=font) / 2, 0), width - 30), axis + 4),
            text,
            fill=MUTED,
            font=font,
        )
    return image


def _ticks(end: float) -> list[float]:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if end / step <= 8:
            return [i * step for i in range(int(end // step) + 1)]
    step = 7200
    return [i * step for i in range(int(end // step) + 1)]


class KeyframeExplorer(widgets.VBox):
    """Pick keyframes of ``video`` by time range, count and strategy; see the module doc."""

    def __init__(
        self,
        video: Video,
        *,
        n: int = 8,
        strategy: str = "balanced",
        span: tuple[float, float] | None = None,
        columns: int = 4,
        max_side: int = 200,
    ) -> None:
        self.video = video
        self._columns = columns
        self._max_side = max_side
        self._keyframes = video.keyframes.sort_values("time", kind="stable")
        tracks = video.tracks
        duration = tracks.loc[tracks["track_id"] == video.main_track, "duration_s"].iloc[0]
        last = float(self._keyframes["time"].max()) if len(self._keyframes) else 0.0
        self.end = max(last, 0.0 if pd.isna(duration) else float(duration))
        count = max(1, len(self._keyframes))
        step = _slider_step(self.end)
        self.range = widgets.FloatRangeSlider(
            value=span or (0.0, self.end),
            min=0.0,
            max=self.end,
            step=step,
            description="time (s)",
            continuous_update=False,
            readout_format=".1f",
            layout=widgets.Layout(width="98%"),
        )
        self.count = widgets.IntSlider(
            value=min(n, count),
            min=1,
            max=count,
            description="keyframes",
            continuous_update=False,
        )
        self.strategy = widgets.Dropdown(
            options=["balanced", "even", "cheapest", "all"], value=strategy, description="strategy"
        )
        self.timeline = widgets.Image(format="png", layout=picture_layout())
        self.summary = widgets.HTML()
        self.piece_map = PieceMapView(video, live=False)  # redrawn by refresh()
        self.show_button = widgets.Button(
            description="Show thumbnails", icon="th", layout=widgets.Layout(width="auto")
        )
        self.show_button.on_click(lambda _button: self.show())
        #: The grid opened by "Show thumbnails" (None before).
        self.grid: ThumbnailGrid | None = None
        self.grid_area = widgets.VBox([])
        for control in (self.range, self.count, self.strategy):
            control.observe(self._changed, names="value")
        super().__init__(
            [
                widgets.HTML(f"<b>Keyframes</b> of <code>{escape(video.path)}</code>"),
                self.range,
                widgets.HBox(
                    [self.count, self.strategy, self.show_button],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
                ),
                self.timeline,
                self.summary,
                self.piece_map,
                self.grid_area,
            ]
        )
        self.selected: pd.DataFrame = self._keyframes.iloc[:0]
        self.refresh()
        self._unfollow = follow_pieces(video, self.refresh)

    # -- tables ------------------------------------------------------------------------------

    @property
    def keyframes(self) -> pd.DataFrame:
        """Every keyframe of the main track, with ``new_pieces``, ``cheap`` and ``in_range``."""
        table = annotate_costs(self._keyframes, self.video.torrent.held_pieces())
        low, high = self.range.value
        table["in_range"] = (table["time"] >= low) & (table["time"] <= high)
        return table

    def _select(self, table: pd.DataFrame) -> pd.DataFrame:
        inside = table[table["in_range"]]
        if inside.empty:
            return inside.drop(columns="in_range")
        picks = select_keyframes(
            inside,
            self.count.value,
            self.strategy.value,
            held=self.video.torrent.held_pieces(),
            end_time=float(self.range.value[1]),
        )
        return picks.drop(columns="in_range")

    # -- actions -----------------------------------------------------------------------------

    def refresh(self) -> pd.DataFrame:
        """Recompute :attr:`selected` and redraw from the pieces held now; returns it."""
        table = self.keyframes
        self.selected = self._select(table)
        self.count.disabled = self.strategy.value == "all"
        picture = timeline_strip(
            table, end=self.end, span=tuple(self.range.value), picks=self.selected.index
        )
        self.timeline.value = encode(picture, "png")
        self.piece_map.refresh(self.selected)
        self.summary.value = self._summary(table)
        return self.selected

    def show(self) -> ThumbnailGrid:
        """Open a thumbnail grid of :attr:`selected` below (replacing one shown before)."""
        if self.grid is not None:
            self.grid.stop()
        self.grid = ThumbnailGrid(
            self.video,
            self.selected,
            columns=self._columns,
            max_side=self._max_side,
        )
        self.grid_area.children = [self.grid]
        return self.grid

    def close(self) -> None:
        """Stop following the download, stop the grid, then close the widget."""
        self._unfollow()
        if self.grid is not None:
            self.grid.stop()
        super().close()

    # -- helpers -----------------------------------------------------------------------------

    def _changed(self, _change: object) -> None:
        self.refresh()

    @property
    def cost(self) -> dict[str, int]:
        """What showing :attr:`selected` would cost now.

        ``selected``, ``cheap`` and ``costly`` count keyframes; ``new_pieces``
        and ``new_bytes`` are the distinct pieces not held yet that they need.
        """
        picks = self.selected
        held = self.video.torrent.held_pieces()
        needed = pieces_for_rows(picks) - held
        cheap = int(picks["cheap"].sum()) if len(picks) else 0
        return {
            "selected": len(picks),
            "cheap": cheap,
            "costly": len(picks) - cheap,
            "new_pieces": len(needed),
            "new_bytes": piece_bytes(self.video.geometry, needed),
        }

    def _summary(self, table: pd.DataFrame) -> str:
        cost = self.cost
        low, high = self.range.value
        in_range = int(table["in_range"].sum())
        return (
            f"{cost['selected']} of {plural(in_range, 'keyframe')} between {low:.1f} and "
            f"{high:.1f} selected: <span style='color:rgb{CHEAP}'>■</span> {cost['cheap']} cheap "
            f"(pieces held), <span style='color:rgb{COSTLY}'>■</span> {cost['costly']} costly, "
            f"needing {plural(cost['new_pieces'], 'more piece', 'more pieces')} "
            f"({plural(cost['new_bytes'], 'byte')})"
        )

    def __repr__(self) -> str:
        return (
            f"KeyframeExplorer({plural(len(self._keyframes), 'keyframe')} of {self.video.path!r})"
        )


def _slider_step(end: float) -> float:
    for step in (0.1, 0.5, 1.0, 5.0, 10.0):
        if end / step <= 2000:
            return step
    return 60.0
