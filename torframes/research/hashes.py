"""Perceptual hashes, brightness and a blank flag for one decoded picture.

pHash and dHash are ``imagehash.phash`` / ``imagehash.dhash`` (hash size 8:
64 bits), stored as unsigned 64-bit integers whose most significant bit is
the hash's first bit, so ``f"{value:016x}"`` is ``str(imagehash.phash(...))``.
``luma`` is the mean of the ITU-R BT.601 luma (Pillow's ``"L"`` mode), 0-255.
A picture is ``blank`` when it carries nothing to look at: a single colour,
black included (luma standard deviation at most :data:`FLAT_STD`), or near
black with little in it (mean luma at most :data:`BLACK_LUMA`, the
limited-range black level of BT.601, and standard deviation at most twice
:data:`FLAT_STD`). A dark scene with something lit in it is not blank.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import imagehash
import numpy as np
import pandas as pd
from PIL import Image

__all__ = [
    "BLACK_LUMA",
    "FLAT_STD",
    "HASH_COLUMNS",
    "HASH_DTYPES",
    "FrameHashes",
    "frame_hashes",
    "hamming",
    "hash_table",
    "hash_to_uint64",
]

#: Mean luma at or below which a picture is black (BT.601 limited-range black is 16).
BLACK_LUMA = 16.0
#: Luma standard deviation at or below which a picture is a single colour.
FLAT_STD = 4.0

#: Column -> dtype of the hash columns added to frame tables.
HASH_DTYPES: dict[str, str] = {
    "phash": "uint64",
    "dhash": "uint64",
    "luma": "float64",
    "blank": "bool",
}
HASH_COLUMNS = tuple(HASH_DTYPES)


@dataclass(frozen=True)
class FrameHashes:
    """The research columns of one picture."""

    phash: int
    dhash: int
    luma: float
    blank: bool


def hash_to_uint64(value: imagehash.ImageHash) -> int:
    """A 64-bit ``ImageHash`` as an unsigned integer, first bit most significant."""
    bits = np.asarray(value.hash, dtype=bool).ravel()
    if bits.size != 64:
        raise ValueError(f"expected a 64-bit hash, got {bits.size} bits")
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def frame_hashes(image: Image.Image) -> FrameHashes:
    """pHash, dHash, mean luma and the blank flag of ``image``."""
    luma = np.asarray(image.convert("L"), dtype=np.float64)
    mean, spread = float(luma.mean()), float(luma.std())
    return FrameHashes(
        phash=hash_to_uint64(imagehash.phash(image)),
        dhash=hash_to_uint64(imagehash.dhash(image)),
        luma=mean,
        blank=spread <= FLAT_STD or (mean <= BLACK_LUMA and spread <= 2 * FLAT_STD),
    )


def hash_table(hashes: Iterable[FrameHashes], index: pd.Index | None = None) -> pd.DataFrame:
    """The hash columns, with their fixed dtypes, one row per picture."""
    items = list(hashes)
    data = {
        "phash": np.array([h.phash for h in items], dtype=np.uint64),
        "dhash": np.array([h.dhash for h in items], dtype=np.uint64),
        "luma": np.array([h.luma for h in items], dtype=np.float64),
        "blank": np.array([h.blank for h in items], dtype=bool),
    }
    return pd.DataFrame(data, index=index)


def hamming(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Bitwise Hamming distances between 64-bit hashes (broadcast, vectorised)."""
    x = np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
    return _popcount(x)


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (``numpy.bitwise_count`` where numpy has it, else SWAR)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.int64)
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return ((x * np.uint64(0x0101010101010101)) >> np.uint64(56)).astype(np.int64)
