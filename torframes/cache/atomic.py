"""Writing cache entries so that a killed process leaves nothing read as valid.

Every entry is written to a temporary name in its own folder, flushed to
disk, then renamed over its final name (``os.replace``: atomic on POSIX
and on Windows' NTFS within one volume). A reader sees the old entry or the
new one, never half of one; a temporary left by a killed writer is ignored
and swept (:func:`sweep_temporaries`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["TEMP_SUFFIX", "sweep_temporaries", "write_atomic"]

#: Suffix of temporaries; never a valid entry name.
TEMP_SUFFIX = ".partial"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` as ``path``: temporary file, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX
    )
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def sweep_temporaries(folder: Path) -> None:
    """Delete temporaries a killed writer left in ``folder`` (call under the torrent's lock)."""
    if not folder.is_dir():
        return
    for child in folder.iterdir():
        if child.name.startswith(".") and child.name.endswith(TEMP_SUFFIX):
            child.unlink(missing_ok=True)
