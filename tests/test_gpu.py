"""GPU path on the tiny checkpoints: CUDA, bfloat16, CPU offload, two-pass, LTX-2 sound and controls.
Skipped without a GPU."""

import numpy as np
import pytest
import torch

from ltx_flows.models.loading import load_pipeline
from ltx_flows.render.generate import generate_shot
from ltx_flows.render.shot import render_shot
from ltx_flows.media.read import probe, read_frames
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.loading import load_storyboard

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

BOARD = """
version: 1
name: gpu
model: {{checkpoint: tiny, steps: 2, dtype: {dtype}, device: cuda, cpu_offload: {offload}, vae_tiling: {tiling}}}
output: {{width: 256, height: 160, fps: 24}}
shots:
  - id: a
    prompt: "a red ball"
    frames: 25
    keyframes: [{{image: keyframes/a.png, at: 8}}]
"""


@pytest.mark.parametrize(
    "dtype, offload, tiling", [("bfloat16", "false", "false"), ("bfloat16", "true", "true"), ("float16", "false", "true")]
)
def test_cuda_render(tiny_cache, write_storyboard, dtype, offload, tiling):
    path = write_storyboard(BOARD.format(dtype=dtype, offload=offload, tiling=tiling))
    plan = plan_storyboard(load_storyboard(path), path)
    pipe = load_pipeline(plan.model)
    assert pipe.transformer.dtype == getattr(torch, dtype)
    frames = generate_shot(pipe, plan.shots[0], plan.model, plan.output).frames
    again = generate_shot(pipe, plan.shots[0], plan.model, plan.output).frames
    assert frames.shape == (25, 160, 256, 3) and frames.dtype == np.uint8
    assert frames.std() > 0
    # Same seed, same GPU: equal up to non-deterministic CUDA kernels.
    assert np.abs(frames.astype(int) - again.astype(int)).mean() < 2


def test_cuda_long_take(tiny_cache, write_storyboard, workspace):
    """A 3-segment take in bfloat16: the tail condition and keyframes go through the GPU path."""
    from ltx_flows.media.read import read_frames

    path = write_storyboard(
        BOARD.format(dtype="bfloat16", offload="false", tiling="false").replace(
            "frames: 25", "frames: 41\n    segments: {frames: 25, overlap: 17}"
        ).replace("at: 8", "at: end")
    )
    plan = plan_storyboard(load_storyboard(path), path)
    assert [(s.start, s.frames) for s in plan.shots[0].segments] == [(0, 25), (8, 25), (16, 25)]
    clip = render_shot(plan, plan.shots[0], workspace / "renders")
    frames = read_frames(clip)
    assert frames.shape == (41, 160, 256, 3) and frames.std() > 0
LTX2_BOARD = """
version: 1
name: gpu-ltx2
model: {{family: ltx2, checkpoint: tiny, steps: 2, dtype: bfloat16, device: cuda, cpu_offload: {offload}, two_pass: {two_pass}}}
output: {{width: 256, height: 128, fps: 24}}
shots:
  - id: a
    prompt: "a red ball"
    frames: 25
    keyframes: [{{image: keyframes/a.png, at: end}}]
    {control}
"""


@pytest.mark.parametrize(
    "offload, two_pass, controlled", [("false", "false", False), ("true", "false", False), ("false", "true", False),
                                      ("false", "false", True), ("true", "false", True)]
)
def test_cuda_ltx2_render(tiny_cache, write_storyboard, workspace, reference_media, offload, two_pass, controlled):
    control = f"control: {{kind: canny, source: {reference_media['clip']}}}" if controlled else ""
    path = write_storyboard(LTX2_BOARD.format(offload=offload, two_pass=two_pass, control=control))
    plan = plan_storyboard(load_storyboard(path), path)
    clip = render_shot(plan, plan.shots[0], workspace / "renders")
    pipe = load_pipeline(plan.model)
    assert pipe.transformer.dtype == torch.bfloat16
    info = probe(clip)
    assert (info.frames, info.width, info.height) == (25, 256, 128)
    assert info.has_audio and info.audio_duration == pytest.approx(25 / 24, abs=1e-6)
    assert read_frames(clip).std() > 0
    if controlled:
        assert probe(workspace / "renders" / "controls" / "a-canny.mp4").frames == 25


@pytest.mark.parametrize("offload", ["false", "true"])
def test_cuda_ltx2_long_take_carries_its_sound(tiny_cache, write_storyboard, workspace, offload):
    """A 2-segment two-pass take in bfloat16: segment 2 holds segment 1's audio latents over the overlap exactly
    (the hold runs in float32 whatever the model's dtype), under offload too, and the take's track fits its frames."""
    from pathlib import Path

    board = LTX2_BOARD.format(offload=offload, two_pass="true", control="")
    path = write_storyboard(board.replace("frames: 25", "frames: 25\n    segments: {frames: 17, overlap: 9}"))
    plan = plan_storyboard(load_storyboard(path), path)
    clip = render_shot(plan, plan.shots[0], workspace / "renders")
    info = probe(clip)
    assert info.frames == 25 and info.audio_duration == pytest.approx(25 / 24, abs=1e-6)
    first, second = [np.load(workspace / "renders" / Path(s.cache).with_name(Path(s.cache).stem + ".audio.npy"))
                     for s in plan.shots[0].segments]
    np.testing.assert_array_equal(second[:10], first[8:])  # tokens 8-17 of 18: frames 8-16 of segment 1


@pytest.mark.parametrize("offload", ["false", "true"])
def test_cuda_ltxv_two_pass(tiny_cache, write_storyboard, workspace, offload):
    board = BOARD.format(dtype="bfloat16", offload=offload, tiling="false").replace("height: 160", "height: 128")
    path = write_storyboard(board.replace("steps: 2,", "steps: 2, two_pass: true,"))
    plan = plan_storyboard(load_storyboard(path), path)
    clip = render_shot(plan, plan.shots[0], workspace / "renders")
    info = probe(clip)
    assert (info.frames, info.width, info.height) == (25, 256, 128)
    assert read_frames(clip).std() > 0


TWIN_BOARD = """
version: 1
name: gpu-twin
model: {{preset: {preset}, checkpoint: tiny, two_pass: true, dtype: bfloat16, device: cuda{steps}}}
output: {{width: 256, height: 128, fps: 24}}
shots:
  - id: a
    prompt: "a red ball"
    frames: 25
    keyframes: [{{image: keyframes/a.png, at: 0}}]
    {control}
"""

# One preset per twin (generation), the other presets of a generation share its twin.
_TWIN_PRESETS = {"ltxv-0.9.7": "ltxv-0.9.7-dev", "ltxv-0.9.8": "ltxv-0.9.8-distilled", "ltx2-2.0": "ltx2-dev",
                 "ltx2-2.3": "ltx2.3-distilled", "ltx2-2.5": "ltx2.5-dev"}


@pytest.mark.parametrize("rung", range(6))  # the fp8 rung included
@pytest.mark.parametrize("generation", list(_TWIN_PRESETS))
def test_cuda_twin_on_every_memory_rung(tiny_cache, write_storyboard, workspace, reference_media, generation, rung):
    """Every twin in bfloat16 on CUDA, two-pass (with a control where the preset has IC-LoRAs), at each rung of
    the memory ladder; the shared VAE keeps the main pipeline's offload hooks through the upsampler."""
    from ltx_flows.plan.memory import memory_steps
    from ltx_flows.storyboard.presets import PRESETS

    preset = PRESETS[_TWIN_PRESETS[generation]]
    control = f"control: {{kind: canny, source: {reference_media['clip']}}}" if preset.control_loras else ""
    path = write_storyboard(TWIN_BOARD.format(preset=_TWIN_PRESETS[generation], control=control,
                                              steps="" if preset.sigmas else ", steps: 2"))
    plan = plan_storyboard(load_storyboard(path), path)
    ladder = memory_steps(plan.model)
    memory = ladder[rung]
    steps = []
    clip = render_shot(plan, plan.shots[0], workspace / "renders", memory,
                                on_step=lambda done, total: steps.append((done, total)))
    pipe = load_pipeline(plan.model)
    # bfloat16 compute; from the fp8 rung on, the transformer's weights are stored in float8.
    stored = {parameter.dtype for parameter in pipe.transformer.parameters()}
    assert (torch.float8_e4m3fn in stored) == memory.fp8_storage and torch.bfloat16 in stored
    if memory.cpu_offload or memory.sequential_offload:
        assert hasattr(pipe.vae, "_hf_hook")  # the upsampler's placement left the shared VAE's hooks alone
    info = probe(clip)
    assert (info.frames, info.width, info.height) == (25, 256, 128)
    assert info.has_audio == (preset.family == "ltx2")
    assert read_frames(clip).std() > 0
    assert steps[-1][0] == steps[-1][1] == sum(call.denoising_steps for call in plan.calls)


@pytest.mark.parametrize("rung", range(5))
@pytest.mark.parametrize("generation", ["ltx2-2.0", "ltx2-2.3"])
def test_cuda_look_loras_on_every_memory_rung(tiny_cache, write_storyboard, workspace, generation, rung):
    """A film LoRA in Lightricks' original layout on each LTX-2 twin, two-pass in bfloat16 on CUDA, at each rung of
    the memory ladder (offload hooks around the LoRA layers): every transformer call runs with it at its strength."""
    from diffusers import LTX2VideoTransformer3DModel

    from ltx_flows.models import tiny_loras
    from ltx_flows.models.checkpoints import ensure_twin
    from ltx_flows.plan.memory import memory_steps
    from ltx_flows.storyboard.presets import PRESETS

    repo = {"ltx2-2.0": "Lightricks/LTX-2", "ltx2-2.3": "diffusers/LTX-2.3-Diffusers"}[generation]
    transformer = LTX2VideoTransformer3DModel.from_pretrained(ensure_twin(generation) / repo, subfolder="transformer")
    tiny_loras.save_original_lora(transformer, workspace / "look.safetensors", seed=1,
                                  targets=tiny_loras.generation_targets(transformer))
    preset = _TWIN_PRESETS[generation]
    path = write_storyboard(TWIN_BOARD.format(preset=preset, control="", steps="" if PRESETS[preset].sigmas else ", steps: 2")
                            .replace("device: cuda", "device: cuda, loras: [{file: ./look.safetensors, strength: 0.6}]"))
    plan = plan_storyboard(load_storyboard(path), path)
    pipe = load_pipeline(plan.model)
    seen = []

    def hook(module, args):
        layer = module.get_submodule("transformer_blocks.0.attn1.to_q")
        active = [] if getattr(layer, "disable_adapters", True) else list(layer.active_adapters)
        seen.append(sorted(layer.scaling[name] for name in active if name.startswith("look_")))

    handle = pipe.transformer.register_forward_pre_hook(hook)
    try:
        clip = render_shot(plan, plan.shots[0], workspace / "renders", memory_steps(plan.model)[rung])
    finally:
        handle.remove()
    assert seen and all(scalings == [0.6] for scalings in seen)
    assert read_frames(clip).std() > 0


@pytest.mark.parametrize("preset, fps, model", [
    ("ltxv-0.9.7-distilled", 60, ""), ("ltx2.3-distilled", 48, ", generate_fps: 24")])
@pytest.mark.parametrize("offload", ["false", "true"])
def test_cuda_frame_rate_upscaling(tiny_cache, write_storyboard, preset, fps, model, offload):
    """The temporal upscaler's round on the GPU, bfloat16, with and without model offload: the film's frames at
    its rate, the upscaler's weights on the GPU beside the offloaded pipeline."""
    from ltx_flows.render.generate import load_models

    path = write_storyboard(
        f"version: 1\nname: rate\nmodel: {{preset: {preset}, checkpoint: tiny, device: cuda, dtype: bfloat16, "
        f"cpu_offload: {offload}{model}}}\noutput: {{width: 128, height: 64, fps: {fps}}}\n"
        "shots:\n  - {id: a, prompt: a red ball, frames: 25, keyframes: [{image: keyframes/a.png, at: end}]}\n")
    plan = plan_storyboard(load_storyboard(path), path)
    models = load_models(plan, plan.shots[0])
    assert next(models.temporal.latent_upsampler.parameters()).device.type == "cuda"
    clip = generate_shot(models.pipe, plan.shots[0], plan.model, plan.output, temporal_pipe=models.temporal,
                         calls=plan.calls)
    assert clip.frames.shape == (25, 64, 128, 3) and clip.frames.std() > 0


@pytest.mark.parametrize("rung", [0, 1])  # on the GPU whole; model offload
def test_cuda_ltx2_5_enhances_with_its_dedicated_enhancer_then_renders(tiny_cache, write_storyboard, workspace, rung):
    """LTX-2.5's Gemma 4 `prompt_enhancer` in bfloat16 on CUDA (a first-frame keyframe: its vision tower too): it
    writes the prompt on the GPU, goes back to the CPU after, is no component of the render's pipeline, and the
    shot renders with the text at that memory rung."""
    from ltx_flows.plan.memory import memory_steps
    from ltx_flows.render.enhance import enhanced_shot

    from .generations import watching

    path = write_storyboard(TWIN_BOARD.format(preset="ltx2.5-distilled", control="", steps="")
                            .replace("device: cuda", "device: cuda, enhance_prompt: true"))
    plan = plan_storyboard(load_storyboard(path), path)
    shot, memory = plan.shots[0], memory_steps(plan.model)[rung]
    film_dir = workspace / "renders"
    enhanced = enhanced_shot(plan, shot, film_dir, memory)
    pipe = load_pipeline(plan.model)
    enhancer = pipe._ltx_flows_prompt_enhancer
    assert enhancer.dtype == torch.bfloat16 and enhancer.device.type == "cpu" and pipe.prompt_enhancer is None
    assert enhanced.prompt and enhanced.prompt != shot.prompt
    with watching() as generations:
        clip = render_shot(plan, shot, film_dir, memory)
    assert [event["prompt"] for event in generations.events] == [enhanced.prompt]
    assert read_frames(clip).std() > 0
