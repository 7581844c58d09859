"""The tiny LTX-2 checkpoint and generation paths on real diffusers pipelines (CPU, a few seconds):
sound, keyframes on the latent grid, the IC-LoRA, and two-pass rendering for both families.
Forward hooks on the real models count what ran; nothing under test is stubbed."""

import functools
import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from ltx_flows.models.loading import load_pipeline, load_upsampler
from ltx_flows.render.generate import generate_shot
from ltx_flows.models import ltx2
from ltx_flows.models.checkpoints import TINY_IC_LORA, TINY_IC_LORA_DOWNSCALE, ensure_tiny_checkpoint, resolve_lora
from ltx_flows.models.twins import UPSAMPLER_FOLDER
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.loading import load_storyboard

pytestmark = [
    pytest.mark.integration,
    # diffusers 0.42.1's scheduler calls np.array() on a torch tensor of timesteps (numpy 2 warns); not ours.
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]

BOARD = """
version: 1
name: t
model: {{family: {family}, checkpoint: tiny, steps: 2, two_pass: {two_pass}}}
output: {{width: 128, height: 64, fps: 24}}
shots:
  - id: a
    prompt: "a red ball rolls across a table"
    frames: 17
    keyframes: [{keyframes}]
"""


def plan_for(write_storyboard, family="ltx2", two_pass="false", keyframes=""):
    path = write_storyboard(BOARD.format(family=family, two_pass=two_pass, keyframes=keyframes))
    return plan_storyboard(load_storyboard(path), path)


class Recorder:
    """Records the token count of every call of a module (a forward pre-hook on the real model)."""

    def __init__(self, module, key="hidden_states"):
        self.tokens: list[int] = []
        self.handle = module.register_forward_pre_hook(self._record, with_kwargs=True)
        self.key = key

    def _record(self, module, args, kwargs):
        hidden = kwargs.get(self.key, args[0] if args else None)
        self.tokens.append(hidden.shape[1] if hidden.dim() == 3 else int(np.prod(hidden.shape[2:])))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def test_tiny_ltx2_checkpoint_layout(tiny_cache):
    path = ensure_tiny_checkpoint("ltx2")
    index = json.loads((path / "model_index.json").read_text())
    assert index["_class_name"] == "LTX2ConditionPipeline"
    for name in ("transformer", "vae", "audio_vae", "vocoder", "text_encoder", "tokenizer", "connectors", "scheduler"):
        assert name in index and (path / name).is_dir(), name
    assert (path / UPSAMPLER_FOLDER / "config.json").is_file()
    assert (ensure_tiny_checkpoint("ltxv") / UPSAMPLER_FOLDER / "config.json").is_file()
    # The IC-LoRA is a real LoRA file: PEFT A/B matrices for the transformer's attention, and its metadata.
    assert resolve_lora("tiny") == path / TINY_IC_LORA
    with safe_open(path / TINY_IC_LORA, framework="pt") as lora:
        keys = list(lora.keys())
        assert lora.metadata()["reference_downscale_factor"] == str(TINY_IC_LORA_DOWNSCALE)
    assert keys and all(k.startswith("transformer.") and (".lora_A." in k or ".lora_B." in k) for k in keys)


def test_video_and_sound_with_the_real_compression(write_storyboard, tiny_cache):
    plan = plan_for(write_storyboard)
    pipe = load_pipeline(plan.model)
    assert (pipe.vae.spatial_compression_ratio, pipe.vae.temporal_compression_ratio) == (32, 8)
    with torch.no_grad():
        latent = pipe.vae.encode(torch.zeros(1, 3, 17, 64, 128)).latent_dist.mode()
    assert tuple(latent.shape[2:]) == (3, 2, 4)  # 17 frames -> 3, 64 x 128 -> 2 x 4: the real 8 x 32 x 32

    clip = generate_shot(pipe, plan.shots[0], plan.model, plan.output)
    again = generate_shot(pipe, plan.shots[0], plan.model, plan.output)
    assert clip.frames.shape == (17, 64, 128, 3) and clip.frames.dtype == np.uint8
    np.testing.assert_array_equal(clip.frames, again.frames)
    samples = clip.audio.samples
    assert samples.shape[0] == 2 and np.isfinite(samples).all() and np.abs(samples).max() > 0
    # The sound lasts as long as the picture, up to the audio VAE's 4-mel-frame rounding (40 ms).
    assert abs(samples.shape[1] / clip.audio.rate - 17 / 24) < 0.045


def test_keyframes_reach_the_model_at_their_latent_index(write_storyboard, tiny_cache):
    # At index 0 a keyframe replaces the first latent; later ones are appended as extra tokens (2 x 4 each).
    counts = {}
    for at in ("0", "end"):
        plan = plan_for(write_storyboard, keyframes=f"{{image: keyframes/a.png, at: {at}}}")
        pipe = load_pipeline(plan.model)
        with Recorder(pipe.transformer) as calls:
            generate_shot(pipe, plan.shots[0], plan.model, plan.output)
        counts[at] = set(calls.tokens)
    assert counts == {"0": {3 * 2 * 4}, "end": {3 * 2 * 4 + 2 * 4}}


def test_ic_lora_conditions_the_shot_and_never_leaks_into_the_next(write_storyboard, reference_media, tiny_cache):
    plan = plan_for(write_storyboard)
    pipe = load_pipeline(plan.model)
    shot, model, output = plan.shots[0], plan.model, plan.output
    plain = generate_shot(pipe, shot, model, output).frames

    control = np.zeros((17, 64, 128, 3), np.uint8)
    control[:, 16:48, 32:96] = 255
    shot = shot.model_copy(update={"control": _control_plan(reference_media)})
    with Recorder(pipe.transformer) as calls:
        controlled = generate_shot(
            pipe, shot, model, output, control=ltx2.Control(frames=control, lora=resolve_lora("tiny"), downscale=2)
        ).frames
    # The reference adds its tokens at half size (a 64 x 32 video: 3 x 1 x 2 latents) to the 3 x 2 x 4 of the shot.
    assert set(calls.tokens) == {3 * 2 * 4 + 3 * 1 * 2}
    assert pipe.get_list_adapters()["transformer"]  # loaded through load_lora_weights
    assert np.abs(controlled.astype(int) - plain).mean() > 1

    # The next shot without a control runs with the LoRA off: exactly the plain result again.
    np.testing.assert_array_equal(generate_shot(pipe, plan.shots[0], model, output).frames, plain)


def _control_plan(reference_media):
    from ltx_flows.plan.planner import ControlPlan

    return ControlPlan(kind="canny", source=reference_media["clip"], source_sha256="-", strength=1.0, lora="tiny",
                       reference_downscale=None, video="controls/a-canny.mp4")


@pytest.mark.parametrize("family", ["ltx2", "ltxv"])
def test_two_pass_renders_half_size_upsamples_then_refines_at_full_size(write_storyboard, tiny_cache, family):
    plan = plan_for(write_storyboard, family=family, two_pass="true", keyframes="{image: keyframes/a.png, at: 0}")
    pipe = load_pipeline(plan.model)
    upsample_pipe = load_upsampler(plan.model, plan.upsampler, pipe)
    assert plan.upsampler == "tiny"

    with Recorder(pipe.transformer) as calls, Recorder(upsample_pipe.latent_upsampler, key="latent") as upsamples:
        clip = generate_shot(pipe, plan.shots[0], plan.model, plan.output, upsample_pipe)

    # Latent tokens at 64 x 32 (LTX-2: half size; LTX-Video: 2/3 of 128 x 64 rounded down to 32) and at 128 x 64.
    half, full = 3 * 1 * 2, 3 * 2 * 4
    # LTX-2: the refine sigmas; LTX-Video: the documented refine timesteps, the last int(5 x 0.999) of them.
    refine_steps = len(plan.model.refine_sigmas) if family == "ltx2" else 4
    assert plan.calls[-1].denoising_steps == refine_steps
    assert calls.tokens == [half] * plan.model.steps + [full] * refine_steps
    assert len(upsamples.tokens) == 1
    assert clip.frames.shape == (17, 64, 128, 3)
    assert (clip.audio is not None) == (family == "ltx2")


def test_distilled_sigmas_are_used_as_given(write_storyboard, tiny_cache):
    path = write_storyboard(BOARD.format(family="ltx2", two_pass="false", keyframes="").replace(
        "steps: 2", "steps: 3, sigmas: [1.0, 0.6, 0.3]"))
    plan = plan_storyboard(load_storyboard(path), path)
    pipe = load_pipeline(plan.model)
    seen = []
    original = type(pipe.scheduler).set_timesteps

    @functools.wraps(original)  # the pipeline inspects its signature
    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append([round(float(s), 4) for s in self.sigmas[:-1]])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(pipe.scheduler), "set_timesteps", spy)
        generate_shot(pipe, plan.shots[0], plan.model, plan.output)
    assert seen and all(sigmas == [1.0, 0.6, 0.3] for sigmas in seen)
    assert pipe.scheduler.config.use_dynamic_shifting  # the pipeline's own scheduler is back


def test_one_step_renders_with_given_sigmas_and_fails_with_the_stretched_default(write_storyboard, tiny_cache):
    """Why validation refuses LTX-2 `steps: 1` without `sigmas` on the tiny (dev-like) checkpoint, and only then: the
    one given sigma, and a one-sigma refine pass, render; the pipeline's own one-step schedule does not (diffusers
    stretches [1.0] to `shift_terminal`: a NaN timestep). Should diffusers fix that, the refusal can go."""
    path = write_storyboard(BOARD.format(family="ltx2", two_pass="true", keyframes="").replace(
        "steps: 2", "steps: 1, sigmas: [1.0], refine_sigmas: [0.9]"))
    plan = plan_storyboard(load_storyboard(path), path)
    pipe = load_pipeline(plan.model)
    upsample_pipe = load_upsampler(plan.model, plan.upsampler, pipe)
    clip = generate_shot(pipe, plan.shots[0], plan.model, plan.output, upsample_pipe)
    assert clip.frames.shape == (17, 64, 128, 3) and np.isfinite(clip.audio.samples).all()

    default_schedule = plan.model.model_copy(update={"sigmas": None, "two_pass": False})
    with pytest.warns(RuntimeWarning, match="invalid value encountered in divide"), pytest.raises(IndexError):
        generate_shot(pipe, plan.shots[0], default_schedule, plan.output)


def test_in_context_pipeline_keeps_the_pipelines_dtype(write_storyboard, tiny_cache):
    plan = plan_for(write_storyboard)
    pipe = load_pipeline(plan.model)
    in_context = ltx2.in_context_pipeline(pipe)
    assert in_context.transformer is pipe.transformer and in_context.transformer.dtype == pipe.transformer.dtype


@pytest.mark.parametrize("two_pass", ["false", "true"])
def test_audio_condition_holds_its_tokens_clean_at_timestep_zero(write_storyboard, tiny_cache, two_pass):
    """The held audio tokens reach the real transformer as their clean values from the first call on, with
    timestep 0, in every pass; the tokens not held are generated (at the step's timestep) and come out changed."""
    plan = plan_for(write_storyboard, two_pass=two_pass)
    pipe = load_pipeline(plan.model)
    upsample_pipe = load_upsampler(plan.model, plan.upsampler, pipe) if two_pass == "true" else None
    shot, model, output = plan.shots[0], plan.model, plan.output
    first = generate_shot(pipe, shot, model, output, upsample_pipe)
    tokens = ltx2.audio_tokens(pipe, shot.frames, output.fps)
    assert first.audio_latents.shape == (tokens, pipe.audio_latent_channels * pipe.audio_mel_bins // pipe.audio_vae_mel_compression_ratio)
    assert first.audio_latents.dtype == np.float32

    # Hold the first 6 tokens of another sound (the first render's, reversed in time): not what this seed makes.
    source = torch.from_numpy(first.audio_latents[::-1].copy())
    hold = torch.zeros(tokens)
    hold[:6] = 1.0
    inputs, timesteps = [], []
    proj = pipe.transformer.audio_proj_in.register_forward_pre_hook(lambda m, a: inputs.append(a[0].detach().clone()))
    embed = pipe.transformer.audio_time_embed.register_forward_pre_hook(lambda m, a: timesteps.append(a[0].detach().clone()))
    try:
        held = generate_shot(pipe, shot, model, output, upsample_pipe,
                                      audio_condition=ltx2.AudioCondition(latents=source, hold=hold))
    finally:
        proj.remove()
        embed.remove()

    passes = 2 if two_pass == "true" else 1
    assert len(inputs) == len(timesteps) >= passes * 2
    # Two-pass, the refine keeps the first pass's whole track (Lightricks' freeze_audio): every token at timestep 0.
    refine_steps = len(model.refine_sigmas) if two_pass == "true" else 0
    first_calls = len(inputs) * model.steps // (model.steps + refine_steps)
    for call, (values, steps) in enumerate(zip(inputs, timesteps)):
        steps = steps.reshape(values.shape[0], tokens)
        torch.testing.assert_close(values[:, :6].float(), source[:6].expand(values.shape[0], -1, -1))
        assert (steps[:, :6] == 0).all() and ((steps[:, 6:] > 0) if call < first_calls else (steps[:, 6:] == 0)).all()
    np.testing.assert_array_equal(held.audio_latents[:6], source[:6].numpy())
    assert np.abs(held.audio_latents[6:] - first.audio_latents[6:]).mean() > 1e-3

    # Without a condition every token shares the step's timestep: what the hook changes is real.
    timesteps.clear()
    embed = pipe.transformer.audio_time_embed.register_forward_pre_hook(lambda m, a: timesteps.append(a[0].detach().clone()))
    try:
        generate_shot(pipe, shot, model, output, upsample_pipe)
    finally:
        embed.remove()
    first_calls = len(timesteps) * model.steps // (model.steps + refine_steps)  # the refine holds the whole track
    assert timesteps and all(steps.numel() < tokens for steps in timesteps[:first_calls])
    assert pipe.audio_scheduler is None  # the pipeline's own components are back


def test_two_pass_keeps_the_first_passs_sound_frozen_through_the_refine(write_storyboard, tiny_cache, monkeypatch):
    """Lightricks' TI2VidTwoStagesPipeline refines stage 2 with `freeze_audio=True` (ltx_pipelines/
    ti2vid_two_stages.py): the clip's sound is stage 1's, and during the refine the audio stream sits at sigma 0
    (its tokens' timesteps and the sigma the video's cross-attention modulation reads). diffusers' ltx2.md
    example re-denoises the sound in stage 2; ltx-flows follows Lightricks."""
    plan = plan_for(write_storyboard, two_pass="true")
    pipe = load_pipeline(plan.model)
    upsample_pipe = load_upsampler(plan.model, plan.upsampler, pipe)
    schedulers, cross = [], []
    original = ltx2.held_audio
    monkeypatch.setattr(ltx2, "held_audio", lambda *a, **k: _Keep(original(*a, **k), schedulers))
    # Without a preset `tiny` runs with the pipeline's use_cross_timestep (True): the video's cross-attention
    # modulation reads the audio sigma.
    hook = pipe.transformer.av_cross_attn_video_scale_shift.register_forward_pre_hook(
        lambda m, a: cross.append(a[0].detach().clone()))
    try:
        clip = generate_shot(pipe, plan.shots[0], plan.model, plan.output, upsample_pipe)
    finally:
        hook.remove()
    first, refine = schedulers
    np.testing.assert_array_equal(clip.audio_latents, first.latents[0].float().numpy())
    torch.testing.assert_close(refine.latents, first.latents)
    refine_calls = len(cross) * len(plan.model.refine_sigmas) // (plan.model.steps + len(plan.model.refine_sigmas))
    assert all((sigma > 0).all() for sigma in cross[:-refine_calls]) and all((sigma == 0).all() for sigma in cross[-refine_calls:])


class _Keep:
    """A context manager that records what the one it wraps yields (the pass's `_HeldAudio` scheduler)."""

    def __init__(self, context, into: list):
        self.context, self.into = context, into

    def __enter__(self):
        value = self.context.__enter__()
        self.into.append(value)
        return value

    def __exit__(self, *exc):
        return self.context.__exit__(*exc)


def test_audio_condition_of_the_wrong_length_is_refused(write_storyboard, tiny_cache):
    plan = plan_for(write_storyboard)
    pipe = load_pipeline(plan.model)
    condition = ltx2.AudioCondition(latents=torch.zeros(3, 8), hold=torch.ones(3))
    with pytest.raises(ValueError, match="needs 18 audio tokens"):
        generate_shot(pipe, plan.shots[0], plan.model, plan.output, audio_condition=condition)
