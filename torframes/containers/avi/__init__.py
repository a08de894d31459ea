"""AVI (Microsoft RIFF AVI, OpenDML 1.02): the index parser.

The stages, one module each:

* :mod:`~torframes.containers.avi.riff` — chunk and list headers;
* :mod:`~torframes.containers.avi.headers` — ``avih``, ``strh``, ``strf``
  (``BITMAPINFOHEADER``, ``WAVEFORMATEX``), one reader each;
* :mod:`~torframes.containers.avi.hdrl` — the ``hdrl`` list into streams;
* :mod:`~torframes.containers.avi.indexes` — ``idx1``, ``indx`` and ``ix##``;
* :mod:`~torframes.containers.avi.codecs` — FOURCCs and format tags to
  FFmpeg decoders, and decoder configurations;
* :mod:`~torframes.containers.avi.tables` — the tracks and samples tables;
* :mod:`~torframes.containers.avi.index` — :class:`AviIndexParser`, one
  generator task that asks for byte ranges.
"""

from torframes.containers.avi.index import AviIndexParser

__all__ = ["AviIndexParser"]
