"""The files of a torrent, read from libtorrent's file storage.

File offsets are read from the storage, never summed: v2 and hybrid torrents
(and v1 torrents made with canonical padding) put BEP 47 pad files between
files so each file starts on a piece boundary. Pad files are left out of the
table; file indices stay libtorrent's own, so they have gaps where pads were.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from torframes.errors import NoSuchFile

if TYPE_CHECKING:
    import libtorrent
    import pandas as pd

__all__ = ["BLOCK_SIZE", "FILE_DTYPES", "FileEntry", "FileLayout"]

#: Bytes per request (BEP 3 block); libtorrent's unit of fetching within a piece.
BLOCK_SIZE = 16 * 1024

#: Column dtypes of :attr:`torframes.Torrent.files`. ``index`` is
#: libtorrent's file index; the frame is also indexed by it, so
#: ``files.loc[i]`` is file ``i``.
FILE_DTYPES: dict[str, str] = {
    "index": "int64",
    "path": "string",
    "size": "int64",
    "offset": "int64",
    "piece_first": "int64",
    "piece_last": "int64",
}


@dataclass(frozen=True)
class FileEntry:
    """One real (non-pad) file of a torrent.

    ``offset`` is where the file starts in the torrent's byte space;
    ``piece_first``..``piece_last`` (inclusive) are the pieces holding it. An
    empty file holds no piece: ``piece_last == piece_first - 1``.
    """

    index: int
    path: str
    size: int
    offset: int
    piece_first: int
    piece_last: int


@dataclass(frozen=True)
class FileLayout:
    """Where each file of a torrent lies, and what travels on the wire for each piece."""

    name: str
    piece_length: int
    num_pieces: int
    total_size: int
    #: True for v2-only torrents: no pad byte of theirs is ever sent.
    v2_only: bool
    files: tuple[FileEntry, ...]
    #: Pad bytes at the end of each piece that has some, by piece index.
    pad_bytes: dict[int, int]

    @classmethod
    def from_torrent_info(cls, info: libtorrent.torrent_info) -> FileLayout:
        """Read the layout of a torrent from its metadata."""
        storage = info.layout()
        piece_length = int(info.piece_length())
        hashes = info.info_hashes()
        v2_only = bool(hashes.has_v2() and not hashes.has_v1())
        files = []
        pad_bytes: dict[int, int] = {}
        for index in range(storage.num_files()):
            size = int(storage.file_size(index))
            offset = int(storage.file_offset(index))
            if storage.file_flags(index) & storage.flag_pad_file:
                if size:  # BEP 47: a pad file ends on a piece boundary
                    piece = offset // piece_length
                    pad_bytes[piece] = pad_bytes.get(piece, 0) + size
                continue
            first = offset // piece_length
            last = (offset + size - 1) // piece_length if size else first - 1
            path = storage.file_path(index).replace("\\", "/")
            files.append(FileEntry(index, path, size, offset, first, last))
        return cls(
            name=str(info.name()),
            piece_length=piece_length,
            num_pieces=int(info.num_pieces()),
            total_size=int(info.total_size()),
            v2_only=v2_only,
            files=tuple(files),
            pad_bytes=pad_bytes,
        )

    def piece_size(self, piece: int) -> int:
        """Nominal size of ``piece`` (pad bytes included); the last piece may be short."""
        if not 0 <= piece < self.num_pieces:
            raise ValueError(f"piece {piece} is not in 0..{self.num_pieces - 1}")
        return min(self.piece_length, self.total_size - piece * self.piece_length)

    def transfer_size(self, piece: int) -> int:
        """Payload bytes a peer sends for ``piece``; libtorrent does not fetch padding.

        A v2-only torrent's pieces end where their file ends, so no pad byte
        is sent. Otherwise (v1, hybrid) libtorrent skips the 16 KiB blocks
        made only of padding but fetches a block that is partly padding whole.
        """
        size = self.piece_size(piece)
        pad = self.pad_bytes.get(piece, 0)
        if self.v2_only:
            return size - pad
        block = min(BLOCK_SIZE, self.piece_length)
        return size - pad // block * block

    def entry(self, file: int | str) -> FileEntry:
        """The file with libtorrent index ``file``, or at path ``file``.

        A path is matched as given in :attr:`files` (``name/dir/file.mkv`` in
        a multi-file torrent) or relative to the torrent's folder
        (``dir/file.mkv``). Raises :class:`NoSuchFile`.
        """
        if isinstance(file, bool) or not isinstance(file, (int, str)):
            raise NoSuchFile(f"a file is named by index or path, not {file!r}", file=repr(file))
        if isinstance(file, int):
            entry = self._by_index.get(file)
            if entry is None:
                raise NoSuchFile(
                    f"no file with index {file} (the torrent has {len(self.files)} files)",
                    file=file,
                )
            return entry
        wanted = file.replace("\\", "/").strip("/")
        entry = self._by_path.get(wanted) or self._by_path.get(f"{self.name}/{wanted}")
        if entry is None:
            raise NoSuchFile(f"no file at path {file!r}", file=file)
        return entry

    @cached_property
    def _by_index(self) -> dict[int, FileEntry]:
        return {entry.index: entry for entry in self.files}

    @cached_property
    def _by_path(self) -> dict[str, FileEntry]:
        return {entry.path: entry for entry in self.files}

    def table(self) -> pd.DataFrame:
        """The files as a DataFrame, one row per real file (see ``FILE_DTYPES``)."""
        import pandas as pd

        indices = [entry.index for entry in self.files]
        frame = pd.DataFrame(
            {
                "index": indices,
                "path": [entry.path for entry in self.files],
                "size": [entry.size for entry in self.files],
                "offset": [entry.offset for entry in self.files],
                "piece_first": [entry.piece_first for entry in self.files],
                "piece_last": [entry.piece_last for entry in self.files],
            },
            index=pd.Index(indices, dtype="int64"),
        )
        return frame.astype(FILE_DTYPES)
