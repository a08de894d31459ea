"""AVI fixture files made at test time: FFmpeg's AVI muxer (through PyAV) and an OpenDML rewriter.

:func:`make_avi` encodes fixture frames (each shows its own index, see
:mod:`torframes.testing.videos`) straight into FFmpeg's AVI muxer, which
writes a legacy ``idx1``. :func:`rewrite_odml` copies the chunks of such a
file into the layout OpenDML muxers (VirtualDub, mencoder past 1 GiB)
write: an ``indx`` super index in each ``strl``, standard ``ix##`` index
chunks spread through ``movi``, and optionally ``RIFF AVIX`` lists after
the first RIFF. Whatever the writer gets wrong, FFmpeg's demux of the
result (the oracle) disagrees with.
"""

from __future__ import annotations

import fractions
import io
import struct
from pathlib import Path

import av

from torframes.testing.videos import frame_pixels

__all__ = ["ENCODERS", "make_avi", "make_large_avi", "rewrite_odml", "set_idx1_absolute"]

ENCODERS = {
    "mpeg4": ("mpeg4", "yuv420p", {"qscale": "3"}),
    "h264": ("libx264", "yuv420p", {"preset": "veryfast", "crf": "20"}),
    "mjpeg": ("mjpeg", "yuvj420p", {}),
}


def make_avi(
    path: Path,
    codec: str = "mpeg4",
    *,
    frames: int = 48,
    gop: int = 12,
    bframes: int = 0,
    fps: int = 24,
    width: int = 320,
    height: int = 240,
    audio: bool = False,
    noise: bool = False,
) -> Path:
    """Encode ``frames`` fixture frames to an AVI at ``path`` (PCM audio alongside if ``audio``)."""
    encoder, pix_fmt, options = ENCODERS[codec]
    options = dict(options)
    if codec == "h264":
        options["x264-params"] = (
            f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}:threads=1"
        )
    with av.open(str(path), "w", format="avi") as out:
        video = out.add_stream(encoder, rate=fps, options=options)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.codec_context.gop_size = gop
        video.codec_context.thread_count = 1
        if codec == "mpeg4":
            video.codec_context.max_b_frames = bframes
        sound = out.add_stream("pcm_s16le", rate=8000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(
                frame_pixels(index, width, height, noise=noise), format="rgb24"
            )
            frame.pts, frame.time_base = index, fractions.Fraction(1, fps)
            out.mux(video.encode(frame))
            if sound is not None:
                samples = 8000 // fps
                tone = av.AudioFrame(format="s16", layout="mono", samples=samples)
                tone.planes[0].update(bytes(2 * samples))
                tone.sample_rate, tone.pts = 8000, index * samples
                out.mux(sound.encode(tone))
        out.mux(video.encode(None))
        if sound is not None:
            out.mux(sound.encode(None))
    return path


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)


def _list(form: bytes, data: bytes) -> bytes:
    return b"LIST" + struct.pack("<I", len(data) + 4) + form + data


def _walk(data: bytes, start: int, stop: int) -> list[tuple[bytes, int, int]]:
    """``(fourcc, data start, size)`` of the chunks in ``[start, stop)``."""
    out, pos = [], start
    while pos + 8 <= stop:
        fourcc, size = struct.unpack_from("<4sI", data, pos)
        out.append((fourcc, pos + 8, size))
        pos += 8 + size + (size & 1)
    return out


def rewrite_odml(source: Path, target: Path, *, per_index: int = 10, riffs: int = 1) -> Path:
    """Rewrite an FFmpeg AVI (``idx1``) as OpenDML: ``indx`` + ``ix##`` chunks inside ``movi``.

    A standard index chunk follows every ``per_index`` chunks of its stream,
    inside the ``movi`` list holding them; the stream chunks are split over
    ``riffs`` RIFF lists (the first ``AVI ``, the others ``AVIX``). The old
    ``idx1`` is dropped. Keyframe flags come from the source's ``idx1``.
    """
    data = source.read_bytes()
    top = _walk(data, 12, len(data))
    hdrl = next(c for c in top if data[c[1] : c[1] + 4] == b"hdrl")
    movi = next(c for c in top if data[c[1] : c[1] + 4] == b"movi")
    idx1 = next(c for c in top if c[0] == b"idx1")
    keys = {}
    for i in range(idx1[2] // 16):
        tag, flags, _, _ = struct.unpack_from("<4sIII", data, idx1[1] + 16 * i)
        keys.setdefault(tag[:2], []).append(bool(flags & 0x10))
    packets = [(f, data[s : s + n]) for f, s, n in _walk(data, movi[1] + 4, movi[1] + movi[2])]
    streams = sorted({f[:2] for f, _ in packets})
    strls = [c for c in _walk(data, hdrl[1] + 4, hdrl[1] + hdrl[2]) if c[0] == b"LIST"]
    # Lay out the RIFFs with placeholder super indexes, then fill them in.
    entries_per_stream = {
        s: -(-sum(f[:2] == s for f, _ in packets) // per_index) + riffs for s in streams
    }
    super_size = {s: 24 + 16 * entries_per_stream[s] for s in streams}

    def header(supers: dict[bytes, bytes]) -> bytes:
        body = b""
        for chunk in _walk(data, hdrl[1] + 4, hdrl[1] + hdrl[2]):
            fourcc, start, size = chunk
            if chunk in strls:
                number = str(strls.index(chunk)).zfill(2).encode()
                inner = b"".join(
                    _chunk(f, data[s : s + n])
                    for f, s, n in _walk(data, start + 4, start + size)
                    if f in (b"strh", b"strf", b"strd", b"strn")
                )
                body += _list(b"strl", inner + _chunk(b"indx", supers[number]))
            elif fourcc == b"avih":
                body += _chunk(fourcc, data[start : start + size])
        return _list(b"hdrl", body)

    placeholder = {s: b"\0" * super_size[s] for s in streams}
    head_len = 12 + len(header(placeholder))
    per_riff = -(-len(packets) // riffs)
    out = bytearray()
    pointers: dict[bytes, list[tuple[int, int, int]]] = {s: [] for s in streams}
    seen = {s: 0 for s in streams}
    for r in range(riffs):
        movi_body = bytearray()
        movi_start = head_len if r == 0 else len(out) + 12
        pending: dict[bytes, list[tuple[int, int, bool]]] = {s: [] for s in streams}

        def flush(
            stream: bytes,
            pending: dict[bytes, list[tuple[int, int, bool]]],
            movi_body: bytearray,
            movi_start: int,
        ) -> None:
            rows = pending[stream]
            if not rows:
                return
            base = movi_start + 12
            body = struct.pack("<HBBI4sQI", 2, 0, 1, len(rows), stream + b"dc", base, 0)
            for pos, size, key in rows:
                body += struct.pack("<II", pos - base, size | (0 if key else 0x8000_0000))
            at = movi_start + 12 + len(movi_body)
            chunk = _chunk(b"ix" + stream, body)
            pointers[stream].append((at, len(chunk), len(rows)))
            movi_body += chunk
            pending[stream] = []

        for fourcc, payload in packets[r * per_riff : (r + 1) * per_riff]:
            stream = fourcc[:2]
            pos = movi_start + 12 + len(movi_body) + 8
            pending[stream].append((pos, len(payload), keys[stream][seen[stream]]))
            seen[stream] += 1
            movi_body += _chunk(fourcc, payload)
            if len(pending[stream]) == per_index:
                flush(stream, pending, movi_body, movi_start)
        for stream in streams:
            flush(stream, pending, movi_body, movi_start)
        movi_list = _list(b"movi", bytes(movi_body))
        if r == 0:
            out += b"\0" * head_len + movi_list
        else:
            out += b"RIFF" + struct.pack("<I", len(movi_list) + 4) + b"AVIX" + movi_list
        if r == 0:
            first_riff_end = len(out)
    supers = {}
    for stream in streams:
        rows = pointers[stream]
        assert len(rows) <= entries_per_stream[stream]
        body = struct.pack("<HBBI4s12x", 4, 0, 0, len(rows), stream + b"dc")
        for at, size, count in rows:
            body += struct.pack("<QII", at, size, count)
        supers[stream] = body + b"\0" * (super_size[stream] - len(body))
    first = b"RIFF" + struct.pack("<I", first_riff_end - 8) + b"AVI " + header(supers)
    out[: len(first)] = first
    target.write_bytes(bytes(out))
    return target


def set_idx1_absolute(source: Path, target: Path) -> Path:
    """Copy an AVI whose ``idx1`` offsets are relative to ``movi`` with file offsets instead.

    Both forms exist in the wild (the AVI reference says relative; some
    muxers wrote absolute ones); readers tell them apart from the first entry.
    """
    data = bytearray(source.read_bytes())
    top = _walk(bytes(data), 12, len(data))
    movi = next(c for c in top if data[c[1] : c[1] + 4] == b"movi")
    idx1 = next(c for c in top if c[0] == b"idx1")
    for i in range(idx1[2] // 16):
        at = idx1[1] + 16 * i + 8
        (offset,) = struct.unpack_from("<I", data, at)
        struct.pack_into("<I", data, at, offset + movi[1])
    target.write_bytes(bytes(data))
    return target


class _SparseFile(io.RawIOBase):
    """A seekable file that skips writing blocks of zeros, leaving holes (a sparse file)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._file = path.open("wb")
        self._pos = self._end = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, data: bytes | memoryview) -> int:  # type: ignore[override]
        data = bytes(data)
        if len(data) < 4096 or data != bytes(len(data)):
            self._file.seek(self._pos)
            self._file.write(data)
        self._pos += len(data)
        self._end = max(self._end, self._pos)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._pos, self._end)[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._file.truncate(self._end)
            self._file.close()
        super().close()


def make_large_avi(
    source: Path,
    target: Path,
    *,
    size: int = 1100 * 2**20,
    gop: int = 50,
    packet_size: int = 4 * 2**20,
    muxer_options: dict[str, str] | None = None,
) -> Path:
    """Stream-copy ``source``'s video into an AVI of about ``size`` bytes, written sparse.

    Keyframe ``i`` of every ``gop`` packets is the source's first keyframe;
    the packets between are its second packet (a P-frame) padded with zeros
    to ``packet_size`` bytes, so the file passes 1 GiB and FFmpeg's muxer
    goes OpenDML: ``RIFF AVIX`` lists with an ``ix##`` standard index at the
    end of each ``movi`` and an ``indx`` super index in the header. Zero
    blocks are not written, so the file takes little disk.
    """
    with av.open(str(source)) as src:
        stream = src.streams.video[0]
        packets = [bytes(p) for p in src.demux(stream) if p.size]
        sink = _SparseFile(target)
        with av.open(sink, "w", format="avi", options=dict(muxer_options or {})) as out:
            video = out.add_stream_from_template(stream)
            filler = packets[1] + bytes(packet_size - len(packets[1]))
            for index in range(-(-size // packet_size)):
                key = index % gop == 0
                packet = av.Packet(packets[0] if key else filler)
                packet.is_keyframe = key
                packet.pts = packet.dts = index
                packet.time_base = fractions.Fraction(1, 24)
                packet.stream = video
                out.mux(packet)
        sink.close()
    return target
