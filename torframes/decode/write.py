"""Writing a screenshot whole or not at all.

One writer for :meth:`Video.save <torframes.api.video.Video.save>` and the
batch service. The picture is encoded into a temporary file in the target's
own folder (so the rename cannot cross file systems), optionally flushed to
disk with ``fsync``, then moved over the target with :func:`os.replace`
(POSIX ``rename(2)``, atomic: a reader sees the old file or the new one,
never part of one; ``MoveFileEx`` with ``MOVEFILE_REPLACE_EXISTING`` on
Windows). If encoding or writing
fails the temporary file is deleted and any older file of that name is left
as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any

from PIL import Image

from torframes.decode.names import FORMATS

__all__ = ["write_image"]

#: Suffix of the temporary file a picture is encoded into before the rename.
PARTIAL_SUFFIX = ".part"


def write_image(
    image: Image.Image,
    target: str | os.PathLike[str],
    fmt: str = "jpeg",
    quality: int = 90,
    *,
    fsync: bool = False,
    owned: bool = False,
) -> Path:
    """Encode ``image`` as ``fmt`` (``jpeg``/``jpg``, ``png``, ``webp``) to ``target`` atomically.

    ``quality`` applies to JPEG and WebP. With ``fsync`` the data reach the
    disk before the rename (for a file recorded as written in a job store).
    ``owned`` says the caller alone may write ``target`` (the batch service
    holds the job's lease): the temporary name is then fixed, so one left
    behind by a writer killed with SIGKILL is replaced and renamed away by
    the next write of the same picture. Otherwise each write has a
    temporary name of its own. Returns ``target`` as a :class:`~pathlib.Path`.
    """
    target = Path(target)
    fmt = fmt.lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {sorted(FORMATS)}, not {fmt!r}")
    options: dict[str, Any] = {"quality": quality} if fmt in ("jpeg", "webp") else {}
    # A name of its own (not mkstemp: that makes the file 0600, not as the umask says),
    # hidden, so that two writers of one target never share a temporary file.
    unique = "" if owned else f".{secrets.token_hex(6)}"
    partial = target.with_name(f".{target.name}{unique}{PARTIAL_SUFFIX}")
    stream = open(partial, "wb" if owned else "xb")  # noqa: SIM115 - closed below, before the rename
    try:
        with stream:
            image.save(stream, format=fmt.upper(), **options)
            if fsync:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    return target
