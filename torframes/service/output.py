"""Where a batch's files go: screenshots, keyframe tables, contact sheets, results.

An :class:`OutputSink` is one output folder: a local path, or any
`fsspec <https://filesystem-spec.readthedocs.io>`_ URL (``memory://``,
``file://``, ``s3://``, ``gs://``, ``sftp://``...), so the workers of a
cluster can write to shared or object storage. :meth:`OutputSink.open`
picks the kind. Each file is written whole or not at all:

- a local folder (also ``file://`` URLs): through
  :func:`torframes.atomic.atomic_write`, a temporary name in the same
  folder, then a rename (``owned``: the job's lease holder alone writes
  it, so a temporary file left by a writer killed with SIGKILL is replaced
  by the next write of the same name);
- an object store (``memory``, ``s3``, ``gs``, ``az``...): one put of the
  whole object (object stores show an object whole or not at all);
- any other file system: the bytes to a temporary name beside the target,
  then a move onto it.

Paths handed back (and recorded in the job store) are the folder joined
with the file's name, as :meth:`OutputSink.path` makes them: plain paths
for a local folder (and ``file://``), URLs otherwise.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from torframes.atomic import PARTIAL_SUFFIX, atomic_write

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image

__all__ = ["OBJECT_STORES", "FsspecSink", "OutputSink", "image_extension", "is_url"]

#: fsspec protocols whose put writes an object whole (never seen in part).
OBJECT_STORES = frozenset(
    {"memory", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oci", "oss", "r2"}
)


def is_url(location: str | os.PathLike[str]) -> bool:
    """True for an fsspec URL (``proto://...`` or a chained ``a::b://...``), not a plain path."""
    text = os.fspath(location)
    return "://" in text or "::" in text


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
        """The sink for a local folder, a ``file://`` URL (a local folder) or any fsspec URL."""
        if isinstance(location, OutputSink):
            return location
        text = os.fspath(location)
        if not is_url(text):
            return OutputSink(text)
        if text.startswith("file://"):
            from fsspec.implementations.local import LocalFileSystem

            return OutputSink(LocalFileSystem._strip_protocol(text))
        return FsspecSink(text)

    @property
    def location(self) -> str:
        """The folder, as given."""
        return os.fspath(self.root)

    @property
    def is_remote(self) -> bool:
        """False for a local folder (plain paths), True for an fsspec URL."""
        return False

    def path(self, name: str) -> str:
        """Where the file ``name`` is (what the job store records)."""
        return os.fspath(self.root / name)

    def child(self, name: str) -> OutputSink:
        """The sink for the subfolder ``name``."""
        return OutputSink(self.root / name)

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

    def remove(self, name: str) -> None:
        """Delete file ``name`` if it is there."""
        (self.root / name).unlink(missing_ok=True)

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


class FsspecSink(OutputSink):
    """An output folder at an fsspec URL (see the module docstring for how files are written)."""

    def __init__(self, url: str) -> None:
        from fsspec.core import url_to_fs

        self.url = url.rstrip("/")
        self.fs, root = url_to_fs(self.url)
        self._root = root.rstrip("/")
        protocols = self.fs.protocol
        protocols = (protocols,) if isinstance(protocols, str) else tuple(protocols)
        self.whole_puts = bool(OBJECT_STORES.intersection(protocols))

    @property
    def location(self) -> str:
        return self.url

    @property
    def is_remote(self) -> bool:
        return True

    def path(self, name: str) -> str:
        return f"{self.url}/{name}"

    def child(self, name: str) -> OutputSink:
        return FsspecSink(self.path(name))

    def _inside(self, name: str) -> str:
        return f"{self._root}/{name}"

    def ensure(self) -> None:
        self.fs.makedirs(self._root, exist_ok=True)

    @contextlib.contextmanager
    def writing(self, name: str, *, owned: bool = True) -> Iterator[BinaryIO]:
        buffer = io.BytesIO()
        yield buffer
        data = buffer.getvalue()
        target = self._inside(name)
        if self.whole_puts:
            self.fs.pipe_file(target, data)
            return
        unique = "" if owned else f".{secrets.token_hex(6)}"
        partial = self._inside(f".{name}{unique}{PARTIAL_SUFFIX}")
        try:
            self.fs.pipe_file(partial, data)
            self.fs.mv(partial, target)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm_file(partial)
            raise

    def read_bytes(self, path: str) -> bytes:
        inside = self.fs._strip_protocol(path) if is_url(path) else path
        return bytes(self.fs.cat_file(inside))

    def exists(self, name: str) -> bool:
        return bool(self.fs.exists(self._inside(name)))

    def list(self) -> list[str]:
        if not self.fs.isdir(self._root):
            return []
        names = []
        for entry in self.fs.ls(self._root, detail=True):
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            partial = name.startswith(".") and name.endswith(PARTIAL_SUFFIX)
            if entry.get("type") == "file" and not partial:
                names.append(name)
        return sorted(names)

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._inside(name))
