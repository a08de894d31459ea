"""Research data from screenshots: hashes as columns, contact sheets, matches across torrents.

* :mod:`~torframes.research.hashes` — pHash/dHash (64-bit, unsigned), luma, blank flag.
* :mod:`~torframes.research.frames` — ``Video.frames(hashes=True, skip_blank=True)``.
* :mod:`~torframes.research.sheet` — contact sheets drawn with Pillow only.
* :mod:`~torframes.research.contact` — ``Video.sheet``.
* :mod:`~torframes.research.match` — ``tf.match``: the same video across torrents.
* :mod:`~torframes.research.batch` — a contact sheet per job of a batch.
"""

from torframes.research.batch import batch_sheets
from torframes.research.hashes import FrameHashes, frame_hashes, hamming, hash_to_uint64
from torframes.research.match import match, match_pairs
from torframes.research.sheet import format_time, render_sheet, sheet_layout

__all__ = [
    "FrameHashes",
    "batch_sheets",
    "format_time",
    "frame_hashes",
    "hamming",
    "hash_to_uint64",
    "match",
    "match_pairs",
    "render_sheet",
    "sheet_layout",
]
