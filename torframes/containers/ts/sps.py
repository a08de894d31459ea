"""Picture size from a sequence parameter set: H.264 (§7.3.2.1.1) and HEVC (H.265 §7.3.2.2).

The SPS is read only as far as ``pic_width``/``pic_height`` and the
cropping (H.264 ``frame_crop_*_offset``, HEVC ``conf_win_*_offset``), after
emulation prevention bytes are taken out (H.264 §7.4.1: ``00 00 03``).
Any inconsistency gives no size rather than an error: the size is for the
tracks table, the decoder reads the SPS itself.
"""

from __future__ import annotations

__all__ = ["sps_picture_size"]

#: profile_idc values whose SPS carries chroma_format_idc and bit depths (H.264 §7.3.2.1.1).
_HIGH_PROFILES = frozenset((100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135))
#: Largest side accepted (pixels): larger claims are noise.
MAX_SIDE = 1 << 16


class _Bits:
    """A big-endian bit reader with Exp-Golomb codes (H.264 §9.1)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise ValueError("SPS ends early")
            value = (value << 1) | ((self.data[byte] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("Exp-Golomb code over 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _rbsp(nal: bytes) -> bytes:
    """A NAL unit's payload without its emulation prevention bytes."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def sps_picture_size(codec: str, nal: bytes) -> tuple[int, int] | None:
    """``(width, height)`` after cropping from an SPS NAL unit (header included), or None."""
    try:
        if codec == "h264":
            size = _h264(_Bits(_rbsp(nal[1:])))
        elif codec == "hevc":
            size = _hevc(_Bits(_rbsp(nal[2:])))
        else:
            return None
    except ValueError:
        return None
    if size is None or not (0 < size[0] <= MAX_SIDE and 0 < size[1] <= MAX_SIDE):
        return None
    return size


def _h264(b: _Bits) -> tuple[int, int] | None:
    profile = b.u(8)
    b.u(16)  # constraint flags, level_idc
    b.ue()  # seq_parameter_set_id
    chroma = 1
    if profile in _HIGH_PROFILES:
        chroma = b.ue()
        if chroma == 3:
            b.u(1)  # separate_colour_plane_flag
        b.ue()
        b.ue()  # bit depths
        b.u(1)  # qpprime_y_zero_transform_bypass_flag
        if b.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma != 3 else 12):
                if b.u(1):
                    last = 8
                    for _ in range(16 if i < 6 else 64):
                        last = (last + b.se()) % 256 if last else 0
                        if last == 0:
                            break
    b.ue()  # log2_max_frame_num_minus4
    poc_type = b.ue()
    if poc_type == 0:
        b.ue()
    elif poc_type == 1:
        b.u(1)
        b.se()
        b.se()
        for _ in range(min(b.ue(), 255)):
            b.se()
    b.ue()  # max_num_ref_frames
    b.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs, height_units = b.ue() + 1, b.ue() + 1
    frame_mbs_only = b.u(1)
    if not frame_mbs_only:
        b.u(1)  # mb_adaptive_frame_field_flag
    b.u(1)  # direct_8x8_inference_flag
    left = right = top = bottom = 0
    if b.u(1):  # frame_cropping_flag
        left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
    sub_width, sub_height = {0: (1, 1), 1: (2, 2), 2: (2, 1), 3: (1, 1)}.get(chroma, (1, 1))
    unit_x, unit_y = sub_width, sub_height * (2 - frame_mbs_only)
    width = width_mbs * 16 - unit_x * (left + right)
    height = (2 - frame_mbs_only) * height_units * 16 - unit_y * (top + bottom)
    return width, height


def _hevc(b: _Bits) -> tuple[int, int] | None:
    b.u(4)  # sps_video_parameter_set_id
    sub_layers = b.u(3)
    b.u(1)  # sps_temporal_id_nesting_flag
    b.u(88)  # general profile: space, tier, idc, compatibility and constraint flags
    b.u(8)  # general_level_idc
    present = [(b.u(1), b.u(1)) for _ in range(sub_layers)]
    if sub_layers:
        b.u(2 * (8 - sub_layers))  # reserved_zero_2bits
    for profile, level in present:
        b.u(88 if profile else 0)
        b.u(8 if level else 0)
    b.ue()  # sps_seq_parameter_set_id
    chroma = b.ue()
    if chroma == 3:
        b.u(1)
    width, height = b.ue(), b.ue()
    if b.u(1):  # conformance_window_flag
        sub_width, sub_height = {1: (2, 2), 2: (2, 1)}.get(chroma, (1, 1))
        left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
        width -= sub_width * (left + right)
        height -= sub_height * (top + bottom)
    return width, height
