"""Frame arithmetic shared by validation and planning.

LTX's VAE compresses time by 8 with a causal first frame, so a clip the model
can render is 8n+1 frames long (9, 17, ..., 121, ..., 257).
"""

import hashlib
import math

TEMPORAL_COMPRESSION = 8
MIN_FRAMES = 9

# The longest clip one model window renders well, per model family.
MAX_WINDOW_FRAMES = {"ltxv": 257, "ltx2": 257}

# Long takes: a shot longer than one window is rendered as chained segments of this many
# frames, each sharing `overlap` frames with the one before (Lightricks' own long-video
# samplers use windows of ~80-120 frames overlapping by about a quarter to a third).
DEFAULT_SEGMENT_FRAMES = {"ltxv": 121, "ltx2": 121}
DEFAULT_SEGMENT_OVERLAP = {"ltxv": 25, "ltx2": 25}
DEFAULT_MAX_SEGMENTS = 16


def seconds_to_frames(seconds: float, fps: int) -> int:
    # floor(x + 0.5) rather than round(): Python's round() goes to even on ties.
    return math.floor(seconds * fps + 0.5)


def snap_frames(requested: int) -> int:
    """The nearest valid LTX clip length (8n+1, at least 9); ties go up."""
    n = math.floor((requested - 1) / TEMPORAL_COMPRESSION + 0.5)
    return max(MIN_FRAMES, n * TEMPORAL_COMPRESSION + 1)


def nearest_valid_frames(value: int) -> tuple[int, int]:
    """The 8n+1 lengths just below and above `value` (for error messages)."""
    below = (value - 1) // TEMPORAL_COMPRESSION * TEMPORAL_COMPRESSION + 1
    return below, below + TEMPORAL_COMPRESSION


def split_take(total: int, frames: int, overlap: int) -> list[tuple[int, int]]:
    """(first frame, length) of each segment of a take of `total` frames.

    Every segment has `frames` frames except the last, which takes what is left:
    between `overlap` + 8 and `frames` frames. With 8n+1 lengths throughout, every
    8n+1 total is reached exactly: total = sum(lengths) - (segments - 1) x overlap.
    """
    stride = frames - overlap
    return [(k * stride, min(frames, total - k * stride)) for k in range(segment_count(total, frames, overlap))]


def segment_count(total: int, frames: int, overlap: int) -> int:
    """How many segments `split_take` makes, computed without building them (validation counts first)."""
    stride = frames - overlap
    return 1 + max(0, -(-(total - frames) // stride))  # integer ceiling: exact for any size


def resolve_position(at: int | str, fps: int, frames: int) -> int:
    """A keyframe position (a frame number, "2.5s", "start" or "end") as a frame index."""
    if isinstance(at, int):
        return at
    if at == "start":
        return 0
    if at == "end":
        return frames - 1
    return seconds_to_frames(float(at[:-1]), fps)


def derive_seed(base: int, *parts: str | int) -> int:
    """A stable 32-bit seed from a base seed and names (e.g. a shot id).

    Stable across processes and machines, unlike Python's hash().
    """
    key = "/".join([str(base), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


def ltx2_latent_index(frame: int, frames: int) -> int:
    """The latent index LTX-2 conditions a keyframe at pixel `frame` of a `frames`-long clip on.

    LTX-2 places keyframes on its latent grid: index 0 replaces the first latent (pixel frame 0), and
    index k >= 1 puts the image at pixel frame 8(k - 1) + 1. A keyframe goes to the nearest of these
    anchors; the last one is `frames - 8`, so an `end` keyframe lands 7 frames before the end.
    """
    if frame == 0:
        return 0
    last = (frames - 1) // TEMPORAL_COMPRESSION
    return min(max(math.floor((frame - 1) / TEMPORAL_COMPRESSION + 0.5) + 1, 1), last)


def ltx2_anchor_frame(index: int) -> int:
    """The pixel frame an LTX-2 latent index conditions (see `ltx2_latent_index`)."""
    return 0 if index == 0 else TEMPORAL_COMPRESSION * (index - 1) + 1
