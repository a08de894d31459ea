"""Writing a file whole or not at all: the one atomic writer of the project.

The bytes go to a hidden temporary file in the target's own folder (so the
rename cannot cross file systems), optionally flushed to disk with
``fsync``, then moved over the target with :func:`os.replace` (POSIX
``rename(2)``, atomic: a reader sees the old file or the new one, never part
of one; ``MoveFileEx`` with ``MOVEFILE_REPLACE_EXISTING`` on Windows). If
writing fails, or is interrupted, the temporary file is deleted and any
older file of that name is left as it was. Used for screenshots
(:mod:`torframes.decode.write`), the batch service's tables and results,
and every persistent cache entry (:mod:`torframes.cache.atomic`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["PARTIAL_SUFFIX", "atomic_write", "is_partial"]

#: Suffix of the temporary file written before the rename; never a final name.
PARTIAL_SUFFIX = ".part"


@contextlib.contextmanager
def atomic_write(
    target: str | os.PathLike[str], *, owned: bool = False, fsync: bool = False
) -> Iterator[BinaryIO]:
    """A binary stream that becomes ``target`` when the ``with`` block ends without error.

    ``owned`` says the caller alone may write ``target`` (the batch service
    holds the job's lease): the temporary name is then fixed, so one left
    behind by a writer killed with SIGKILL is replaced and renamed away by
    the next write of the same file. Otherwise each write has a temporary
    name of its own (not ``mkstemp``'s: that makes the file 0600, not as the
    umask says), so two writers of one target never share one. With
    ``fsync`` the data reach the disk before the rename.
    """
    target = Path(target)
    unique = "" if owned else f".{secrets.token_hex(6)}"
    partial = target.with_name(f".{target.name}{unique}{PARTIAL_SUFFIX}")
    stream = open(partial, "wb" if owned else "xb")  # noqa: SIM115 - closed below, before the rename
    try:
        with stream:
            yield stream
            if fsync:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def is_partial(path: Path) -> bool:
    """True for a temporary file :func:`atomic_write` writes (one a killed writer may leave)."""
    return path.name.startswith(".") and path.name.endswith(PARTIAL_SUFFIX)
