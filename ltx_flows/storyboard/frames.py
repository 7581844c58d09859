"""Frame arithmetic shared by validation and planning.

LTX's VAE compresses time by 8 with a causal first frame, so a clip the model
can render is 8n+1 frames long (9, 17, ..., 121, ..., 257).
"""

import hashlib
import math
from dataclasses import dataclass

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


# Retakes: how many frames blend the regenerated window into the frames around it, at each edge
# (short: only the frames right at the edge mix the two takes), and how many frames on each side
# are held as conditions at most (two latent frames and the causal first one: enough motion to
# continue, few tokens).
RETAKE_BLEND_FRAMES = 4
RETAKE_CONTEXT_FRAMES = 2 * TEMPORAL_COMPRESSION + 1


@dataclass(frozen=True)
class RetakeLayout:
    """Where a retake's generation sits in its shot, all in shot frames.

    The generated clip covers [clip_start, clip_start + clip_frames) (8n+1 frames): first `before` frames
    held as a condition at its frame 0, then frames it generates, then `after` frames held from
    `after_start` (0: none), then for LTX-2 up to 7 free frames that round the clip to 8n+1. Only
    [blend_start, blend_end) goes back into the shot: the window, and the blends on either side of it.
    """

    clip_start: int
    clip_frames: int
    before: int
    after_start: int
    after: int
    blend_start: int
    blend_end: int


def retake_layout(start: int, end: int, frames: int, family: str, window: int) -> RetakeLayout | None:
    """The generation layout of a retake of shot frames [start, end) in a shot of `frames` frames, or None when
    no layout fits one model window of `window` frames.

    The frames held after the window must start where the family's conditioning can put them: LTX-Video
    lays a multi-frame condition's later latents in place from pixel frame `frame_index` // 8 + 2 latents,
    which lines up with the clip's own latents only when `frame_index` is a multiple of 8; LTX-2 puts a
    condition at latent index k, pixel frame 8(k - 1) + 1. The search is small (a few thousand layouts)
    and prefers context on both sides, then more held frames, then fewer generated frames beyond the window.
    """
    blend_start, blend_end = max(0, start - RETAKE_BLEND_FRAMES), min(frames, end + RETAKE_BLEND_FRAMES)
    sizes = (RETAKE_CONTEXT_FRAMES, TEMPORAL_COMPRESSION + 1, 1, 0)  # 8n+1 held frames, or none
    best, best_score = None, None
    for before in sizes:
        for lead in range(TEMPORAL_COMPRESSION):  # generated frames before the blend
            clip_start = blend_start - lead - before
            if clip_start < 0:
                continue
            for after in sizes:
                for trail in range(2 * TEMPORAL_COMPRESSION):  # generated frames after the blend
                    after_start = blend_end + trail
                    local = after_start - clip_start
                    if after:
                        aligned = local % TEMPORAL_COMPRESSION == (1 if family == "ltx2" else 0)
                        if not aligned:
                            continue
                        # LTX-2's held frames end 7 before an 8n+1 clip; LTX-Video's end it.
                        clip_frames = local + after + (TEMPORAL_COMPRESSION - 1 if family == "ltx2" else 0)
                    else:
                        clip_frames = local
                    if (clip_frames - 1) % TEMPORAL_COMPRESSION or clip_frames > window:
                        continue
                    if clip_start + clip_frames > frames:
                        continue
                    both = (before > 0 or blend_start == 0) + (after > 0 or blend_end == frames)
                    score = (both, before + after, -(lead + trail + clip_frames))
                    if best_score is None or score > best_score:
                        best_score = score
                        best = RetakeLayout(clip_start, clip_frames, before, after_start if after else 0, after,
                                            blend_start, blend_end)
    return best
