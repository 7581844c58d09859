"""Joins inside a long take: crossfading the overlap, pulling colours back, and measuring seams.

A long take is rendered as segments that each share `overlap` frames with the one
before. These functions work on uint8 RGB frames (N, H, W, 3), one frame at a time
where they can, so memory stays at one segment however long the take is.
"""

import os
from dataclasses import dataclass

import numpy as np

from .media import iter_frames

# How far each new segment's colours are pulled toward the first segment's (AdaIN on
# frames): 0 leaves them, 1 matches mean and spread fully. Lightricks' long-video
# samplers use about 0.25 in latent space: enough to stop drift, too little to flatten a
# take whose light really changes.
COLOUR_MATCH_FACTOR = 0.25

# Floors the median frame difference in the seam score (grey levels out of 255), so a
# still take does not divide by zero; H.264 noise alone is about this much.
MIN_MEDIAN_DIFFERENCE = 0.5


def crossfade(previous: np.ndarray, following: np.ndarray) -> np.ndarray:
    """Blend two takes of the same K frames, fading linearly from `previous` to `following`.

    The weights of `previous` are linspace(1, 0, K + 2)[1:-1]: never exactly 1 or 0, so
    both sides contribute to every shared frame and neither edge shows a step.
    """
    if previous.shape != following.shape:
        raise ValueError(f"crossfade needs two runs of the same frames, got {previous.shape} and {following.shape}")
    weights = np.linspace(1.0, 0.0, len(previous) + 2, dtype=np.float32)[1:-1]
    blended = np.empty_like(previous)
    for i, weight in enumerate(weights):
        mixed = weight * previous[i].astype(np.float32) + (1.0 - weight) * following[i].astype(np.float32)
        blended[i] = np.clip(np.rint(mixed), 0, 255)
    return blended


@dataclass(frozen=True)
class ColourStats:
    """Per-channel mean and standard deviation (R, G, B) of a run of frames, in grey levels."""

    mean: np.ndarray
    std: np.ndarray


def colour_stats(frames: np.ndarray) -> ColourStats:
    total = np.zeros(3)
    squares = np.zeros(3)
    for frame in frames:  # frame by frame: no float copy of the whole segment
        pixels = frame.reshape(-1, 3).astype(np.float64)
        total += pixels.sum(axis=0)
        squares += np.square(pixels).sum(axis=0)
    count = frames.shape[0] * frames.shape[1] * frames.shape[2]
    mean = total / count
    return ColourStats(mean=mean, std=np.sqrt(np.maximum(squares / count - mean**2, 0.0)))


def match_colour(frames: np.ndarray, reference: ColourStats, factor: float = COLOUR_MATCH_FACTOR) -> np.ndarray:
    """Pull `frames` (in place) `factor` of the way toward the reference's per-channel mean and spread (AdaIN)."""
    own = colour_stats(frames)
    # Below one grey level a channel is flat: scaling its spread up would only amplify noise.
    scale = reference.std / np.maximum(own.std, 1.0)
    # x + factor * ((x - mean) * scale + reference mean - x), as one affine map per channel.
    gain = (1.0 - factor + factor * scale).astype(np.float32)
    offset = (factor * (reference.mean - own.mean * scale)).astype(np.float32)
    for frame in frames:
        frame[...] = np.clip(np.rint(frame * gain + offset), 0, 255)
    return frames


def seam_scores(clip: str | os.PathLike, join_starts: list[int], overlap: int) -> list[dict]:
    """Measure each join of a long take on the decoded frames of its clip.

    For a join whose shared frames are a .. a + overlap - 1 (the crossfade):
    - `score`: the largest frame-to-frame difference from frame a - 1 to frame a + overlap
      (mean absolute difference over pixels and channels), divided by the median
      frame-to-frame difference elsewhere in the take (floored at MIN_MEDIAN_DIFFERENCE).
      About 1 means the join moves like the rest of the take; a visible jump scores
      several times that.
    - `colour_shift`: mean absolute difference, in grey levels (0-255), between the average
      colour of frame a - 1 (the last frame before the blend) and of frame a + overlap
      (the first after it).
    """
    differences = [np.nan]  # differences[t]: frame t - 1 to frame t
    colours = []
    previous = None
    for frame in iter_frames(clip):
        current = frame.astype(np.int16)
        colours.append(current.reshape(-1, 3).mean(axis=0))
        if previous is not None:
            differences.append(float(np.abs(current - previous).mean()))
        previous = current
    differences = np.array(differences)

    windows = [(start, start + overlap) for start in join_starts]
    if windows and windows[-1][1] >= len(differences):
        raise ValueError(f"{clip} has {len(differences)} frames, too few for a join at frame {windows[-1][0]}")
    inside = np.ones(len(differences), dtype=bool)
    inside[0] = False
    for first, last in windows:
        inside[first : last + 1] = False
    baseline = np.median(differences[inside]) if inside.any() else np.nanmedian(differences)
    baseline = max(float(baseline), MIN_MEDIAN_DIFFERENCE)

    return [
        {
            "frame": first,
            "score": round(float(differences[first : last + 1].max()) / baseline, 3),
            "colour_shift": round(float(np.abs(colours[last] - colours[first - 1]).mean()), 3),
        }
        for first, last in windows
    ]
