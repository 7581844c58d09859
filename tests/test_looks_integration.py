"""Integration: a film LoRA and a per-shot LoRA in Lightricks' original key layout, on the tiny twin of each
LTX-2 generation, through the Prefect flow (real diffusers pipelines, real PEFT, real ffmpeg).

What each shot ran with is read from the transformer itself while it runs: a forward pre-hook this test registers
on the loaded pipeline's transformer reads, at every transformer call, one attention layer's active LoRA adapters,
their scalings and their weights, and the test compares the layer's effective LoRA delta with the one the files and
strengths give. The shot a call belongs to is the last generation the progress log announced (tests/generations.py).
The hero shot's first attempt is made to run out of memory (through the same log), so its retry at a lower memory
rung is checked too.
"""

import pytest
import torch
from safetensors.torch import load_file

from . import generations, loads
from ltx_flows.models import loading, tiny_loras
from ltx_flows.models.checkpoints import ensure_twin
from ltx_flows.storyboard.loading import load_storyboard

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
    # PEFT says so on every adapter after the first: several named adapters on one model is the point here.
    pytest.mark.filterwarnings("ignore:Already found a `peft_config` attribute"),
]

LAYER = "transformer_blocks.0.attn1.to_q"


def render(path, workspace):
    from ltx_flows.production.flow import render_storyboard

    return render_storyboard(str(path), out=str(workspace / "renders"), return_state=True)


def _twin_lora(generation: str, path, seed: int):
    """A LoRA for the twin of `generation`, in Lightricks' original layout, on the layers only it has too."""
    twin = ensure_twin(generation)
    from diffusers import LTX2VideoTransformer3DModel

    repo = {"ltx2-2.0": "Lightricks/LTX-2", "ltx2-2.3": "diffusers/LTX-2.3-Diffusers"}[generation]
    transformer = LTX2VideoTransformer3DModel.from_pretrained(twin / repo, subfolder="transformer")
    return tiny_loras.save_original_lora(transformer, path, seed=seed, targets=tiny_loras.generation_targets(transformer))


def _delta(path, strength: float) -> torch.Tensor:
    tensors = load_file(str(path))
    a, b = (tensors[f"diffusion_model.{LAYER}.lora_{x}.weight"].float() for x in "AB")
    return strength * (b @ a)


class _Observed:
    """Per transformer call: the shot announced last, the active look adapters' scalings and the layer's delta."""

    def __init__(self, pipe, watch):
        self.calls: list[dict] = []
        self.watch = watch
        self.handle = pipe.transformer.register_forward_pre_hook(self.hook)

    def hook(self, module, args):
        layer = module.get_submodule(LAYER)
        active = [] if getattr(layer, "disable_adapters", True) else list(layer.active_adapters)
        delta = sum((layer.scaling[name] * (layer.lora_B[name].weight @ layer.lora_A[name].weight)).float()
                    for name in active if name.startswith("look_"))
        self.calls.append({"shot": self.watch.events[-1]["shot"], "scalings": {n: layer.scaling[n] for n in active},
                           "delta": delta})


@pytest.mark.slow  # ~35 s per generation on 2 cores
@pytest.mark.parametrize("preset, generation", [("ltx2-dev", "ltx2-2.0"), ("ltx2.3-dev", "ltx2-2.3")])
def test_film_and_shot_loras_switch_per_shot_with_one_load(
    prefect_server, tiny_cache, write_storyboard, workspace, reference_media, preset, generation, monkeypatch
):
    film, hero = _twin_lora(generation, workspace / "film.safetensors", 1), _twin_lora(generation, workspace / "hero.safetensors", 2)
    two_pass = "true" if preset == "ltx2.3-dev" else "false"  # the dev preset also refines: the looks on both passes
    # On 2.0 the hero shot also has a control: its LoRAs go beside the IC-LoRA, in the in-context pipeline.
    control = f", control: {{kind: canny, source: {reference_media['clip']}}}" if two_pass == "false" else ""
    path = write_storyboard(f"""
        version: 1
        name: looks
        model: {{preset: {preset}, checkpoint: tiny, steps: 2, two_pass: {two_pass},
                 loras: [{{file: ./film.safetensors, strength: 0.8}}]}}
        output: {{width: 128, height: 64, fps: 24}}
        shots:
          - {{id: wide, prompt: "a quiet street", frames: 9}}
          - {{id: hero, prompt: "she walks in", frames: 9, loras: [{{file: ./hero.safetensors, strength: 0.5}}]{control}}}
        """)
    model = load_storyboard(path).model
    # The hero shot's first attempt runs out of memory: its retry, one memory rung lower, has its LoRAs all the same.
    from ltx_flows.production import flow

    monkeypatch.setattr(flow, "render_shot_task", flow.render_shot_task.with_options(retry_delay_seconds=0))
    attempts = []

    def out_of_memory_once(event):
        attempts.append((event["shot"], event["memory"]))
        if event["shot"] == "hero" and len([shot for shot, _ in attempts if shot == "hero"]) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (injected by the test)")

    with loads.counting() as loaded, generations.watching(out_of_memory_once) as watch:
        pipe = loading.MODELS.pipeline(model)  # the flow renders with this same pipeline (one model per process)
        observed = _Observed(pipe, watch)
        try:
            state = render(path, workspace)
        finally:
            observed.handle.remove()
    assert state.is_completed(), state
    hero_rungs = [memory for shot, memory in attempts if shot == "hero"]
    assert len(hero_rungs) == 2 and hero_rungs[0] != hero_rungs[1]
    assert loaded.loads == 1 + (1 if two_pass == "true" else 0)  # the model (and, two-pass, its upsampler), once
    expected = {"wide": _delta(film, 0.8), "hero": _delta(film, 0.8) + _delta(hero, 0.5)}
    assert {call["shot"] for call in observed.calls} == {"wide", "hero"}
    for call in observed.calls:
        looks = {name: scale for name, scale in call["scalings"].items() if name.startswith("look_")}
        assert sorted(looks.values()) == ([0.8] if call["shot"] == "wide" else [0.5, 0.8])
        assert torch.allclose(call["delta"], expected[call["shot"]], atol=1e-5), call["shot"]
    others = [set(call["scalings"]) - {n for n in call["scalings"] if n.startswith("look_")} for call in observed.calls]
    if two_pass == "true":  # the refine calls add the stage-2 LoRA beside the looks
        assert any(others)
    else:  # the controlled hero shot runs its IC-LoRA beside its looks; the plain shot none
        assert all(bool(other) == (call["shot"] == "hero") for other, call in zip(others, observed.calls))
    # Each LoRA file loaded once, as one named adapter.
    assert len([name for name in pipe.transformer.peft_config if name.startswith("look_")]) == 2

    # Editing the per-shot LoRA re-renders exactly the shot that uses it.
    _twin_lora(generation, workspace / "hero.safetensors", 3)
    with generations.watching() as again:
        assert render(path, workspace).is_completed()
    assert again.shots() == ["hero"]


@pytest.mark.slow  # a download --tiny and a render in subprocesses, ~40 s on 2 cores
def test_a_camera_move_renders_offline_from_a_download_tiny_cache(prefect_server, tiny_cache, workspace, tmp_path):
    import json
    import os

    from prefect.settings import PREFECT_API_URL

    from ltx_flows.media.read import probe
    from .conftest import REPO
    from .test_presets_integration import _ltx_flows

    (workspace / "board.yaml").write_text(
        "version: 1\nname: push\nmodel: {preset: ltx2-dev, steps: 2}\noutput: {width: 128, height: 64}\n"
        "shots:\n  - {id: a, prompt: \"a bottle on a table\", frames: 9, camera: dolly-in}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(REPO), LTX_FLOWS_CACHE=str(tiny_cache))
    _ltx_flows("download", "--tiny", "board.yaml", env=env, cwd=workspace)
    # The twin's camera LoRA, under its published repo id and file name.
    snapshots = tmp_path / "hf" / "hub" / "models--Lightricks--LTX-2-19b-LoRA-Camera-Control-Dolly-In" / "snapshots"
    assert list(snapshots.glob("*/ltx-2-19b-lora-camera-control-dolly-in.safetensors"))

    empty = tmp_path / "empty-ltx-flows-cache"  # nothing may come from a twin built on the side
    env.update(HF_HUB_OFFLINE="1", LTX_FLOWS_CACHE=str(empty), PREFECT_API_URL=PREFECT_API_URL.value())
    plan = json.loads(_ltx_flows("plan", "--json", "board.yaml", env=env, cwd=workspace).stdout)
    [lora] = plan["shots"][0]["loras"]
    assert lora["origin"] == "camera" and lora["file"].endswith("/ltx-2-19b-lora-camera-control-dolly-in.safetensors")
    _ltx_flows("render", "board.yaml", "--out", "renders", env=env, cwd=workspace)
    assert probe(workspace / "renders" / "push" / "push.mp4").frames == 9
    assert not (empty / "twins").exists()
