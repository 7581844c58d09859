"""Voices on the tiny LTX-2 twin, on the real diffusers pipelines (CPU): the line is encoded with the checkpoint's own
audio VAE and its tokens reach the transformer clean at timestep 0 on every denoising step of every pass, while the
others are noised; the clip carries the given waveform itself. The test's own forward pre-hooks on the pipeline's
transformer (its audio input projection and audio time embedding, which run inside its forward, after every hook
on the transformer itself) observe what the model receives; nothing under test is stubbed."""

import subprocess

import numpy as np
import pytest
import torch

from ltx_flows.media.audio import AUDIO_RATE, Audio, read_audio
from ltx_flows.models import ltx2
from ltx_flows.models.loading import load_pipeline, load_upsampler
from ltx_flows.models.ltx2_voice import encode_line, log_mel
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.render.generate import generate_shot
from ltx_flows.render.voice import decoded_line, line_start_sample, voice_line, voiced_sound
from ltx_flows.storyboard.loading import load_storyboard

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]

BOARD = """
version: 1
name: v
model: {{family: ltx2, checkpoint: tiny, steps: 2, two_pass: {two_pass}}}
output: {{width: 128, height: 64, fps: 24}}
shots:
  - id: a
    prompt: "a presenter speaks to the camera"
    frames: 41
    voice: {{file: line.wav, at: "0.25s", text: "Good morning."}}
"""


def speak(path, text: str) -> None:
    """A line spoken by Debian's espeak-ng (22.05 kHz mono)."""
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True)


@pytest.fixture
def voiced_plan(write_storyboard, workspace):
    def make(two_pass="false"):
        speak(workspace / "line.wav", "Good morning.")
        path = write_storyboard(BOARD.format(two_pass=two_pass))
        return plan_storyboard(load_storyboard(path), path)

    return make


def test_the_mel_front_end_puts_a_tone_in_its_mel_band():
    rate = 16000
    tone = torch.from_numpy(np.sin(2 * np.pi * 1000 * np.arange(rate) / rate).astype(np.float32))[None].repeat(2, 1)
    mel = log_mel(tone, rate, 160, 64)
    assert mel.shape == (1, 2, 101, 64)
    from transformers.audio_utils import hertz_to_mel

    bands = np.linspace(0, hertz_to_mel(8000.0, "slaney"), 66)
    expected = int(np.argmin(np.abs(bands[1:-1] - hertz_to_mel(1000.0, "slaney"))))
    assert abs(int(mel[0, 0, 50].argmax()) - expected) <= 1


@pytest.mark.parametrize("two_pass", ["false", "true"])
def test_the_line_reaches_the_transformer_clean_at_timestep_zero_on_every_step_of_every_pass(tiny_cache, voiced_plan, two_pass):
    plan = voiced_plan(two_pass)
    shot, model, output = plan.shots[0], plan.model, plan.output
    pipe = load_pipeline(plan.model)
    upsample_pipe = load_upsampler(plan.model, plan.upsampler, pipe) if two_pass == "true" else None
    line = voice_line(shot, output.fps)
    tokens = ltx2.audio_tokens(pipe, shot.frames, output.fps)
    first, last = shot.voice.first_token, min(shot.voice.last_token, tokens)
    assert (first, tokens) == (6, 43) and last > first + 10  # the line (0.25 s on) leaves tokens free on both sides
    encoded = encode_line(pipe, line, shot.frames, output.fps)
    # The encoding is the line's: silence in the same place encodes to other latents.
    silent = type(line)(samples=np.zeros_like(line.samples), rate=line.rate, first_token=first, last_token=last)
    assert (encoded[first:last] - encode_line(pipe, silent, shot.frames, output.fps)[first:last]).abs().mean() > 1e-2

    inputs, timesteps = [], []
    proj = pipe.transformer.audio_proj_in.register_forward_pre_hook(lambda m, a: inputs.append(a[0].detach().clone()))
    embed = pipe.transformer.audio_time_embed.register_forward_pre_hook(lambda m, a: timesteps.append(a[0].detach().clone()))
    try:
        clip = generate_shot(pipe, shot, model, output, upsample_pipe, calls=plan.calls, voice=line)
    finally:
        proj.remove()
        embed.remove()
    steps = model.steps + (len(model.refine_sigmas) if two_pass == "true" else 0)
    assert len(inputs) == len(timesteps) == steps  # guidance 1: one transformer call a step
    first_pass = model.steps
    for call, (values, t) in enumerate(zip(inputs, timesteps)):
        t = t.reshape(values.shape[0], tokens)
        torch.testing.assert_close(values[0, first:last].float(), encoded[first:last], rtol=0, atol=1e-6)
        assert (t[:, first:last] == 0).all()
        if call < first_pass:  # the others are generated: noised, at the step's timestep
            assert (t[:, :first] > 0).all() and (t[:, last:] > 0).all()
            assert (values[0, :first].float() - encoded[:first]).abs().mean() > 0.1
        else:  # the refine keeps the first pass's whole track (freeze_audio), the line in it
            assert (t == 0).all()
    np.testing.assert_array_equal(clip.audio_latents[first:last], encoded[first:last].numpy())


def test_the_clip_carries_the_given_waveform_sample_for_sample(voiced_plan, workspace):
    """The clip's track is the line as decoded at 48 kHz, at its start sample, never the vocoder's sound (here
    stand-in generated sound, muted under the line and kept around it)."""
    plan = voiced_plan()
    shot = plan.shots[0]
    generated = Audio(np.full((2, 16000 * 2), 0.25, np.float32), 16000)
    mixed = voiced_sound(plan, shot, generated).samples
    line = decoded_line(workspace / "line.wav")
    start = line_start_sample(shot.voice, 24)
    assert start == 12000 and mixed.shape == (2, round(41 * AUDIO_RATE / 24))
    np.testing.assert_array_equal(mixed[:, start : start + line.shape[1]], line)
    # LTX-2's own sound before the line (past the resampler's first 10 ms), fading out over the 10 ms before it
    np.testing.assert_allclose(mixed[:, 480 : start - 480], 0.25, atol=1e-3)
    assert 0 < mixed[0, start - 240] < 0.25
    espeak = read_audio(workspace / "line.wav").samples
    np.testing.assert_array_equal(line, espeak)  # ffmpeg's 48 kHz stereo decode, as the film carries it


TAKE = """
version: 1
name: take
model: {family: ltx2, checkpoint: tiny, steps: 2}
output: {width: 64, height: 64, fps: 24}
shots:
  - id: talk
    prompt: "a presenter speaks while walking"
    frames: 25
    segments: {frames: 17, overlap: 9}
    voice: {file: line.wav, at: "0.1s"}
"""


def test_a_voiced_long_take_holds_each_segments_slice_of_the_line(tiny_cache, write_storyboard, workspace):
    """Each segment's line tokens reach the transformer as that segment's slice of the line, encoded, at timestep 0
    on each of its steps; the take's clip carries the line."""
    from ltx_flows.render.shot import render_shot
    from ltx_flows.render.voice import segment_voice_line
    from .unit.storyboard.test_voice import write_wav

    write_wav(workspace / "line.wav", 0.8, rate=22050)
    path = write_storyboard(TAKE)
    plan = plan_storyboard(load_storyboard(path), path)
    shot = plan.shots[0]
    pipe = load_pipeline(plan.model)
    inputs, timesteps = [], []
    proj = pipe.transformer.audio_proj_in.register_forward_pre_hook(lambda m, a: inputs.append(a[0].detach().clone()))
    embed = pipe.transformer.audio_time_embed.register_forward_pre_hook(lambda m, a: timesteps.append(a[0].detach().clone()))
    try:
        clip = render_shot(plan, shot, workspace / "renders" / "take")
    finally:
        proj.remove()
        embed.remove()
    assert [s.start for s in shot.segments] == [0, 8] and len(inputs) == 2 * plan.model.steps
    for index, segment in enumerate(shot.segments):
        line = segment_voice_line(shot, segment.start, segment.frames, 24)
        expected = encode_line(pipe, line, segment.frames, 24)
        tokens = ltx2.audio_tokens(pipe, segment.frames, 24)
        for values, t in zip(inputs[2 * index : 2 * index + 2], timesteps[2 * index : 2 * index + 2]):
            t = t.reshape(values.shape[0], tokens)
            torch.testing.assert_close(values[0, line.first_token : line.last_token].float(),
                                       expected[line.first_token : line.last_token], rtol=0, atol=1e-6)
            assert (t[:, line.first_token : line.last_token] == 0).all() and (t[:, line.last_token :] > 0).all()
    assert (shot.voice.first_token, shot.voice.last_token) == (2, 23)
    sound = read_audio(clip).samples.mean(axis=0)
    spoken = decoded_line(workspace / "line.wav").mean(axis=0)
    start = line_start_sample(shot.voice, 24)
    piece, spoken = sound[start : start + len(spoken) - 2400], spoken[: len(spoken) - 2400]
    assert np.dot(piece, spoken) / (np.linalg.norm(piece) * np.linalg.norm(spoken)) > 0.9


DUB = """
version: 1
name: dub
model: {family: ltx2, checkpoint: tiny, steps: 2}
output: {width: 64, height: 64, fps: 24}
shots:
  - id: talk
    prompt: "a presenter speaks"
    frames: 41
    retakes:
      - {from: 16, to: end, prompt: "the presenter says a new line", voice: {file: line.wav, at: 2, text: "New line."}}
"""


def test_a_retake_dubs_one_line_regenerating_its_window_to_it(tiny_cache, write_storyboard, workspace):
    """`retakes[].voice`: the retake's generation holds the line's tokens (encoded slice, timestep 0) while the shot's
    sound outside the window is held as before; the shot clip carries the line where it plays; its caption is timed."""
    from ltx_flows.render.shot import render_shot
    from ltx_flows.render.voice import voice_slice
    from .unit.storyboard.test_voice import write_wav

    write_wav(workspace / "line.wav", 0.6, rate=22050)
    path = write_storyboard(DUB)
    plan = plan_storyboard(load_storyboard(path), path)
    shot = plan.shots[0]
    retake = shot.retakes[0]
    assert retake.voice.start_frame == 18 and retake.voice.text == "New line." and plan.voiced
    undubbed = plan_storyboard(load_storyboard(write_storyboard(DUB.replace(', voice: {file: line.wav, at: 2, text: "New line."}', ""))), path)
    assert undubbed.shots[0].base_hash == shot.base_hash and undubbed.shots[0].content_hash != shot.content_hash
    pipe = load_pipeline(plan.model)
    inputs, timesteps = [], []
    proj = pipe.transformer.audio_proj_in.register_forward_pre_hook(lambda m, a: inputs.append(a[0].detach().clone()))
    embed = pipe.transformer.audio_time_embed.register_forward_pre_hook(lambda m, a: timesteps.append(a[0].detach().clone()))
    try:
        clip = render_shot(plan, shot, workspace / "renders" / "dub")
    finally:
        proj.remove()
        embed.remove()
    assert len(inputs) == 2 * plan.model.steps  # the shot's own render, then the retake's window
    line = voice_slice(retake.voice, shot.frames, retake.clip_start, retake.clip_frames, 24)
    expected = encode_line(pipe, line, retake.clip_frames, 24)
    tokens = ltx2.audio_tokens(pipe, retake.clip_frames, 24)
    for values, t in zip(inputs[2:], timesteps[2:]):
        t = t.reshape(values.shape[0], tokens)
        torch.testing.assert_close(values[0, line.first_token : line.last_token].float(),
                                   expected[line.first_token : line.last_token], rtol=0, atol=1e-6)
        assert (t[:, line.first_token : line.last_token] == 0).all()
    sound = read_audio(clip).samples.mean(axis=0)
    spoken = decoded_line(workspace / "line.wav").mean(axis=0)
    start = line_start_sample(retake.voice, 24)
    piece, spoken = sound[start : start + len(spoken) - 2400], spoken[: len(spoken) - 2400]
    assert np.dot(piece, spoken) / (np.linalg.norm(piece) * np.linalg.norm(spoken)) > 0.9
    from ltx_flows.finish.voice_section import cues

    assert [(round(c.start * 24), c.text) for c in cues(plan)] == [(18, "New line.")]


VOICED_RETAKE = """
version: 1
name: vr
model: {family: ltx2, checkpoint: tiny, steps: 2}
output: {width: 64, height: 64, fps: 24}
shots:
  - id: talk
    prompt: "a presenter speaks"
    frames: 57
    voice: {file: line.wav, at: 2, text: "Hello."}
    ambience: -12
    retakes:
      - {from: 44, to: end, prompt: "the presenter looks away"}
"""


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def test_a_voiced_shots_retake_follows_its_line_and_the_clip_lays_the_line_in_once(tiny_cache, write_storyboard,
                                                                                  workspace):
    """The shot's own render (kept for its retakes) carries its sound without the line; the retake's window is
    generated to the shot's line (its tokens held at timestep 0); the shot clip lays the line in once and applies
    `ambience` once: outside the line and the window it is the stage's sound at -12 dB, not at -24 dB. With the retake
    removed, the kept render comes back with its line laid in, without the model."""
    from ltx_flows.render.retake import base_clip
    from ltx_flows.render.shot import render_shot_cached
    from ltx_flows.render.voice import voice_slice
    from .unit.storyboard.test_voice import write_wav

    write_wav(workspace / "line.wav", 0.5, rate=22050)  # 2/24 s to 0.58 s of the shot
    path = write_storyboard(VOICED_RETAKE)
    plan = plan_storyboard(load_storyboard(path), path)
    shot, film_dir = plan.shots[0], workspace / "renders" / "vr"
    pipe = load_pipeline(plan.model)
    inputs, timesteps = [], []
    proj = pipe.transformer.audio_proj_in.register_forward_pre_hook(lambda m, a: inputs.append(a[0].detach().clone()))
    embed = pipe.transformer.audio_time_embed.register_forward_pre_hook(lambda m, a: timesteps.append(a[0].detach().clone()))
    try:
        render_shot_cached(plan, shot, film_dir, force=False, failed_attempts=[])
    finally:
        proj.remove()
        embed.remove()
    retake = shot.retakes[0]
    line = voice_slice(shot.voice, shot.frames, retake.clip_start, retake.clip_frames, 24)
    if line is not None:  # the window's clip reaches back over the line: its tokens held there, clean
        tokens = ltx2.audio_tokens(pipe, retake.clip_frames, 24)
        for t in timesteps[2 * plan.model.steps:]:
            assert (t.reshape(-1, tokens)[:, line.first_token : line.last_token] == 0).all()
    stage = read_audio(film_dir / base_clip(shot), channels=2)
    clip = read_audio(film_dir / shot.clip, channels=2)
    spoken = decoded_line(workspace / "line.wav").mean(axis=0)
    start = line_start_sample(shot.voice, 24)
    cosine = lambda a, b: float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))  # noqa: E731
    piece = slice(start, start + len(spoken) - 2400)
    assert cosine(clip.samples.mean(axis=0)[piece], spoken[: len(spoken) - 2400]) > 0.9  # the line, in the clip
    assert cosine(stage.samples.mean(axis=0)[piece], spoken[: len(spoken) - 2400]) < 0.5  # and not in the stage
    # Between the line (ends 0.59 s, 10 ms fade) and the retake's blend: the stage's own sound at -12 dB, once.
    between = slice(round(0.7 * AUDIO_RATE), round(retake.blend_start / 24 * AUDIO_RATE) - 2400)
    ratio = _rms(clip.samples[:, between]) / _rms(stage.samples[:, between])
    assert abs(20 * np.log10(ratio) + 12) < 1.5, ratio

    restored = plan_storyboard(load_storyboard(write_storyboard(VOICED_RETAKE.split("    retakes:")[0])), path)
    record = render_shot_cached(restored, restored.shots[0], film_dir, force=False, failed_attempts=[])
    assert record["status"] == "cached" and record["restored_from"] == base_clip(shot)
    again = read_audio(film_dir / shot.clip, channels=2).samples.mean(axis=0)
    assert cosine(again[piece], spoken[: len(spoken) - 2400]) > 0.9
