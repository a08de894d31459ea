"""MPEG transport streams (ISO/IEC 13818-1) and M2TS: the index parser.

The stages, one module each:

* :mod:`~torframes.containers.ts.packets` — packet format, sync, packet
  header and adaptation field (random_access_indicator, PCR);
* :mod:`~torframes.containers.ts.psi` — PAT and PMT sections, CRC_32;
* :mod:`~torframes.containers.ts.pes` — PES headers, PTS/DTS, 33-bit wrap;
* :mod:`~torframes.containers.ts.codecs` — stream types, keyframes and
  parameter sets in H.264, HEVC and MPEG-2 video;
* :mod:`~torframes.containers.ts.scan` — frame starts in a span of packets;
* :mod:`~torframes.containers.ts.search` — bisection on PTS to the keyframe
  at or before a time;
* :mod:`~torframes.containers.ts.config` — the decoder configuration that
  takes a frame out of its packets;
* :mod:`~torframes.containers.ts.index` — :class:`TsIndexParser`, one
  generator task that asks for byte ranges.
"""

from torframes.containers.ts.config import TsDecoderConfig
from torframes.containers.ts.index import TsIndexParser

__all__ = ["TsDecoderConfig", "TsIndexParser"]
