"""Contact sheets for a batch: one per job done, from the screenshots it wrote.

Nothing is fetched again: each sheet is drawn from the job's screenshot
files and the times its store recorded for them
(:meth:`ScreenshotService.screenshots`, :meth:`ScreenshotService.frames`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from torframes.decode.write import write_image
from torframes.research.sheet import render_sheet

if TYPE_CHECKING:
    from torframes.service.service import ScreenshotService

__all__ = ["batch_sheets"]


async def batch_sheets(
    service: ScreenshotService,
    directory: str | Path,
    *,
    columns: int = 4,
    tile_size: tuple[int, int] = (160, 120),
    fmt: str = "jpeg",
) -> dict[int, Path]:
    """Write ``<infohash>-job<job>.sheet.<ext>`` in ``directory`` per job done; job -> path."""
    directory = Path(directory)
    results = await service.results()
    frames = await service.frames()
    written: dict[int, Path] = {}
    for job, row in results[results["status"] == "done"].iterrows():
        paths = await service.screenshots(int(job))
        times = frames.loc[frames["job"] == job, "time"].tolist()
        if not paths or len(paths) != len(times):
            continue  # a job done without frames, or from a store older than frame hashes
        header = [
            f"{row['name']}  (file {row['file']})",
            f"{row['infohash']}  {row['frames']} keyframes, fetched {row['bytes_fetched']:,} bytes",
        ]
        sheet = await asyncio.to_thread(_draw, times, paths, header, columns, tile_size)
        ext = "jpg" if fmt == "jpeg" else fmt
        target = directory / f"{row['infohash']}-job{job}.sheet.{ext}"
        directory.mkdir(parents=True, exist_ok=True)
        written[int(job)] = await asyncio.to_thread(write_image, sheet, target, fmt)
    return written


def _draw(
    times: list[float],
    paths: list[str],
    header: list[str],
    columns: int,
    tile_size: tuple[int, int],
) -> Image.Image:
    tiles = []
    for seconds, path in zip(times, paths, strict=True):
        with Image.open(path) as image:
            tiles.append((seconds, image.convert("RGB")))
    return render_sheet(tiles, columns=columns, header=header, tile_size=tile_size)[0]
