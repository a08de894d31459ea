"""MP4/MOV (ISO/IEC 14496-12, QuickTime): the ``moov`` (and movie fragment) index parser.

The stages, one module each:

* :mod:`~torframes.containers.mp4.boxes` — box headers (sizes 0, 1, < 8,
  ``uuid``) and a bounds-checked payload reader;
* :mod:`~torframes.containers.mp4.walk` — the top-level walk from headers alone;
* :mod:`~torframes.containers.mp4.find` — "find and validate" ``moov`` when
  the chain of headers breaks;
* :mod:`~torframes.containers.mp4.headers`,
  :mod:`~torframes.containers.mp4.sample_entries`,
  :mod:`~torframes.containers.mp4.sample_tables` — one small reader per box;
* :mod:`~torframes.containers.mp4.codecs` — sample entry codes to FFmpeg
  decoders and extradata;
* :mod:`~torframes.containers.mp4.moov` — the ``moov`` tree into tracks;
* :mod:`~torframes.containers.mp4.tables` — vectorised per-sample arrays;
* :mod:`~torframes.containers.mp4.timeline` — times as FFmpeg reports them
  (edit lists);
* :mod:`~torframes.containers.mp4.fragment_boxes`,
  :mod:`~torframes.containers.mp4.random_access` — the readers of movie
  fragment boxes (``trex``, ``tfhd``, ``tfdt``, ``trun``...) and of the
  indexes of fragments (``sidx``, ``mfra``/``tfra``/``mfro``);
* :mod:`~torframes.containers.mp4.moof` — one ``moof`` into runs of samples;
* :mod:`~torframes.containers.mp4.fragment_walk` — where the fragments of a
  fragmented file are, found with as few needs as its indexes allow;
* :mod:`~torframes.containers.mp4.fragments` — fragment samples with the
  times FFmpeg gives them;
* :mod:`~torframes.containers.mp4.build` — the tracks and samples tables;
* :mod:`~torframes.containers.mp4.index` — :class:`Mp4IndexParser`, one
  generator task that yields the byte ranges it needs (the shape of every
  container, :mod:`torframes.containers.reading`).
"""

from torframes.containers.mp4.boxes import BoxHeader, read_box_header
from torframes.containers.mp4.build import build_index
from torframes.containers.mp4.index import Mp4IndexParser
from torframes.containers.mp4.moov import Movie, Track, parse_moov

__all__ = [
    "BoxHeader",
    "Movie",
    "Mp4IndexParser",
    "Track",
    "build_index",
    "parse_moov",
    "read_box_header",
]
