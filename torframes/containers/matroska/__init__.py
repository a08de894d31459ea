"""Matroska and WebM: keyframe tables from Cues (or Cluster probes), with no I/O.

:class:`MatroskaIndexParser` follows the contract of
:mod:`torframes.containers.base` (``feed``/``step``); ``AutoIndexParser``
picks it for the EBML magic. Its :class:`~torframes.containers.base.ContainerIndex`:

- ``container`` is the DocType, ``"matroska"`` or ``"webm"``;
- ``samples`` lists keyframes only (``complete=False``, ``sample`` NA).
  With Cues, one row per CueTrackPositions (every track the Cues name;
  FFmpeg and mkvmerge cue video keyframes): ``pts`` is CueTime (less the
  track's CodecDelay, as FFmpeg does) in Segment Ticks, ``timescale`` =
  1e9 / TimestampScale; ``offset`` is the first byte of the Cluster holding
  the keyframe and ``size`` is NA. Without Cues, the main video track's
  keyframes found by probing, with their exact ``offset`` and ``size``;
- ``locator(row)`` gives a :class:`~torframes.containers.base.SampleLocator`
  answering ``Located(offset, size, pts, is_keyframe)``: the first frame's
  payload, after the block header and lacing, i.e. FFmpeg's ``packet.pos``
  (where the block's data starts) plus the block header (4 octets for an
  unlaced block of tracks 1 to 127). The decoder is given
  ``DecoderConfig.sample_prefix + file[offset:offset+size]``;
- ``index_ranges``: EBML Header, Segment header, SeekHead(s), Info, Tracks,
  Cues, and the spans the probes read; ``layout``: every Top-Level Element
  placed, plus ``("Clusters", span)``.

Modules, one job each:

- :mod:`.elements` — Element IDs, named as in RFC 8794 / RFC 9559;
- :mod:`.ebml` — variable-size integers, element headers, typed values;
- :mod:`.segment` — EBML Header, SeekHead and Info readers;
- :mod:`.tracks` — Tracks/TrackEntry readers; :mod:`.codecs` — CodecID to
  FFmpeg decoder and extradata, header stripping;
- :mod:`.cues` — the Cues reader; :mod:`.tables` — the tracks and samples tables;
- :mod:`.blocks` — SimpleBlock/Block headers and lacing;
- :mod:`.cluster` — walking a Cluster to a block, resyncing on the Cluster ID;
- :mod:`.locate` — the sample locator; :mod:`.probe` — files without Cues;
- :mod:`.reading` — the feed/step plumbing; :mod:`.index` — the parser.
"""

from torframes.containers.matroska.index import MatroskaIndexParser
from torframes.containers.matroska.locate import ClusterLocator, MatroskaLocator

__all__ = ["ClusterLocator", "MatroskaIndexParser", "MatroskaLocator"]
