"""Unit tests: the checks on a finished clip (render/quality.py) against synthetic bad clips, and the `qc:` policy.

Nothing is stubbed: each clip is written as real H.264 + AAC with the project's writer and decoded back; the
text check runs Debian's tesseract (skipped, with its note checked, where it is not installed).
"""

import dataclasses

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ltx_flows.media.audio import Audio
from ltx_flows.media.write import write_clip
from ltx_flows.media.ocr import tesseract_available
from ltx_flows.render.quality import judge, measure_clip, seam_score
from ltx_flows.storyboard.quality import CHECKS, DEFAULT_THRESHOLDS, Qc, QcPolicy, resolve_qc

FRAMES, HEIGHT, WIDTH, FPS = 25, 256, 384, 24


def moving() -> np.ndarray:
    """A textured picture drifting a few pixels a frame: motion, steady brightness, no text."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = [(np.sin((x + 6 * t) / 17) + np.cos((y - 3 * t) / 23)) * 60 + 128 for t in range(FRAMES)]
    return np.repeat(np.stack(frames)[..., None], 3, axis=-1).clip(0, 255).astype(np.uint8)


def tone(amplitude: float = 0.3) -> Audio:
    t = np.arange(round(FRAMES / FPS * 48000)) / 48000
    wave = amplitude * np.sin(2 * np.pi * 440 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    return Audio(np.stack([wave, wave]).clip(-1, 1).astype(np.float32), 48000)


def captioned() -> np.ndarray:
    frames = moving()
    for index, frame in enumerate(frames):
        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image)
        draw.rectangle([20, 190, 364, 240], fill=(0, 0, 0))
        draw.text((30, 195), "HELLO WORLD SUBTITLE", fill=(255, 255, 255), font=ImageFont.load_default(size=28))
        frames[index] = np.asarray(image)
    return frames


def flickering() -> np.ndarray:
    frames = moving().astype(np.int16)
    frames[1::2] += 25  # every other frame 25 grey levels brighter
    return frames.clip(0, 255).astype(np.uint8)


FAULTS = {
    "black": lambda: (np.zeros((FRAMES, HEIGHT, WIDTH, 3), np.uint8), tone()),
    "frozen": lambda: (np.repeat(moving()[:1], FRAMES, axis=0), tone()),
    "flicker": lambda: (flickering(), tone()),
    "clipping": lambda: (moving(), tone(amplitude=3.0)),  # clipped flat at full scale
    "silence": lambda: (moving(), Audio(np.zeros((2, 50000), np.float32), 48000)),
    "text": lambda: (captioned(), tone()),
}


def scored(tmp_path, name, frames, audio, policy=QcPolicy()):
    clip = write_clip(frames, tmp_path / f"{name}.mp4", FPS, audio=audio)
    return judge(measure_clip(clip, FPS, FRAMES, sound_expected=True, policy=policy), policy)


def test_a_clean_clip_passes_every_check(tmp_path):
    verdict = scored(tmp_path, "clean", moving(), tone())
    assert verdict.passed, verdict.failed
    assert verdict.scores.frames == FRAMES  # the decode that scored it counted (and proved) every frame
    expected = set(CHECKS) - {"seams"} - (set() if tesseract_available() else {"text"})
    assert set(verdict.scores.scores) == expected
    for name, score in verdict.scores.scores.items():  # far below, not just below
        assert score <= DEFAULT_THRESHOLDS[name] / 3, (name, score)


@pytest.mark.parametrize("fault", FAULTS)
def test_each_check_catches_its_own_fault(tmp_path, fault):
    if fault == "text" and not tesseract_available():
        pytest.skip("tesseract is not installed")
    frames, audio = FAULTS[fault]()
    # OCR (the slowest check) only where it is the check under test; the clean clip shows it reads nothing there.
    policy = QcPolicy() if fault == "text" else dataclasses.replace(QcPolicy(), text=None)
    verdict = scored(tmp_path, fault, frames, audio, policy)
    assert fault in verdict.failed, verdict.scores.scores
    # Far past its threshold: the default is not tuned to the edge of this one clip.
    threshold = DEFAULT_THRESHOLDS[fault]
    assert verdict.scores.scores[fault] >= (1.5 * threshold if threshold else 1), verdict.scores.scores
    # A black clip is also frozen; every other fault is caught by its own check alone.
    assert set(verdict.failed) == ({"black", "frozen"} if fault == "black" else {fault})
    if fault == "text":
        assert "SUBTITLE" in verdict.scores.notes["text"]


def test_a_check_turned_off_or_loosened_lets_its_fault_pass(tmp_path):
    frames, audio = FAULTS["frozen"]()
    off = resolve_qc(Qc(frozen=False), None)
    assert "frozen" not in scored(tmp_path, "off", frames, audio, off).scores.scores
    loose = resolve_qc(None, Qc(frozen=0.99))
    assert scored(tmp_path, "loose", frames, audio, loose).passed


def test_a_missing_sound_track_where_sound_is_expected_is_silent_throughout(tmp_path):
    clip = write_clip(moving(), tmp_path / "mute.mp4", FPS)
    verdict = judge(measure_clip(clip, FPS, FRAMES, sound_expected=True, policy=QcPolicy()), QcPolicy())
    assert verdict.failed.keys() == {"silence"}
    assert verdict.scores.notes["silence"] == "the clip has no sound track"
    assert verdict.scores.scores["silence"] == pytest.approx(FRAMES / FPS)
    # A shot that should have no sound is not held to it.
    assert judge(measure_clip(clip, FPS, FRAMES, sound_expected=False, policy=QcPolicy()), QcPolicy()).passed


def test_without_tesseract_the_text_check_is_skipped_with_a_note(tmp_path, monkeypatch):
    clip = write_clip(captioned(), tmp_path / "caption.mp4", FPS, audio=tone())
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract binary on it
    scores = measure_clip(clip, FPS, FRAMES, sound_expected=True, policy=QcPolicy())
    assert "text" not in scores.scores
    assert "not installed" in scores.notes["text"]


def test_seam_score_is_the_worst_join_over_the_median_step():
    steps = np.full(40, 2.0)
    steps[20] = 12.0  # frame 20 -> 21: inside the join starting at frame 18 (overlap 4: steps 18..22)
    assert seam_score(steps, joins=[18], overlap=4) == pytest.approx(6.0)
    assert seam_score(np.full(40, 2.0), joins=[18], overlap=4) == pytest.approx(1.0)


def test_shot_qc_overrides_the_film_key_by_key():
    policy = resolve_qc(Qc(retries=2, black=0.1, text=False), Qc(black=0.5, on_fail="fail"))
    assert (policy.retries, policy.on_fail, policy.black, policy.text) == (2, "fail", 0.5, None)
    assert policy.frozen == DEFAULT_THRESHOLDS["frozen"]
    assert "text" not in policy.thresholds()


def test_a_long_take_whose_sound_jumps_at_a_join_fails_the_seam_check_on_its_sound(tmp_path):
    from ltx_flows.render.seams import sound_seam_scores

    join, overlap = 12, 2
    broken = tone()
    start = round(join * 48000 / FPS)
    broken.samples[:, start:start + 1440] = 0  # a 30 ms gap where the segments meet
    policy = dataclasses.replace(QcPolicy(), text=None)
    scored_clips = {}
    for name, audio in (("seamless", tone()), ("gap", broken)):
        clip = write_clip(moving(), tmp_path / f"{name}.mp4", FPS, audio=audio)
        scores = measure_clip(clip, FPS, FRAMES, sound_expected=True, policy=policy, joins=[join], overlap=overlap)
        scored_clips[name] = judge(scores, policy)
        # The same score the manifest gives the join from its own decode (render/seams.py): the samples line up.
        [manifest] = sound_seam_scores(clip, [join], overlap, FPS)
        assert f"sound {manifest['score']:.3g}" in scores.notes["seams"], (scores.notes, manifest)
    assert scored_clips["seamless"].passed, scored_clips["seamless"].scores.scores
    assert scored_clips["gap"].failed.keys() == {"seams"}, scored_clips["gap"].scores.scores
    assert scored_clips["gap"].scores.scores["seams"] >= 1.5 * DEFAULT_THRESHOLDS["seams"]
    assert "picture" in scored_clips["gap"].scores.notes["seams"]  # the picture's own seam is fine: the sound fails
