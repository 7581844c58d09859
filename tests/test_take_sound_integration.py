"""Integration: an LTX-2 long take carrying its generated sound, through the real Prefect flow (temporary
server), the real tiny diffusers pipelines (LTX-2 and its IC-LoRA), the tiny pose annotator and real ffmpeg.

Generation is never stubbed: `ltx2.generate` is wrapped to record what each call received and returned (it
runs the real thing), and forward pre-hooks on the real transformer's audio input projection and audio
timestep embedding record what the model saw at every step.
"""

import json

import numpy as np
import pytest

from ltx_flows.models.loading import load_pipeline
from ltx_flows.render.shot import render_shot
from ltx_flows.models import ltx2
from ltx_flows.media.read import probe
from ltx_flows.media.audio import read_audio
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.render.seams import SOUND_SEAM_OK
from ltx_flows.storyboard.loading import load_storyboard

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]

# Two segments of 17 frames sharing 9 (25 frames), a pose control read from a still, a keyframe at the end.
FILM = """
version: 1
name: walk
model: {{family: ltx2, checkpoint: tiny, steps: 2}}
output: {{width: 128, height: 64, fps: 24, audio: generate}}
defaults: {{seed: 5}}
shots:
  - id: walk
    prompt: "a woman walks along a gravel path, footsteps crunching"
    frames: 25
    segments: {{frames: 17, overlap: 9}}
    control: {{kind: pose, source: {still}, strength: 0.9}}
    keyframes: [{{image: keyframes/a.png, at: end}}]
"""


class Spy:
    """Every `ltx2.generate` call's audio condition and result, and what the transformer saw in each call."""

    def __init__(self, pipe, monkeypatch):
        self.calls, self.steps = [], []
        real = ltx2.generate

        def generate_spy(*args, **kwargs):
            self.steps.append([])
            rendered = real(*args, **kwargs)
            self.calls.append((kwargs.get("audio_condition"), rendered))
            return rendered

        monkeypatch.setattr(ltx2, "generate", generate_spy)
        transformer = pipe.transformer
        self.hooks = [
            transformer.audio_proj_in.register_forward_pre_hook(lambda m, a: self.steps[-1].append({"input": a[0].clone()})),
            transformer.audio_time_embed.register_forward_pre_hook(lambda m, a: self.steps[-1][-1].update(t=a[0].clone())),
        ]

    def remove(self):
        for hook in self.hooks:
            hook.remove()


def test_a_two_segment_ltx2_take_carries_its_sound_through_the_flow(
    prefect_server, tiny_cache, write_storyboard, workspace, reference_media, monkeypatch
):
    from ltx_flows.production.flow import render_storyboard

    path = write_storyboard(FILM.format(still=reference_media["still"]))
    plan = plan_storyboard(load_storyboard(path), path)  # validation no longer asks for `mute: true`
    shot = plan.shot("walk")
    pipe = load_pipeline(plan.model)  # the flow's tasks run in this process and share it
    spy = Spy(pipe, monkeypatch)
    try:
        state = render_storyboard(str(path), out=str(workspace / "renders"), return_state=True)
    finally:
        spy.remove()
    assert state.is_completed(), state
    film_dir = workspace / "renders" / "walk"

    # Segment 2 was generated holding segment 1's audio latents from the overlap's start (frame 8: token 8 of
    # 18) as its first 10 tokens: the model saw their exact values with timestep 0 from its first call on.
    assert len(spy.calls) == 2 and spy.calls[0][0] is None
    condition, second = spy.calls[1]
    first = spy.calls[0][1].audio_latents
    start, held = ltx2.audio_tokens(pipe, 8, 24), ltx2.audio_tokens(pipe, 17, 24) - ltx2.audio_tokens(pipe, 8, 24)
    assert (start, held) == (8, 10)
    np.testing.assert_array_equal(condition.latents[:held].numpy(), first[start:].numpy())
    assert condition.hold[:held].tolist() == [1.0] * held and not condition.hold[held:].any()
    step0 = spy.steps[1][0]
    np.testing.assert_allclose(step0["input"][:, :held].float().numpy(), np.broadcast_to(first[start:].numpy(), step0["input"][:, :held].shape), atol=1e-6)
    timesteps = [step["t"].reshape(step["input"].shape[0], -1) for step in spy.steps[1]]
    assert all((t[:, :held] == 0).all() and (t[:, held:] > 0).all() for t in timesteps)
    np.testing.assert_array_equal(second.audio_latents[:held].numpy(), first[start:].numpy())  # held to the end
    assert all(step["t"].numel() == step["input"].shape[0] for step in spy.steps[0])  # segment 1: nothing held

    # The take's sound: exactly as long as its 25 frames, no gap at the join, and the film's track matches
    # its picture within a frame.
    take = probe(film_dir / "shots" / "walk.mp4")
    assert take.frames == 25 and take.audio_duration == pytest.approx(25 / 24, abs=1e-6)
    sound = read_audio(film_dir / "shots" / "walk.mp4").samples.mean(axis=0)
    windows = sound[: len(sound) // 480 * 480].reshape(-1, 480)  # 10 ms
    assert np.sqrt(np.mean(windows[2:-2] ** 2, axis=1)).min() > 0.1 * np.sqrt(np.mean(sound**2))
    film = probe(film_dir / "walk.mp4")
    assert film.frames == 25 and abs(film.audio_duration - film.duration) <= 1 / 24

    # The manifest's seam entry measures the join's sound too, within the documented range.
    manifest = json.loads((film_dir / "manifest.json").read_text())
    [seam] = manifest["shots"][0]["seams"]
    assert seam["frame"] == 8 and set(seam["sound"]) == {"score", "loudness_step", "flux"}
    assert 0 < seam["sound"]["score"] <= SOUND_SEAM_OK, seam
    assert f'<td class="">{seam["sound"]["score"]:.2f}</td></tr>' in (film_dir / "review.html").read_text()

    # The take's audio latents lie beside its clip, as for a plain shot: segment 1's, then segment 2's from its start.
    take_latents = np.load(film_dir / "shots" / "walk.mp4.audio.npy")
    assert take_latents.shape == (ltx2.audio_tokens(pipe, 25, 24), first.shape[1])
    np.testing.assert_array_equal(take_latents[:start], first[:start].numpy())
    np.testing.assert_array_equal(take_latents[start:], second.audio_latents[: len(take_latents) - start].numpy())

    # Each segment's sound is cached with it: the take resumed from its segments is the same take, sound included.
    before = read_audio(film_dir / "shots" / "walk.mp4").samples
    (film_dir / "shots" / "walk.mp4").unlink()
    spy.calls.clear()
    render_shot(plan, shot, film_dir)
    assert spy.calls == []
    np.testing.assert_array_equal(read_audio(film_dir / "shots" / "walk.mp4").samples, before)
