"""Decoding: one keyframe sample's bytes to a PIL image, and saving it safely."""

from torframes.decode.decoder import decode_sample, resize_image
from torframes.decode.names import screenshot_name
from torframes.decode.write import write_image

__all__ = ["decode_sample", "resize_image", "screenshot_name", "write_image"]
