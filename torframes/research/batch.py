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

__all__ = ["batch_sheets", "write_job_sheet"]


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
        ext = "jpg" if fmt == "jpeg" else fmt
        target = directory / f"{row['infohash']}-job{job}.sheet.{ext}"
        shots = list(zip(paths, times, strict=True))
        written[int(job)] = await asyncio.to_thread(
            write_job_sheet, shots, header, target, fmt, columns=columns, tile_size=tile_size
        )
    return written


def write_job_sheet(
    shots: list[tuple[str, float]],
    header: list[str],
    target: Path,
    fmt: str = "jpeg",
    *,
    columns: int = 4,
    tile_size: tuple[int, int] = (160, 120),
) -> Path:
    """Draw a sheet of a job's written screenshots (``(path, time)``) under ``header``; write it."""
    tiles = []
    for path, seconds in shots:
        with Image.open(path) as image:
            tiles.append((seconds, image.convert("RGB")))
    sheet = render_sheet(tiles, columns=columns, header=header, tile_size=tile_size)[0]
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_image(sheet, target, fmt)
