"""Joins inside a long take: crossfading the overlap, pulling colours back, and measuring seams.

A long take is rendered as segments that each share `overlap` frames with the one
before. The picture functions work on uint8 RGB frames (N, H, W, 3), one frame at a time
where they can, so memory stays at one segment however long the take is; the sound ones
on float samples (channels, samples).
"""

import os
from dataclasses import dataclass

import numpy as np

from ..media.read import iter_frames
from ..media.audio import read_audio

# How far each new segment's colours are pulled toward the first segment's (AdaIN on
# frames): 0 leaves them, 1 matches mean and spread fully. Lightricks' long-video
# samplers use about 0.25 in latent space: enough to stop drift, too little to flatten a
# take whose light really changes.
COLOUR_MATCH_FACTOR = 0.25

# Floors the median frame difference in the seam score (grey levels out of 255), so a
# still take does not divide by zero; H.264 noise alone is about this much.
MIN_MEDIAN_DIFFERENCE = 0.5

# The sound seam score (`sound_seam_scores`) reads the decoded track in 20 ms Hann windows every 10 ms.
SOUND_WINDOW_SECONDS = 0.02
SOUND_HOP_SECONDS = 0.01
# Quieter than this (dBFS) counts as this loud: jumps within near-silence are not seams.
SOUND_FLOOR_DB = -60.0
# Floors of what the sound score divides by, so a steady tone or silence does not divide by zero: a 1 dB
# step between 10 ms windows, and a rise of 5 % of the take's mean spectral magnitude, are the least that count.
MIN_LOUDNESS_STEP_DB = 1.0
MIN_FLUX = 0.05
# What a join's sound `score` means: about 1 (up to SOUND_SEAM_OK) it changes the sound no more than the take
# does elsewhere; above it, listen: a 1 ms click scores 4.5 (over noise) to 100 (on a clean tone), a 20 dB
# jump in level 15-25, a 30 ms gap about 40.
SOUND_SEAM_OK = 3.0


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


def crossfade_sound(previous: np.ndarray, following: np.ndarray) -> np.ndarray:
    """Blend two takes of the same sound samples (channels, N), fading linearly from `previous` to `following`.

    The same fade as `crossfade` gives the picture, at sample resolution: weights of `previous` run
    linspace(1, 0, N + 2)[1:-1]. Linear (not equal-power), because both sides carry the same sound
    there: the later segment's overlap was generated holding the earlier one's audio latents.
    """
    if previous.shape != following.shape:
        raise ValueError(f"crossfade_sound needs two runs of the same samples, got {previous.shape} and {following.shape}")
    weights = np.linspace(1.0, 0.0, previous.shape[-1] + 2, dtype=np.float32)[1:-1]
    return (weights * previous + (1.0 - weights) * following).astype(np.float32)


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

    if join_starts and join_starts[-1] + overlap >= len(differences):
        raise ValueError(f"{clip} has {len(differences)} frames, too few for a join at frame {join_starts[-1]}")
    ratios = join_ratios(differences, join_starts, overlap)
    return [
        {
            "frame": first,
            "score": round(ratio, 3),
            "colour_shift": round(float(np.abs(colours[first + overlap] - colours[first - 1]).mean()), 3),
        }
        for first, ratio in zip(join_starts, ratios)
    ]


def join_ratios(differences: np.ndarray, join_starts: list[int], overlap: int) -> list[float]:
    """Each join's largest frame-to-frame step from the frame before its crossfade to the first after it, over the
    median step elsewhere in the take (floored at MIN_MEDIAN_DIFFERENCE). `differences[t]` is the step from frame
    t - 1 to frame t (`differences[0]` is NaN); joins past the end are left out. Scores the film's seam table
    (colour steps, `seam_scores`) and the quality check's seam score (luma steps, `quality.seam_score`)."""
    windows = [(start, start + overlap) for start in join_starts if start < len(differences)]
    elsewhere = np.ones(len(differences), dtype=bool)
    elsewhere[0] = False
    for first, last in windows:
        elsewhere[first : last + 1] = False
    baseline = np.median(differences[elsewhere]) if elsewhere.any() else np.nanmedian(differences)
    baseline = max(float(baseline), MIN_MEDIAN_DIFFERENCE)
    return [float(np.nanmax(differences[first : last + 1])) / baseline for first, last in windows]


def sound_seam_scores(clip: str | os.PathLike, join_starts: list[int], overlap: int, fps: int) -> list[dict]:
    """Measure the sound at each join of a long take on the decoded track of its clip.

    The track (mixed to mono, 48 kHz) is read in 20 ms Hann windows every 10 ms. Two changes are
    measured between consecutive windows: the step in loudness (dB of the window's RMS, floored at
    SOUND_FLOOR_DB) and the spectral flux (how much the magnitude spectrum rose, relative to the
    take's mean magnitude). For a join whose shared frames are a .. a + overlap - 1 (the crossfade), over
    the windows from frame a - 1 to frame a + overlap:
    - `loudness_step`: the largest loudness step there, divided by the typical largest step of an
      equally long run of windows elsewhere in the take (the median over all such runs inside the
      segments; floored at MIN_LOUDNESS_STEP_DB);
    - `flux`: the largest spectral flux there, divided the same way (floored at MIN_FLUX);
    - `score`: the larger of the two. About 1, and up to SOUND_SEAM_OK (3), the join changes the sound no
      more than the take does elsewhere; a 1 ms click scores 4.5 (over noise) to 100 (on a clean tone),
      a 20 dB jump in level 15-25, a 30 ms gap about 40.
    """
    audio = read_audio(clip)
    if audio is None:
        raise ValueError(f"{clip} has no sound track to measure its joins on")
    return sound_seams_of(audio.samples.mean(axis=0), audio.rate, join_starts, overlap, fps, str(clip))


def sound_seams_of(mono: np.ndarray, rate: int, join_starts: list[int], overlap: int, fps: int, name: str) -> list[dict]:
    """`sound_seam_scores` on a decoded track already in hand (mono samples at `rate`, sample
    `round(f * rate / fps)` where frame f starts): the quality checks score it in their one decode."""
    window = round(SOUND_WINDOW_SECONDS * rate)
    hop = round(SOUND_HOP_SECONDS * rate)
    count = max(0, (len(mono) - window) // hop + 1)
    if count < 3:
        raise ValueError(f"{name} has {len(mono)} sound samples, too few to measure its joins")
    frames = np.lib.stride_tricks.sliding_window_view(mono, window)[::hop][:count] * np.hanning(window)
    rms = np.sqrt(np.mean(np.square(frames), axis=1))
    loudness = np.maximum(20 * np.log10(np.maximum(rms, 1e-12)), SOUND_FLOOR_DB)
    spectra = np.abs(np.fft.rfft(frames, axis=1))
    steps = np.concatenate([[np.nan], np.abs(np.diff(loudness))])  # steps[w]: window w - 1 to window w
    # Relative to the take's mean spectral magnitude, not the previous window's: a note starting out of a
    # pause is no seam, and a pause would make any onset look infinite.
    rises = np.maximum(spectra[1:] - spectra[:-1], 0).sum(axis=1) / max(float(spectra.sum(axis=1).mean()), 1e-9)
    flux = np.concatenate([[np.nan], rises])

    def window_of(frame: int) -> int:  # the window that starts at or after the frame's first sample
        return min(count - 1, -(-round(frame * rate / fps) // hop))

    spans = [(max(1, window_of(start - 1)), window_of(start + overlap + 1)) for start in join_starts]
    inside = np.ones(count, dtype=bool)
    inside[:2] = inside[-2:] = False  # the track's own start and end (encoder priming, padding)
    for first, last in spans:
        inside[first : last + 1] = False

    def typical_peak(values: np.ndarray, length: int, floor: float) -> float:
        # The median, over every run of `length` windows inside the segments, of the run's largest value:
        # what the take's own sound reaches over as long as a join lasts.
        masked = np.where(inside, values, np.nan)
        if length <= int(inside.sum()):
            runs = np.lib.stride_tricks.sliding_window_view(masked, length)
            runs = runs[~np.isnan(runs).any(axis=1)]
            if len(runs):
                return max(float(np.median(runs.max(axis=1))), floor)
        return max(float(np.nanmax(masked)) if inside.any() else 0.0, floor)

    scores = []
    for start, (first, last) in zip(join_starts, spans):
        length = last - first + 1
        loudness_step = float(np.max(steps[first : last + 1])) / typical_peak(steps, length, MIN_LOUDNESS_STEP_DB)
        rise = float(np.max(flux[first : last + 1])) / typical_peak(flux, length, MIN_FLUX)
        scores.append({"frame": start, "score": round(max(loudness_step, rise), 3),
                       "loudness_step": round(loudness_step, 3), "flux": round(rise, 3)})
    return scores
