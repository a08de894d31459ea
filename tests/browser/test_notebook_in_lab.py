"""Notebook 03 in a real browser: JupyterLab, Run All, then look at what the widgets show.

The kernel runs the notebook against a loopback seeder, as under nbval; here
the front end renders the widgets, and the page is checked the way a reader
would see it: thumbnails with decoded pixels (each one the right frame: the
sample's frames carry their own number), a caption click showing the frame
at its own aspect ratio, nothing cut off in an output 732 px wide (a 1100 px
window with the file browser open), the piece map at its own size and up to
date, and the widgets still working after Run All. No widget error anywhere.
"""

from __future__ import annotations

import base64
import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from torframes.testing import read_frame_index

from .conftest import Lab

pytestmark = pytest.mark.browser

FPS = 24
#: Milliseconds any one wait in the page may take (Run All waits for the whole notebook).
WAIT_MS = 30_000
RUN_ALL_MS = 120_000

#: The pixels of an <img>, drawn on a canvas and read back as a PNG data URL.
READ_PIXELS = """img => {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    canvas.getContext('2d').drawImage(img, 0, 0);
    return canvas.toDataURL('image/png');
}"""

RUN_ALL = """async () => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    await panel.context.ready;
    await panel.sessionContext.ready;
    return await app.commands.execute('notebook:run-all-cells');
}"""


def pixels(img: Any) -> Image.Image:
    url = img.evaluate(READ_PIXELS)
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def frame_of(caption: str) -> int:
    """The frame a caption's time shows: ``"22.00 s · #528 · 5.9 KiB"`` -> 528."""
    return round(float(caption.split(" s", 1)[0]) * FPS)


def output_of(page: Any, index: int) -> Any:
    """The output area of the notebook's ``index``-th cell (markdown cells count), in view.

    (JupyterLab renders only the cells in view, as a reader scrolls.)
    """
    output = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea")
    output.scroll_into_view_if_needed()
    return output


def truncated(locator: Any) -> list[str]:
    """Texts of the elements matched that are cut off (wider content than box)."""
    return locator.evaluate_all(
        "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"
    )


@pytest.fixture(scope="module")
def notebook(lab: Lab, chromium: Any) -> Iterator[Any]:
    """Notebook 03 opened in a 1100 x 900 window (file browser open) after Run All."""
    spec = lab.api("/api/kernelspecs")["kernelspecs"]["python3"]["spec"]
    assert Path(spec["argv"][0]).parent == Path(sys.executable).parent, spec["argv"]
    page = chromium.new_page(viewport={"width": 1100, "height": 900})
    page.set_default_timeout(WAIT_MS)
    page.goto(lab.url("/lab/tree/03-interactive.ipynb"))
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget")
    page.locator(".jp-DirListing").wait_for(state="visible")  # the file browser is open
    succeeded = page.evaluate(RUN_ALL)
    assert succeeded is True, "Run All stopped at an error"
    yield page
    page.close()


def test_no_widget_error_and_no_error_output(notebook: Any) -> None:
    page = notebook
    assert page.locator(".jp-OutputArea-output[data-mime-type*='stderr']").count() == 0
    assert page.get_by_text(re.compile("Error displaying widget|model not found")).count() == 0


def test_thumbnails_have_decoded_pixels_of_the_right_frames(notebook: Any) -> None:
    grid = output_of(notebook, 3)
    grid.get_by_text("10 of 10 shown").wait_for()
    images = grid.locator(".widget-gridbox img")
    captions = grid.locator(".widget-gridbox button")
    assert images.count() == captions.count() == 10
    for i in range(10):
        img = images.nth(i)
        assert img.evaluate("img => img.complete && img.naturalWidth") == 240
        picture = pixels(img)
        assert len(set(picture.get_flattened_data())) > 16  # not a flat placeholder
        assert read_frame_index(picture) == frame_of(captions.nth(i).text_content())


def test_a_caption_click_shows_the_frame_at_its_aspect_ratio(notebook: Any) -> None:
    grid = output_of(notebook, 3)
    caption = grid.locator(".widget-gridbox button").nth(6)
    frame = frame_of(caption.text_content())
    caption.click()
    grid.locator(f"td:text-is('{frame}')").first.wait_for()  # the row table shows its sample
    large = grid.locator(".widget-hbox img").last
    large.wait_for()
    notebook.wait_for_function(
        "img => img.complete && img.naturalWidth === 640", arg=large.element_handle()
    )
    assert read_frame_index(pixels(large)) == frame
    box = large.bounding_box()
    assert box["width"] == pytest.approx(640 * box["height"] / 360, abs=1.0)
    assert box["height"] == pytest.approx(360 * box["width"] / 640, abs=1.0)


def test_nothing_is_cut_off_in_a_narrow_output(notebook: Any) -> None:
    grid = output_of(notebook, 3)
    width = grid.evaluate("e => e.getBoundingClientRect().width")
    assert width < 800  # the file browser takes its share of the 1100 px window
    assert truncated(grid.locator("button")) == []
    explorer = output_of(notebook, 9)
    assert truncated(explorer.locator("button")) == []
    right = grid.evaluate("e => e.getBoundingClientRect().right")
    for table in grid.locator(".widget-hbox .widget-html").all():
        assert table.bounding_box()["x"] + table.bounding_box()["width"] <= right + 1


def test_the_piece_map_is_drawn_at_its_size_and_up_to_date(notebook: Any) -> None:
    explorer = output_of(notebook, 9)
    last = output_of(notebook, 22).text_content()
    held = int(re.search(r"from (\d+) of 65 pieces", last).group(1))
    explorer.get_by_text(f"{held} of 65 pieces fetched").wait_for()
    pictures = explorer.locator("img:visible").all()
    assert len(pictures) >= 2 + 4  # the timeline, the piece map, the grid's 4 thumbnails
    for img in pictures:
        natural = img.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        box = img.bounding_box()
        assert box["width"] <= natural[0] + 0.5
        assert box["width"] / box["height"] == pytest.approx(natural[0] / natural[1], rel=0.01)


def test_the_widgets_still_work_after_run_all(notebook: Any) -> None:
    explorer = output_of(notebook, 9)
    explorer.locator("select").select_option("all")  # every keyframe from 20 s to 50 s
    explorer.get_by_text("16 of 16 keyframes between 20.0 and 50.0").wait_for()
    explorer.get_by_role("button", name="Show thumbnails").click()
    explorer.get_by_text("16 of 16 shown").wait_for()
    assert explorer.locator("button.mod-danger").count() == 0
    assert notebook.get_by_text("client was closed").count() == 0
