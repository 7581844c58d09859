"""Checks on a finished shot clip: black, frozen, flickering picture, a long take's seams (picture and sound), clipped
or silent sound, and text on screen, measured in the one decode that proves the clip whole
(`media.read.decoded_frames`).

Plain numpy on the decoded frames' luma plane (every 4th pixel each way: enough for averages, a sixteenth of
the work) and on the decoded sound samples; OCR (tesseract, `media.ocr`) on a few frames only. No
Prefect, no torch. `measure_clip` gives the scores, `judge` holds them against a shot's `QcPolicy`
(storyboard/quality.py, where the thresholds are documented).
"""

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field

import av
import numpy as np

from ..media.ocr import TextReader, ocr_picture, tesseract_available
from ..media.read import decoded_frames
from ..plan.planner import RenderPlan, ShotPlan
from ..storyboard.quality import QcPolicy
from .seams import join_ratios, sound_seams_of

log = logging.getLogger(__name__)

# A frame is black when its mean luma (limited range: black is 16, white 235) is below this: under 4 % grey.
BLACK_LUMA = 25.0
# A frame step is frozen when the mean luma difference is below this: H.264 repeats a still picture exactly
# (skip blocks), while even a slow pan or the grain of a generated clip moves it by a grey level or more.
FROZEN_DIFFERENCE = 0.1
# What `flicker_score` divides by is at least this (grey levels), and at least this share of the shot's motion:
# a shot that moves a lot changes its mean brightness more from frame to frame without flickering.
MIN_BRIGHTNESS_STEP = 1.0
MOTION_SHARE = 0.1
# Clipped sound: samples at or within 1 dB of full scale. Not full scale itself: AAC rings around a clipped peak,
# so a track clipped flat decodes to samples between about 0.9 and 1.1.
CLIPPED_LEVEL = 0.89
# Sound quieter than this (dBFS, over 20 ms windows) counts as silence.
SILENCE_DB = -60.0
SILENCE_WINDOW_SECONDS = 0.02
# OCR reads this many frames, spread over the clip (which words count: media/ocr.py).
OCR_FRAMES = 3
# Luma is read at every STRIDE-th pixel each way.
STRIDE = 4


@dataclass
class ClipScores:
    """What `measure_clip` found: the frame count the decode proved, each check's score, and notes
    (a check that could not run, or what a score saw)."""

    frames: int
    scores: dict[str, float]
    notes: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0  # the decode and the checks together


def measure_clip(
    path: str | os.PathLike, fps: int, expected_frames: int, sound_expected: bool, policy: QcPolicy,
    joins: list[int] = (), overlap: int = 0,
) -> ClipScores:
    """Decode the clip once, checking it is whole, and score every check `policy` has on.

    `sound_expected`: the shot should carry sound (a missing track then counts as silent throughout).
    `joins`/`overlap`: a long take's join starts, for the seam check. Raises DamagedMediaError as
    `decoded_frames` does.
    """
    start = time.perf_counter()
    wanted = policy.thresholds()
    ocr_at = set()
    notes = {}
    if "text" in wanted:
        if tesseract_available():
            ocr_at = {round(i * (expected_frames - 1) / max(OCR_FRAMES - 1, 1)) for i in range(OCR_FRAMES)}
        else:
            notes["text"] = "skipped: tesseract (Debian tesseract-ocr) is not installed"
    means, steps, ocr_images = [], [], []
    previous = None
    sound_blocks, rates = [], []

    def on_frame(frame: av.VideoFrame) -> None:
        nonlocal previous
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, :frame.width]
        if len(means) in ocr_at:
            ocr_images.append(ocr_picture(luma))
        small = luma[::STRIDE, ::STRIDE].astype(np.float32)
        mean = float(small.mean())
        if previous is not None:
            # Motion with the brightness change taken out: a flicker moves the mean, not the picture.
            steps.append((float(np.abs(small - previous[0]).mean()),
                          float(np.abs((small - mean) - (previous[0] - previous[1])).mean())))
        means.append(mean)
        previous = (small, mean)

    def on_sound(frame: av.AudioFrame) -> None:
        rates.append(frame.sample_rate)
        sound_blocks.append(frame.to_ndarray().reshape(len(frame.layout.channels), -1).astype(np.float32))

    # Tesseract starts before the decode, so that its model loads while the clip decodes (media/ocr.py).
    with TextReader() if ocr_at else contextlib.nullcontext() as reader:
        frames = decoded_frames(path, on_frame=on_frame, on_sound=on_sound if sound_expected else None)
        words = reader.read(ocr_images) if ocr_images else None
    scores = {}
    means_arr = np.array(means)
    if "black" in wanted:
        scores["black"] = float((means_arr < BLACK_LUMA).mean())
    if "frozen" in wanted:
        scores["frozen"] = float(np.mean([raw < FROZEN_DIFFERENCE for raw, _ in steps])) if steps else 0.0
    if "flicker" in wanted:
        scores["flicker"] = flicker_score(means_arr, np.array([motion for _, motion in steps]))
    rate = rates[0] if rates else 48000
    sound = np.concatenate(sound_blocks, axis=1) if sound_blocks else None
    if "seams" in wanted and joins:
        picture = seam_score(np.array([raw for raw, _ in steps]), list(joins), overlap)
        scores["seams"] = picture
        if sound is not None:
            # The sound's seams as the manifest scores them (render/seams.py), on the samples of this decode; the
            # check holds the worse of picture and sound to its threshold (both read about 1 when seamless).
            try:
                heard = max(seam["score"] for seam in sound_seams_of(sound.mean(axis=0), rate, list(joins), overlap,
                                                                     fps, str(path)))
                scores["seams"] = max(picture, heard)
                notes["seams"] = f"picture {picture:.3g}, sound {heard:.3g}"
            except ValueError as error:  # a track too short to measure: the silence check speaks for it
                notes["seams"] = f"picture only: {error}"
    if sound_expected and ({"clipping", "silence"} & wanted.keys()):
        if sound is None:
            notes["silence"] = "the clip has no sound track"
        if "clipping" in wanted:
            scores["clipping"] = float((np.abs(sound) >= CLIPPED_LEVEL).mean()) if sound is not None else 0.0
        if "silence" in wanted:
            scores["silence"] = (longest_silence(sound, rate) if sound is not None else frames / fps)
    if words is not None:
        scores["text"] = float(len(words))
        if words:
            notes["text"] = "read: " + " ".join(words[:12])
    return ClipScores(frames=frames, scores=scores, notes=notes, seconds=round(time.perf_counter() - start, 4))


def flicker_score(means: np.ndarray, motion: np.ndarray) -> float:
    """The largest one-frame brightness spike (a frame brighter or darker than both its neighbours, by the smaller
    of the two steps, in grey levels) over MOTION_SHARE of the shot's own median motion (frame-to-frame change with
    the brightness change taken out), at least MIN_BRIGHTNESS_STEP. A fade or a light that comes up changes brightness one way and scores about 0; a
    picture that pulses scores its pulse over how much the shot changes anyway."""
    if len(means) < 3:
        return 0.0
    before, after = means[1:-1] - means[:-2], means[1:-1] - means[2:]
    spikes = np.where(before * after > 0, np.minimum(np.abs(before), np.abs(after)), 0.0)
    typical = max(MOTION_SHARE * float(np.median(motion)) if len(motion) else 0.0, MIN_BRIGHTNESS_STEP)
    return float(spikes.max() / typical)


def seam_score(differences: np.ndarray, joins: list[int], overlap: int) -> float:
    """A long take's worst seam on luma, scored as the film's seam table scores it on colour (`seams.join_ratios`)."""
    if len(differences) == 0:
        return 0.0
    return max(join_ratios(np.concatenate([[np.nan], differences]), joins, overlap), default=0.0)


def longest_silence(sound: np.ndarray, rate: int) -> float:
    """The longest run (seconds) of 20 ms windows quieter than SILENCE_DB, all channels together."""
    window = max(int(rate * SILENCE_WINDOW_SECONDS), 1)
    count = sound.shape[1] // window
    if count == 0:
        return 0.0
    power = np.square(sound[:, :count * window]).reshape(sound.shape[0], count, window).mean(axis=(0, 2))
    quiet = 10 * np.log10(np.maximum(power, 1e-20)) < SILENCE_DB
    longest = run = 0
    for is_quiet in quiet:
        run = run + 1 if is_quiet else 0
        longest = max(longest, run)
    return longest * window / rate


@dataclass(frozen=True)
class Verdict:
    """A clip held against its policy: the checks it failed (name -> "score > threshold") and its scores."""

    scores: ClipScores
    failed: dict[str, str]

    @property
    def passed(self) -> bool:
        return not self.failed

    def as_record(self) -> dict:
        """What a shot's record, the manifest and the review page keep of it."""
        return {"passed": self.passed, "failed": self.failed, "scores": self.scores.scores,
                "notes": self.scores.notes, "seconds": self.scores.seconds}


def judge(scores: ClipScores, policy: QcPolicy) -> Verdict:
    """Which checks the clip failed: each score above its threshold."""
    failed = {name: f"{scores.scores[name]:.3g} > {threshold:g}" for name, threshold in policy.thresholds().items()
              if name in scores.scores and scores.scores[name] > threshold}
    return Verdict(scores=scores, failed=failed)


def check_shot(plan: RenderPlan, shot: ShotPlan, clip: os.PathLike) -> Verdict | None:
    """A shot clip just rendered, decoded once and held against the shot's policy; None when every check is off."""
    if not shot.qc.thresholds():
        return None
    scores = measure_clip(
        clip, plan.output.fps, shot.frames, sound_expected=plan.audio == "generate" and not shot.mute,
        policy=shot.qc, joins=[segment.start for segment in shot.segments[1:]], overlap=shot.overlap,
    )
    return judge(scores, shot.qc)
