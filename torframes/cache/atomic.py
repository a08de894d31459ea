"""Writing cache entries so that a killed process leaves nothing read as valid.

Every entry goes through :func:`torframes.atomic.atomic_write`, flushed to
disk before the rename: a reader sees the old entry or the new one, never
half of one; a temporary left by a killed writer is never an entry's name,
and is swept (:func:`sweep_temporaries`).
"""

from __future__ import annotations

from pathlib import Path

from torframes.atomic import PARTIAL_SUFFIX, atomic_write, is_partial

__all__ = ["TEMP_SUFFIX", "sweep_temporaries", "write_atomic"]

#: Suffix of temporaries; never a valid entry name.
TEMP_SUFFIX = PARTIAL_SUFFIX


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` as ``path``: temporary file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, fsync=True) as out:
        out.write(data)


def sweep_temporaries(folder: Path) -> None:
    """Delete temporaries a killed writer left in ``folder`` (call under the torrent's lock)."""
    if not folder.is_dir():
        return
    for child in folder.iterdir():
        if is_partial(child):
            child.unlink(missing_ok=True)
