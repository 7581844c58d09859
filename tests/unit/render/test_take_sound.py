"""Unit tests: a long take's sound: the sample-exact crossfade at each join, the sound seam score on real
decoded audio, the segment cache with sound, and validation.

Nothing is stubbed: the seam tests write real AAC tracks with ffmpeg and score the decoded sound; the cache
tests write and read real files.
"""

import json

import numpy as np
import pytest

from ltx_flows.render.sound import TakeSound
from ltx_flows.media.audio import Audio, audio_samples
from ltx_flows.media.write import write_clip
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.render.seams import SOUND_SEAM_OK, crossfade_sound, sound_seam_scores
from ltx_flows.render.segments import Segment, load_segment, save_segment
from ltx_flows.storyboard.loading import load_storyboard

RATE, FPS = 24000, 24

TAKE = """
version: 1
name: take
model: {family: ltx2, checkpoint: tiny}
output: {width: 128, height: 64, fps: 24, audio: generate}
shots:
  - id: walk
    prompt: "a walk with footsteps"
    frames: 25
    segments: {frames: 17, overlap: 9}
"""


def _tone(seconds: float, start: float = 0.0) -> np.ndarray:
    # A 220 Hz tone with a slow swell and a warbling overtone: a take's sound that changes smoothly, the
    # same function of time whichever segment makes it.
    t = start + np.arange(round(seconds * RATE)) / RATE
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 1.5 * t))
    wave += 0.05 * np.sin(2 * np.pi * 1733 * t + 3 * np.sin(2 * np.pi * 7 * t))
    return np.stack([wave, wave]).astype(np.float32)


def _scored(tmp_path, sound: np.ndarray, name: str, frames: int = 72) -> dict:
    clip = write_clip(np.zeros((frames, 32, 32, 3), np.uint8), tmp_path / f"{name}.mp4", fps=FPS, audio=Audio(sound, RATE))
    [seam] = sound_seam_scores(clip, [32], overlap=9, fps=FPS)
    return seam


def test_sound_crossfade_fades_per_sample_like_the_picture():
    blended = crossfade_sound(np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32))
    np.testing.assert_allclose(blended[0], [0.25, 0.5, 0.75])  # weights of `previous`: 0.75, 0.5, 0.25
    with pytest.raises(ValueError):
        crossfade_sound(np.zeros((2, 3)), np.zeros((2, 4)))


def test_take_sound_is_sample_exact_and_continuous_across_the_join():
    # Two segments of 17 frames sharing 9 (25 frames): each brings the take's sound over its own frames;
    # the second is a little short (as the vocoder's output can be) and ends in silence padding.
    second = _tone(17 / FPS, start=8 / FPS)[:, :-200]
    sound = TakeSound(FPS, overlap=9)
    sound.add(Audio(_tone(17 / FPS), RATE), start=0, frames=17, last=False)
    sound.add(Audio(second, RATE), start=8, frames=17, last=True)
    track = sound.track()
    assert track.rate == RATE and track.samples.shape == (2, 25 * RATE // FPS)
    # Where both segments carry the same sound, the crossfade keeps it exactly: the track is the take's tone.
    np.testing.assert_allclose(track.samples[:, : 25 * 1000 - 200], _tone(25 / FPS)[:, : 25 * 1000 - 200], atol=1e-6)
    assert not track.samples[:, -200:].any()

    # Over the overlap (frames 8-16, samples 8000-16999) the first segment fades out sample by sample.
    other = TakeSound(FPS, overlap=9)
    other.add(Audio(np.ones((2, 17000), np.float32), RATE), start=0, frames=17, last=False)
    other.add(Audio(np.zeros((2, 17000), np.float32), RATE), start=8, frames=17, last=True)
    fade = other.track().samples[0]
    assert (fade[:8000] == 1).all() and (fade[17000:] == 0).all()
    assert np.all(np.diff(fade[8000:17000]) < 0) and 0.99 < fade[8000] < 1 and 0 < fade[16999] < 0.01


def test_sound_seam_score_is_low_for_a_smooth_join_and_high_for_a_jump_a_gap_or_a_click(tmp_path):
    take = _tone(3)
    smooth = _scored(tmp_path, take, "smooth")
    assert smooth["frame"] == 32 and smooth["score"] <= SOUND_SEAM_OK

    cut = 36 * RATE // FPS  # in the middle of the overlap (frames 32-40)
    jump = take.copy()
    jump[:, cut:] *= 0.1  # 20 dB quieter from here on
    gap = take.copy()
    gap[:, cut : cut + RATE * 30 // 1000] = 0  # 30 ms of silence
    click = take.copy()
    click[:, cut : cut + 24] += 0.9  # 1 ms spike
    scores = {name: _scored(tmp_path, sound, name)["score"] for name, sound in
              [("jump", jump), ("gap", gap), ("click", click)]}
    assert scores["jump"] > 3 * SOUND_SEAM_OK and scores["gap"] > 3 * SOUND_SEAM_OK, scores
    assert scores["click"] > SOUND_SEAM_OK, scores


def test_a_segment_is_cached_with_its_sound_and_only_whole_is_reused(write_storyboard, workspace):
    path = write_storyboard(TAKE)
    plan = plan_storyboard(load_storyboard(path), path)
    segment = plan.shots[0].segments[1]
    frames = np.random.default_rng(0).integers(0, 255, (17, 64, 128, 3), dtype=np.uint8)
    audio = Audio(_tone(17 / FPS), RATE)
    latents = np.random.default_rng(1).standard_normal((18, 32)).astype(np.float32)
    film_dir = workspace / "renders"
    save_segment(Segment(frames, audio, latents), film_dir, segment, FPS)

    found = load_segment(film_dir, segment, "s", sound=True)
    np.testing.assert_array_equal(found.frames, frames)
    np.testing.assert_array_equal(found.audio.samples, audio.samples)  # lossless, bit for bit
    np.testing.assert_array_equal(found.audio_latents, latents)
    assert found.audio.rate == RATE

    # The record's sha256 covers the sound: a changed sound file is not the take any more.
    sound_file = (film_dir / segment.cache).with_name((film_dir / segment.cache).stem + ".sound.npy")
    record = json.loads((film_dir / f"{segment.cache}.json").read_text())
    assert set(record) >= {"sound", "audio_latents"} and record["sound"]["rate"] == RATE
    np.save(sound_file, audio.samples * 0.5)
    assert load_segment(film_dir, segment, "s", sound=True) is None
    # A segment cached without sound (an earlier version) is rendered again for a take that needs it.
    save_segment(Segment(frames), film_dir, segment, FPS)
    assert load_segment(film_dir, segment, "s", sound=True) is None
    assert load_segment(film_dir, segment, "s").frames.shape == frames.shape


def test_an_ltx2_long_take_with_generated_sound_is_valid(write_storyboard):
    path = write_storyboard(TAKE)
    plan = plan_storyboard(load_storyboard(path), path)
    assert plan.audio == "generate" and len(plan.shots[0].segments) == 2 and not plan.shots[0].mute
    assert audio_samples(plan.shots[0].frames, FPS) == 50000
