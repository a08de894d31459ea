"""Where a batch's files go: screenshots, keyframe tables, contact sheets, results.

An :class:`OutputSink` is one output folder. Each file is written whole or
not at all: in a local folder through :func:`torframes.atomic.atomic_write`
(a temporary name, then a rename; ``owned``: the job's lease holder alone
writes it, so a temporary file left by a writer killed with SIGKILL is
replaced by the next write of the same name).

Paths handed back (and recorded in the job store) are the folder joined
with the file's name, as :meth:`OutputSink.path` makes them.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from torframes.atomic import atomic_write

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image

__all__ = ["OutputSink", "image_extension"]


def image_extension(fmt: str) -> str:
    """The file extension of an image format (``jpeg`` -> ``jpg``)."""
    return "jpg" if fmt == "jpeg" else fmt


class OutputSink:
    """One output folder: write a file whole, read it back, list, check."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"<OutputSink {self.location}>"

    @classmethod
    def open(cls, location: str | os.PathLike[str] | OutputSink) -> OutputSink:
        """The sink for a folder."""
        if isinstance(location, OutputSink):
            return location
        return cls(location)

    @property
    def location(self) -> str:
        """The folder, as given."""
        return os.fspath(self.root)

    def path(self, name: str) -> str:
        """Where the file ``name`` is (what the job store records)."""
        return os.fspath(self.root / name)

    def ensure(self) -> None:
        """Make the folder (and its parents) if it does not exist."""
        self.root.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def writing(self, name: str, *, owned: bool = True) -> Iterator[BinaryIO]:
        """A binary stream that becomes file ``name`` whole when the block ends without error."""
        with atomic_write(self.root / name, owned=owned) as stream:
            yield stream

    def write_bytes(self, name: str, data: bytes, *, owned: bool = True) -> str:
        """Write ``data`` as file ``name``; its path."""
        with self.writing(name, owned=owned) as stream:
            stream.write(data)
        return self.path(name)

    def read_bytes(self, path: str) -> bytes:
        """The bytes of a file written here (``path`` as :meth:`path` made it)."""
        return Path(path).read_bytes()

    def exists(self, name: str) -> bool:
        return (self.root / name).exists()

    def list(self) -> list[str]:
        """Names of the files in the folder, sorted (temporary files left out)."""
        from torframes.atomic import is_partial

        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_file() and not is_partial(p))

    # -- what a job writes ---------------------------------------------------------------------

    def write_image(self, image: Image.Image, name: str, fmt: str, quality: int) -> str:
        """Encode ``image`` as ``fmt`` into file ``name``; its path."""
        options = {"quality": quality} if fmt in ("jpeg", "webp") else {}
        with self.writing(name) as stream:
            image.save(stream, format=fmt.upper(), **options)
        return self.path(name)

    def write_table(self, table: pd.DataFrame, name: str, fmt: str) -> str:
        """Write a keyframe table (``csv`` or ``parquet``) whole; its path."""
        with self.writing(name) as stream:
            if fmt == "parquet":
                table.to_parquet(stream, index=False)
            else:
                table.to_csv(stream, index=False, mode="wb")
        return self.path(name)

    def write_sheet(
        self, shots: Sequence[tuple[str, float]], header: list[str], name: str, fmt: str
    ) -> str:
        """A contact sheet of screenshots written here (``(path, time)``), as file ``name``."""
        from PIL import Image

        from torframes.research.sheet import render_sheet

        tiles = []
        for path, seconds in shots:
            with Image.open(io.BytesIO(self.read_bytes(path))) as image:
                tiles.append((seconds, image.convert("RGB")))
        sheet = render_sheet(tiles, columns=4, header=header, tile_size=(160, 120))[0]
        return self.write_image(sheet, name, fmt, 90)
