"""The one screenshot writer: whole or not at all, nothing left behind."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from torframes.decode.write import write_image


def _picture(value: int, mode: str = "RGB") -> Image.Image:
    channels = len(mode)
    return Image.fromarray(np.full((24, 32, channels), value, dtype=np.uint8), mode)


@pytest.mark.parametrize("fmt", ["jpeg", "jpg", "png", "webp"])
def test_writes_the_picture_and_nothing_else(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"shot.{fmt}"
    assert write_image(_picture(200), target, fmt, quality=95) == target
    assert os.listdir(tmp_path) == [target.name]
    with Image.open(target) as written:  # decoded by Pillow: the format is right
        assert written.format == ("JPEG" if fmt == "jpg" else fmt.upper())
        assert written.size == (32, 24)
        assert abs(int(np.asarray(written.convert("RGB")).mean()) - 200) <= 2


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "shot.jpg"
    write_image(_picture(10), target, "jpeg")
    before = target.read_bytes()
    with pytest.raises(OSError, match="RGBA"):  # Pillow cannot write RGBA as JPEG
        write_image(_picture(250, "RGBA"), target, "jpeg")
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["shot.jpg"]


def test_an_interrupted_write_leaves_no_partial(tmp_path: Path) -> None:
    class Interrupting(Image.Image):
        """A picture whose encoding is cut short by Ctrl-C, after some bytes are written."""

        def save(self, fp, format=None, **params):  # type: ignore[no-untyped-def]
            fp.write(b"\xff\xd8 half a JPEG")
            raise KeyboardInterrupt

    picture = Interrupting()
    target = tmp_path / "shot.jpg"
    with pytest.raises(KeyboardInterrupt):
        write_image(picture, target, "jpeg")
    assert os.listdir(tmp_path) == []


def test_the_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    target = tmp_path / "shot.png"
    write_image(_picture(1), target, "png")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_an_unknown_format_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        write_image(_picture(1), tmp_path / "shot.exe", "exe")
    assert os.listdir(tmp_path) == []


def test_an_owned_write_replaces_what_a_killed_writer_left(tmp_path: Path) -> None:
    """A writer killed with SIGKILL leaves its temporary file; the lease holder's next write
    of the same picture takes it over and renames it away."""
    target = tmp_path / "shot.jpg"
    left = tmp_path / ".shot.jpg.part"
    left.write_bytes(b"half a jpeg")
    write_image(_picture(90), target, "jpeg", owned=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.jpg"]
    with Image.open(target) as image:
        assert image.size == (32, 24)
