"""The decoder configuration of a transport stream's video: its frames come in packets.

A frame's bytes in a transport stream are its PES packet cut into the
payloads of 188-byte (or 192-byte M2TS) packets, between which packets of
other streams lie. A samples-table row gives the span from the frame's
first packet to the next frame's; :meth:`TsDecoderConfig.unpack` takes the
frame's elementary stream bytes out of it (:func:`.scan.access_unit`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torframes.containers.base import DecoderConfig
from torframes.containers.ts.packets import M2TS, TS
from torframes.containers.ts.scan import access_unit

__all__ = ["TsDecoderConfig"]


@dataclass(frozen=True, slots=True)
class TsDecoderConfig(DecoderConfig):
    """A :class:`DecoderConfig` whose samples are spans of transport packets of ``pid``."""

    pid: int = 0
    packet_size: int = 188

    def unpack(self, data: bytes | memoryview) -> bytes:
        """The frame's elementary stream bytes from its span of packets."""
        fmt = M2TS if self.packet_size == M2TS.size else TS
        return access_unit(bytes(data), fmt, self.pid)
