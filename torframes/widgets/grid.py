"""``ThumbnailGrid``: keyframe thumbnails that fill in as their pieces arrive.

``video.grid(5)`` (or ``video.grid(rows)``) returns at once: a grid of
placeholder tiles, a progress bar and a Stop button. The frames are fetched
by one task on the kernel's running loop (see
:mod:`torframes.widgets.background`), every row's pieces asked for at once,
and each tile is filled as soon as its own pieces are in and decoded; the
kernel runs other cells meanwhile. Stop (or :meth:`ThumbnailGrid.stop`)
cancels what has not arrived; Resume (or :meth:`ThumbnailGrid.start`) fetches it.

The layout reflows: tiles are as wide as their thumbnail (or their caption,
if wider), as many to a row as fit, at most ``columns``; the large view puts
its row table beside the picture when there is room and below it otherwise.
Pictures keep their aspect ratio and are never scaled up.

Each tile's caption (time, sample number, bytes) is a button: ipywidgets'
``Image`` has no click events, so clicking the caption under a thumbnail
shows that frame large, decoded at full size from the pieces already held,
with its row of the table. :attr:`ThumbnailGrid.table` is the rows with
each one's ``status``; :attr:`ThumbnailGrid.images` the pictures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from html import escape
from typing import TYPE_CHECKING

import ipywidgets as widgets
import pandas as pd
from PIL import Image

from torframes.plural import plural
from torframes.widgets.background import spawn
from torframes.widgets.images import encode, fit, picture_layout, placeholder
from torframes.widgets.reprs import row_html

if TYPE_CHECKING:
    from torframes.api.video import Video

__all__ = ["STATUSES", "ThumbnailGrid", "Tile"]

#: A row's status: waiting for its frame, shown, failed (error in ``error``), or stopped.
STATUSES = ("waiting", "loaded", "failed", "stopped")
_TILE_STYLE = {"waiting": "", "loaded": "", "failed": "danger", "stopped": "warning"}
#: Grid gap and a caption's width allowance: pixels per character at the widgets'
#: 13 px font (digits, most of a caption, are about 0.55 em in common UI fonts), plus
#: the button's padding. The browser test checks that no caption is cut at this estimate.
_GAP = 6
_CAPTION_EM = 0.56 * 13
_CAPTION_PADDING = 24


def caption(row: pd.Series) -> str:
    """``"12.00 s · #288 · 21.4 KiB"``: a row's time, sample number and size."""
    parts = [f"{float(row['time']):.2f} s"]
    if "sample" in row and not pd.isna(row["sample"]):
        parts.append(f"#{int(row['sample'])}")
    if "size" in row and not pd.isna(row["size"]):
        parts.append(f"{int(row['size']) / 1024:.1f} KiB")
    return " · ".join(parts)


def caption_width(text: str) -> int:
    """Pixels a caption button needs to show ``text`` whole (a generous estimate)."""
    return round(len(text) * _CAPTION_EM) + _CAPTION_PADDING


class Tile(widgets.VBox):
    """One thumbnail and its caption button."""

    def __init__(self, label: Hashable, row: pd.Series, size: tuple[int, int]) -> None:
        self.label = label
        self.image = widgets.Image(value=placeholder(size), format="jpeg", layout=picture_layout())
        self.button = widgets.Button(
            description=caption(row),
            tooltip="show this frame large, with its row",
            layout=widgets.Layout(width="100%"),
        )
        super().__init__(
            [self.image, self.button], layout=widgets.Layout(min_width="0", align_items="center")
        )

    def __repr__(self) -> str:
        return f"Tile({self.label!r}, {self.button.description!r})"


class ThumbnailGrid(widgets.VBox):
    """Thumbnails of ``rows`` of ``video`` (a ``samples``/``select()`` table); see the module doc.

    ``on_frame`` is called with ``(label, image)`` after each frame is shown.
    ``start=False`` waits for :meth:`start`.
    """

    def __init__(
        self,
        video: Video,
        rows: pd.DataFrame,
        *,
        columns: int = 5,
        max_side: int = 240,
        detail_side: int | None = 720,
        start: bool = True,
        on_frame: Callable[[Hashable, Image.Image], object] | None = None,
    ) -> None:
        if not rows.index.is_unique:
            raise ValueError("rows need a unique index (the samples table's labels)")
        self.video = video
        self.rows = rows.copy()
        self.max_side = max_side
        self.detail_side = detail_side
        self.on_frame = on_frame
        self.images: dict[Hashable, Image.Image] = {}
        self._status: dict[Hashable, str] = dict.fromkeys(self.rows.index, "waiting")
        self._errors: dict[Hashable, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._fetched_before = 0
        #: The label of the row shown large (None until a caption is clicked).
        self.selected: Hashable | None = None
        self.detail_task: asyncio.Task[None] | None = None

        config = video.decoder_config
        size = fit(config.width, config.height, max_side)
        self.tiles = [Tile(label, row, size) for label, row in self.rows.iterrows()]
        for tile in self.tiles:
            tile.button.on_click(lambda _button, label=tile.label: self.show(label))
        self.title = widgets.HTML(
            f"<b>{plural(len(self.rows), 'keyframe')}</b> of <code>{escape(video.path)}</code>"
        )
        self.progress = widgets.IntProgress(
            value=0, min=0, max=max(1, len(self.rows)), description=f"0/{len(self.rows)}"
        )
        self.status = widgets.HTML()
        self.stop_button = widgets.Button(
            description="Stop",
            icon="stop",
            button_style="warning",
            layout=widgets.Layout(width="auto"),
        )
        self.stop_button.on_click(lambda _button: self.stop())
        self.resume_button = widgets.Button(
            description="Resume", icon="play", disabled=True, layout=widgets.Layout(width="auto")
        )
        self.resume_button.on_click(lambda _button: self.start())
        cell = max([size[0]] + [caption_width(tile.button.description) for tile in self.tiles])
        columns = max(1, min(columns, len(self.tiles)))
        self.box = widgets.GridBox(
            self.tiles,
            layout=widgets.Layout(
                grid_template_columns=f"repeat(auto-fill, min({cell}px, 100%))",
                grid_gap=f"{_GAP}px",
                max_width=f"{columns * cell + (columns - 1) * _GAP}px",
            ),
        )
        self.detail_image = widgets.Image(format="jpeg", layout=picture_layout())
        self.detail_table = widgets.HTML(
            layout=widgets.Layout(flex="1 1 16em", min_width="0", overflow="auto")
        )
        self.detail = widgets.HBox(
            [self.detail_image, self.detail_table],
            layout=widgets.Layout(
                display="none", flex_flow="row wrap", align_items="flex-start", grid_gap="12px"
            ),
        )
        controls = widgets.HBox(
            [self.progress, self.stop_button, self.resume_button, self.status],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        super().__init__([self.title, controls, self.box, self.detail])
        self._update_status()
        if start:
            self.start()

    # -- state -------------------------------------------------------------------------------

    @property
    def table(self) -> pd.DataFrame:
        """The rows, with ``status`` (one of :data:`STATUSES`) and ``error`` (string or NA)."""
        table = self.rows.copy()
        table["status"] = pd.array([self._status[label] for label in table.index], dtype="string")
        table["error"] = pd.array(
            [self._errors.get(label) for label in table.index], dtype="string"
        )
        return table

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The task fetching the frames (None before :meth:`start`)."""
        return self._task

    @property
    def done(self) -> bool:
        """True once no row is waiting any more (loaded, failed or stopped)."""
        return all(status != "waiting" for status in self._status.values())

    @property
    def selected_row(self) -> pd.Series | None:
        """The row shown large, if any."""
        return None if self.selected is None else self.rows.loc[self.selected]

    # -- actions -----------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start fetching what is still waiting (again after a stop); returns the task."""
        if self._task is not None and not self._task.done():
            return self._task
        for label, status in self._status.items():
            if status == "stopped":
                self._status[label] = "waiting"
                self._tile(label).button.button_style = ""
        self._fetched_before = self.video.torrent.stats.bytes_fetched
        self.stop_button.disabled = False
        self.resume_button.disabled = True
        self._task = spawn(self.video, self._run(), name="torframes-grid")
        self._task.add_done_callback(self._finished)
        self._update_status()
        return self._task

    def stop(self) -> None:
        """Cancel the frames still waiting; the tiles already shown stay."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def wait(self) -> pd.DataFrame:
        """Wait until the grid is done (or stopped); returns :attr:`table`."""
        if self._task is not None:
            await asyncio.wait({self._task})
        return self.table

    def show(self, label: Hashable) -> asyncio.Task[None]:
        """Show row ``label`` large with its row of the table (what a caption click does)."""
        self.selected = label
        row = self.rows.loc[label]
        self.detail_table.value = row_html(row)
        self.detail.layout.display = "flex"
        if label in self.images:
            self.detail_image.value = encode(self.images[label], "jpeg")
        else:
            self.detail_image.value = self._tile(label).image.value
        if self.detail_task is not None and not self.detail_task.done():
            self.detail_task.cancel()
        self.detail_task = spawn(self.video, self._show_large(label), name="torframes-grid-detail")
        return self.detail_task

    # -- work --------------------------------------------------------------------------------

    async def _run(self) -> None:
        waiting = [label for label, status in self._status.items() if status == "waiting"]
        tasks = [asyncio.ensure_future(self._one(label)) for label in waiting]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def _finished(self, _task: asyncio.Task[None]) -> None:
        """The fetching task ended (done, or stopped even before it ran): settle every tile."""
        for label, status in self._status.items():
            if status == "waiting":
                self._status[label] = "stopped"
                self._tile(label).button.button_style = _TILE_STYLE["stopped"]
        self.stop_button.disabled = True
        self.resume_button.disabled = "stopped" not in self._status.values()
        self._update_status()

    async def _one(self, label: Hashable) -> None:
        row = self.rows.loc[label]
        try:
            image = await self.video.frame(row, max_side=self.max_side)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # shown on the tile and in the table; others go on
            self._status[label] = "failed"
            self._errors[label] = f"{type(error).__name__}: {error}"
            tile = self._tile(label)
            tile.button.button_style = _TILE_STYLE["failed"]
            tile.button.tooltip = self._errors[label]
            self._update_status()
            return
        self.images[label] = image
        self._status[label] = "loaded"
        self._errors.pop(label, None)
        tile = self._tile(label)
        tile.image.value = encode(image, "jpeg")
        tile.button.button_style = _TILE_STYLE["loaded"]
        tile.button.tooltip = "show this frame large, with its row"
        self._update_status()
        if self.on_frame is not None:
            self.on_frame(label, image)

    async def _show_large(self, label: Hashable) -> None:
        row = self.rows.loc[label]
        try:
            image = await self.video.frame(row, max_side=self.detail_side)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.detail_table.value = (
                f"<b>could not show this frame:</b> {escape(str(error))}" + row_html(row)
            )
            return
        if self.selected == label:
            self.detail_image.value = encode(image, "jpeg")
        if self._status[label] in ("stopped", "failed"):
            # Its pieces are held now: the thumbnail costs a decode, not a download.
            await self._one(label)
            self.resume_button.disabled = "stopped" not in self._status.values()

    # -- helpers -----------------------------------------------------------------------------

    def _tile(self, label: Hashable) -> Tile:
        return self.tiles[self.rows.index.get_loc(label)]

    def _update_status(self) -> None:
        counts = {status: 0 for status in STATUSES}
        for status in self._status.values():
            counts[status] += 1
        total = len(self._status)
        # The bar shows the frames dealt with (shown or failed), not those given up by a stop.
        self.progress.value = counts["loaded"] + counts["failed"]
        self.progress.description = f"{counts['loaded']}/{total}"
        if counts["failed"]:
            self.progress.bar_style = "danger"
        elif counts["stopped"]:
            self.progress.bar_style = "warning"
        elif counts["loaded"] == total:
            self.progress.bar_style = "success"
        else:
            self.progress.bar_style = "info"
        fetched = max(0, self.video.torrent.stats.bytes_fetched - self._fetched_before)
        parts = [f"{counts['loaded']} of {total} shown", f"{fetched / 1024:,.1f} KiB fetched"]
        if counts["failed"]:
            # Why, once: the first error (often the same for all, e.g. a closed client).
            first = next(iter(self._errors.values()))
            parts.append(f"{counts['failed']} failed ({escape(first)})")
        if counts["stopped"]:
            parts.append(f"{counts['stopped']} stopped")
        self.status.value = " · ".join(parts)

    def __repr__(self) -> str:
        return f"ThumbnailGrid({plural(len(self.rows), 'keyframe')} of {self.video.path!r})"
