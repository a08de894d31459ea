"""Writing a screenshot whole or not at all.

One writer for :meth:`Video.save <torframes.api.video.Video.save>` and the
batch service: the picture is encoded through :func:`torframes.atomic.atomic_write`
(a temporary file in the target's folder, then a rename), so a file of that
name is whole, and a failed write leaves the older one untouched and no
partial file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PIL import Image

from torframes.atomic import atomic_write
from torframes.decode.names import FORMATS

__all__ = ["write_image"]


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
    with atomic_write(target, owned=owned, fsync=fsync) as stream:
        image.save(stream, format=fmt.upper(), **options)
    return target
