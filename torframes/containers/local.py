"""Index a video file on disk, reading only the ranges the parser asks for.

This is the same minimal-read loop the torrent pipeline runs, with a file's
``seek``/``read`` in place of pieces; every read is counted so tests and the
benchmark can show how little of the file was touched.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from torframes.containers.base import ByteRange, ContainerIndex, IndexLimits, IndexParser
from torframes.containers.sniff import AutoIndexParser
from torframes.errors import TruncatedContainer

__all__ = ["LocalIndex", "index_file"]


@dataclass(frozen=True)
class LocalIndex:
    """The index of a local file and the reads it took."""

    index: ContainerIndex
    file_size: int
    reads: tuple[ByteRange, ...] = field(default=())

    @property
    def tracks(self) -> pd.DataFrame:
        return self.index.tracks

    @property
    def samples(self) -> pd.DataFrame:
        return self.index.samples

    @property
    def bytes_read(self) -> int:
        return sum(r.length for r in self.reads)


def index_file(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    limits: IndexLimits | None = None,
    parser: IndexParser | None = None,
) -> LocalIndex:
    """Index the video in ``source`` (a path or a seekable binary file).

    Reads exactly the byte ranges the parser asks for. ``parser`` defaults to
    one that sniffs the container from the first bytes.
    """
    if isinstance(source, (str, os.PathLike)):
        with Path(source).open("rb") as handle:
            return index_file(handle, limits=limits, parser=parser)
    handle = source
    size = handle.seek(0, io.SEEK_END)
    parser = parser or AutoIndexParser(size, limits)
    reads: list[ByteRange] = []
    while True:
        step = parser.step()
        if isinstance(step, ContainerIndex):
            return LocalIndex(step, size, tuple(reads))
        for wanted in step.ranges:
            wanted = wanted.clip(size)
            handle.seek(wanted.start)
            data = handle.read(wanted.length)
            if len(data) != wanted.length:
                raise TruncatedContainer("file ended while reading", offset=wanted.start)
            reads.append(wanted)
            parser.feed(wanted.start, data)
