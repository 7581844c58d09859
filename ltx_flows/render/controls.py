"""Controls: reference media -> the control video a shot is conditioned on.

A control's source (a video or an image) becomes a video at the shot's size, frame rate and frame
count, run through a controlnet-aux detector (canny edges, MiDaS depth or OpenPose pose):

- time: the source plays from its first frame at its own frame rate; shot frame i shows the source
  frame on screen at i / fps. A longer source is cut at the shot's end; a shorter one holds its last
  frame; an image is held for the whole shot. Each source frame is detected once, however often shown.
- space: each frame is scaled to cover the shot's size and centre-cropped (never stretched), the way
  keyframe images are, before the detector sees it.

The result is written to `renders/<name>/controls/<shot>-<kind>.mp4` for review, and cached by a hash
of everything that makes it (source bytes, kind, size, fps, frames, detector weights) under
`$LTX_FLOWS_CACHE/controls/`, so an unchanged control is never computed twice. Generation reads the
frames back from that file, so a cached control conditions exactly like a fresh one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from ..files import copy_atomic, json_sha256
from ..models.annotators import WEIGHT_FILES, annotators_source, check_weights, load_detector
from ..models.checkpoints import cache_dir, resolve_lora
from ..media.read import decoded_frames, fit_image, iter_frames, probe, read_frames
from ..media.write import ClipWriter
from ..plan.planner import ControlPlan, RenderPlan, ShotPlan
from ..plan.recipes import SIZE_STEP

log = logging.getLogger(__name__)

# Bump when preprocessing changes what a control video holds, so cached ones are not reused.
CONTROL_VERSION = 1
# Lightricks' canny thresholds for their canny IC-LoRA.
CANNY_THRESHOLDS = (100, 200)
# Control videos are inputs to the model: keep them close to lossless.
CONTROL_CRF = 12


def source_frames(path: Path) -> tuple[Iterator[np.ndarray], int, float | None]:
    """The source's RGB frames (decoded lazily, in order), how many there are, and its frame rate (None for an image)."""
    try:
        with Image.open(path) as image:
            return iter([np.asarray(image.convert("RGB"))]), 1, None
    except Exception:
        pass  # not an image: a video
    info = probe(path)
    # Counted by decoding, not from the header: a clip cut with `-c copy` holds packets its edit list hides.
    return iter_frames(path), decoded_frames(path), info.fps


def source_indices(frames: int, fps: int, source_frames: int, source_fps: float | None) -> list[int]:
    """Which source frame each of the shot's `frames` shows (see the module docstring for the rule)."""
    if source_fps is None:
        return [0] * frames
    # The small epsilon keeps exact frame boundaries (i * source_fps / fps integral) on the right frame.
    return [min(math.floor(i * source_fps / fps + 1e-9), source_frames - 1) for i in range(frames)]


def detect(kind: str, detector, frame: np.ndarray) -> np.ndarray:
    """The control image for one (already fitted) frame, as uint8 RGB of the same size."""
    height, width = frame.shape[:2]
    # controlnet-aux rescales so the short side equals these resolutions (in multiples of 64): the short
    # side keeps the frame's own size.
    side = min(height, width)
    if kind == "canny":
        low, high = CANNY_THRESHOLDS
        out = detector(frame, low_threshold=low, high_threshold=high, detect_resolution=side, image_resolution=side,
                       output_type="np")
    elif kind == "depth":
        out = detector(frame, detect_resolution=side, image_resolution=side, output_type="np")
    else:
        out = detector(frame, detect_resolution=side, image_resolution=side, include_hand=True, include_face=True,
                       output_type="np")
    out = np.asarray(out, dtype=np.uint8)
    if out.shape[:2] != (height, width):
        out = np.asarray(Image.fromarray(out).resize((width, height), Image.Resampling.BILINEAR))
    return out


def control_video_frames(
    control: ControlPlan, width: int, height: int, fps: int, frames: int, detector
) -> Iterator[np.ndarray]:
    """The control video of a shot, one (height, width, 3) uint8 frame at a time.

    Source frames are decoded in order and only the one on screen is kept, so memory stays flat
    however long the shot (a long take's control may run for minutes).
    """
    source, count, source_fps = source_frames(control.source)
    position, raw, detected = -1, None, None
    for index in source_indices(frames, fps, count, source_fps):
        while position < index:
            # A container that holds fewer frames than it claims: hold the last one, as for a short source.
            raw = next(source, raw)
            position, detected = position + 1, None
        if detected is None:
            detected = detect(control.kind, detector, np.asarray(fit_image(raw, width, height)))
        yield detected


def _weights_id(kind: str, source: str) -> list:
    # Which detector weights made a control: their files' sizes and names (hashing hundreds of MB of real
    # weights on every render would cost more than it protects).
    if not WEIGHT_FILES[kind]:
        return []
    folder = Path(source).expanduser()
    if not folder.is_dir():
        return [source, *WEIGHT_FILES[kind]]
    return [[name, (folder / name).stat().st_size] for name in WEIGHT_FILES[kind]]


def control_key(control: ControlPlan, width: int, height: int, fps: int, frames: int, weights: str) -> str:
    """A hash of everything that makes a control video."""
    inputs = {
        "version": CONTROL_VERSION,
        "kind": control.kind,
        "source_sha256": control.source_sha256,
        "size": [width, height],
        "fps": fps,
        "frames": frames,
        "weights": _weights_id(control.kind, weights),
        "canny": CANNY_THRESHOLDS if control.kind == "canny" else None,
    }
    return json_sha256(inputs)


def ensure_control_video(plan: RenderPlan, shot: ShotPlan, film_dir: Path, device: str = "cpu") -> Path:
    """Make (or reuse) the shot's control video and place it beside the shot for review; returns its path."""
    control, output = shot.control, plan.output
    # Canny needs no weights (and no tiny annotators built for it).
    weights = annotators_source(plan.model.checkpoint) if WEIGHT_FILES[control.kind] else ""
    key = control_key(control, output.width, output.height, output.fps, shot.frames, weights)
    cached = cache_dir() / "controls" / f"{key}.mp4"
    if cached.is_file():
        log.info("Shot %s: %s control from the cache (%s)", shot.id, control.kind, key[:12])
    else:
        start = time.perf_counter()
        detector = load_detector(control.kind, weights, device)
        cached.parent.mkdir(parents=True, exist_ok=True)
        with ClipWriter(cached, width=output.width, height=output.height, fps=output.fps, crf=CONTROL_CRF) as writer:
            for frame in control_video_frames(control, output.width, output.height, output.fps, shot.frames, detector):
                writer.write(frame)
        log.info("Shot %s: %s control computed in %.1fs", shot.id, control.kind, time.perf_counter() - start)
    review = film_dir / control.video
    copy_atomic(cached, review)
    return review


def control_frames(video: Path, start: int, count: int) -> np.ndarray:
    """Frames [start, start + count) of a control video: what one window (or segment) of a shot follows."""
    # Only the slice is kept: a long take's control video may not fit in memory whole.
    frames = read_frames(video, start, count) if start >= 0 else []
    if len(frames) != count:
        raise ValueError(f"{video} has {probe(video).frames} frames; frames {start}..{start + count - 1} were asked for")
    return frames


def reference_downscale(control: ControlPlan) -> int:
    """How much smaller than the shot the IC-LoRA reads the control: the storyboard's, the LoRA's metadata, or 1."""
    if control.reference_downscale is not None:
        return control.reference_downscale
    from safetensors import safe_open

    with safe_open(resolve_lora(control.lora), framework="pt") as lora:
        return int((lora.metadata() or {}).get("reference_downscale_factor", 1))


def check_controls(plan: RenderPlan) -> None:
    """Everything a plan's controls need, checked before any GPU work: detector weights and IC-LoRAs.

    Fetches what is missing from the hub (once), and raises with the file and folder named if it cannot.
    """
    for shot in plan.shots:
        if shot.control is None:
            continue
        if WEIGHT_FILES[shot.control.kind]:
            check_weights(shot.control.kind, annotators_source(plan.model.checkpoint))
        factor = reference_downscale(shot.control)
        # Two-pass reads the control in its half-size first pass.
        step = SIZE_STEP * factor * (2 if plan.model.two_pass else 1)
        if plan.output.width % step or plan.output.height % step:
            raise ValueError(
                f"shot {shot.id}: its IC-LoRA reads the control at 1/{factor} of the "
                f"{'first pass' if plan.model.two_pass else 'shot'}'s size, so width and height must be multiples "
                f"of {step}; {plan.output.width}x{plan.output.height} is not"
            )
