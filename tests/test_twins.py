"""Tiny twins against the published structure, recipes against the docs, and the model lifecycle (no stubs)."""

import gc
import inspect
import json
import os
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from ltx_flows.storyboard.generations import GENERATIONS, LTX2_DEV_SCHEDULER, LTX2_DISTILLED_SCHEDULER, SIZE_KEYS
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.presets import PRESETS
from ltx_flows.storyboard.loading import load_storyboard
from ltx_flows.storyboard.problems import StoryboardError

from .conftest import REPO

# The shared reference sits beside the checkout (../shared), as on the team's machines and in CI.
REFERENCE = Path(os.environ.get("LTX_REFERENCE_CHECKPOINTS")
                 or Path(__file__).resolve().parents[2] / "shared" / "reference-ltx-checkpoints.json")


def _config(folder: Path) -> dict:
    for name in ("config.json", "scheduler_config.json"):
        if (folder / name).is_file():
            return json.loads((folder / name).read_text())
    raise FileNotFoundError(folder)


@pytest.mark.parametrize("generation", list(GENERATIONS))
def test_every_twin_has_the_structure_of_the_published_checkpoint(generation, tiny_cache):
    """Each pipeline repo of the twin, read back from disk: every component's class and structural keys are
    the published checkpoint's; the upsampler is where the real one is; sizes are shrunk."""
    from ltx_flows.models.checkpoints import ensure_twin

    facts = GENERATIONS[generation]
    root = ensure_twin(generation)
    for repo, kind in facts.repos.items():
        folder = root / repo
        if kind.startswith("pipeline"):
            index = json.loads((folder / "model_index.json").read_text())
            assert index["_class_name"] == facts.pipeline
            for name, component in facts.components.items():
                assert index[name][1] == component.cls, (repo, name)
                if component.structure:
                    config = _config(folder / name)
                    assert {k: config[k] for k in component.structure} == component.structure, (repo, name)
            if facts.family == "ltx2":  # dev checkpoints shift by token count; distilled ones ship it off
                scheduler = _config(folder / "scheduler")
                expected = LTX2_DISTILLED_SCHEDULER if "distilled" in kind else LTX2_DEV_SCHEDULER
                assert {k: scheduler[k] for k in expected} == expected
            transformer = _config(folder / "transformer")
            assert transformer["num_layers"] == 1 and transformer["num_attention_heads"] == 2  # tiny
        if kind == "pipeline" and facts.family == "ltx2":
            upsampler = folder / "latent_upsampler"  # LTX-2 ships it inside the dev repo
        elif kind == "upsampler pipeline":  # 0.9.7, 2.3: a pipeline repo with the model in latent_upsampler/
            expected = "LTXLatentUpsamplePipeline" if facts.family == "ltxv" else "LTX2LatentUpsamplePipeline"
            assert json.loads((folder / "model_index.json").read_text())["_class_name"] == expected
            upsampler = folder / "latent_upsampler"
            assert not (folder / "config.json").exists()
        elif kind == "upsampler model":  # 0.9.8: a model at the repo root
            upsampler = folder
        else:
            continue
        config = _config(upsampler)
        assert config["_class_name"] == facts.upsampler.cls
        assert {k: config[k] for k in facts.upsampler.structure} == facts.upsampler.structure
    # Every LoRA a preset of this generation loads is there, under its published file name.
    for preset in PRESETS.values():
        if preset.generation == generation:
            for lora in preset.loras():
                assert (root / lora).is_file(), lora


@pytest.mark.skipif(not REFERENCE.is_file(), reason="the shared reference of published configs is not here")
def test_stated_facts_match_the_published_configs():
    """The facts in generations.py against the configs diffusers' conversion scripts write (a reference file
    outside the project, read only when present)."""
    reference = json.loads(REFERENCE.read_text())
    ltxv, ltx2 = reference["ltxv"], reference["ltx2"]
    sources = {
        ("ltxv-0.9.7", "transformer"): ltxv["transformer"]["0.9.7 and 0.9.8 13B"],
        ("ltxv-0.9.8", "transformer"): ltxv["transformer"]["0.9.7 and 0.9.8 13B"],
        ("ltxv-0.9.7", "vae"): ltxv["vae"]["0.9.7"],
        ("ltxv-0.9.8", "vae"): ltxv["vae"]["0.9.7"],  # 0.9.8 uses the 0.9.7 VAE
        ("ltxv-0.9.7", "upsampler"): ltxv["latent_upsampler"]["0.9.7"],
        ("ltxv-0.9.8", "upsampler"): ltxv["latent_upsampler"]["0.9.8"],
    }
    for version in ("2.0", "2.3", "2.5"):
        generation = f"ltx2-{version}"
        sources.update({
            (generation, "transformer"): ltx2["transformer"][version],
            (generation, "connectors"): ltx2["connectors"][version],
            (generation, "vae"): ltx2["video_vae"][version],
            (generation, "audio_vae"): ltx2["audio_vae"][version],
            (generation, "vocoder"): ltx2["vocoder"][version],
        })
        if version in ltx2["latent_upsampler"]:  # the reference holds no 2.5 upsampler config
            sources[(generation, "upsampler")] = ltx2["latent_upsampler"][version]
    sources[("ltx2-2.5", "transformer_full")] = ltx2["transformer"]["2.5"]  # the dev weights, the same structure
    for (generation, name), published in sources.items():
        facts = GENERATIONS[generation]
        stated = facts.upsampler.structure if name == "upsampler" else facts.components[name].structure
        for key, value in stated.items():  # diffusers' defaults where the conversion writes nothing
            assert published.get(key, _default(_component_class(facts, name), key)) == value, (generation, name, key)
        # Every published key is stated or a size the twins may shrink: nothing that shapes the model is left out.
        assert set(published) <= set(stated) | SIZE_KEYS.get(name, set()), (generation, name)
    assert ltx2["scheduler"]["distilled"]["use_dynamic_shifting"] is LTX2_DISTILLED_SCHEDULER["use_dynamic_shifting"]
    assert ltx2["scheduler"]["dev / full"]["shift_terminal"] == LTX2_DEV_SCHEDULER["shift_terminal"]


def _component_class(generation, name: str):
    """The diffusers class of a component (top-level, or one of the LTX-2 pipeline package's models)."""
    import diffusers
    from diffusers.pipelines import ltx, ltx2

    cls = (generation.upsampler if name == "upsampler" else generation.components[name]).cls
    return getattr(diffusers, cls, None) or getattr(ltx2 if generation.family == "ltx2" else ltx, cls)


def _default(cls, key: str):
    return inspect.signature(cls.__init__).parameters[key].default


@pytest.mark.parametrize("generation", list(GENERATIONS))
def test_every_config_key_that_shapes_a_model_is_stated(generation):
    """Each model component's every constructor argument (its config keys, as diffusers 0.42.1 reads them) is
    either stated in generations.py or a size the twins shrink, so a structural key the twins could get wrong
    (the LTX-2 VAE's timestep_conditioning, the vocoder's leaky_relu_negative_slope and antialias settings, the
    transformer's ff_bias, use_prompt_adaln_single, ...) cannot go unchecked by the twin test above."""
    facts = GENERATIONS[generation]
    for name in [*facts.components, "upsampler"]:
        if name in ("text_encoder", "tokenizer", "scheduler"):  # transformers' classes; schedules: see the repos
            continue
        keys = set(inspect.signature(_component_class(facts, name).__init__).parameters) - {"self"}
        stated = facts.upsampler.structure if name == "upsampler" else facts.components[name].structure
        assert keys - set(stated) - SIZE_KEYS[name] == set(), (generation, name)


@pytest.mark.parametrize("model, expected", [
    ("{family: ltx2, checkpoint: Lightricks/LTX-2.5}", "model.checkpoint: LTX-2.5 (original format) is not supported"),
    ("{family: ltx2, checkpoint: Lightricks/LTX-2.5-Diffusers}", "model.checkpoint: LTX-2.5 needs its preset"),
    ("{preset: ltx2.3-dev, checkpoint: Lightricks/LTX-2.5-Diffusers}", "model.checkpoint: LTX-2.5 needs its preset"),
])
def test_ltx2_5_is_refused_where_it_would_render_the_wrong_model(write_storyboard, model, expected):
    """LTX-2.5 renders through its presets (dev weights from transformer_full/, the diffusion decoder). Named
    without one, LTX2ConditionPipeline would load its distilled transformer and decode with the convolutional VAE
    whatever the recipe; the original-format repo has no diffusers layout: validation refuses both, says why and
    names the presets."""
    path = write_storyboard(f"""
        version: 1
        name: spot
        model: {model}
        shots: [{{id: a, prompt: x, frames: 9}}]
        """)
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path)
    [problem] = [p.format(path) for p in info.value.problems]
    assert problem.startswith(f"{path}:3:") and expected in problem
    assert "`preset: ltx2.5-distilled`" in problem and "`preset: ltx2.5-dev`" in problem
    assert {p.generation for p in PRESETS.values() if p.checkpoint == "Lightricks/LTX-2.5-Diffusers"} == {"ltx2-2.5"}


@pytest.mark.parametrize("subfolders", [["transformer_full"], ["diffusion_decoder"], ["transformer_full", "diffusion_decoder"]])
def test_a_local_ltx2_5_folder_needs_its_preset(write_storyboard, workspace, subfolders):
    """A diffusers folder in LTX-2.5's layout loads as quietly as the hub repo (the extra subfolders are ignored),
    so without a 2.5 preset validation refuses it, naming the folder, with the reason and the presets; with one
    it is the preset's checkpoint."""
    folder = workspace / "models" / "ltx-2.5"
    for name in ["transformer", "vae", *subfolders]:
        (folder / name).mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "LTX2ConditionPipeline"}))
    board = """
        version: 1
        name: spot
        model:
          {first}
          checkpoint: models/ltx-2.5
        shots: [{{id: a, prompt: x, frames: 9}}]
        """
    path = write_storyboard(board.format(first="family: ltx2"))
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path)
    [problem] = [p.format(path) for p in info.value.problems]
    assert problem.startswith(
        f"{path}:5:15: model.checkpoint: `models/ltx-2.5` ({folder}) is an LTX-2.5 folder (it has `{subfolders[0]}/`), "
        "and LTX-2.5 is not supported: "
    )
    assert "diffusion decoder" in problem and problem.endswith("`preset: ltx2.5-dev` to render it as published")
    path = write_storyboard(board.format(first="preset: ltx2.5-distilled"))
    assert load_storyboard(path).model.checkpoint == "models/ltx-2.5"

    # The same folder without LTX-2.5's subfolders is an ordinary local checkpoint.
    for name in subfolders:
        (folder / name).rmdir()
    path = write_storyboard(board.format(first="family: ltx2"))
    assert load_storyboard(path).model.checkpoint == "models/ltx-2.5"


def _plan(write_storyboard, preset: str, **model):
    settings = ", ".join(f"{k}: {v}" for k, v in {"preset": preset, "two_pass": "true", **model}.items())
    path = write_storyboard(f"""
        version: 1
        name: spot
        model: {{{settings}}}
        shots: [{{id: a, prompt: x, frames: 121}}]
        """)
    return plan_storyboard(load_storyboard(path), path)


LTXV_DISTILLED = [1000, 993, 987, 981, 975, 909, 725, 0.03]
LTX2_STAGE2 = [0.909375, 0.725, 0.421875]


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_calls_its_pipelines_with_the_documented_recipe(write_storyboard, name):
    """The keyword arguments the plan lists per pass, against diffusers' docs (ltx_video.md, ltx2.md); and
    every one of them is a parameter of the installed pipeline it goes to."""
    import diffusers

    plan = _plan(write_storyboard, name)
    generate, upsample, refine, *decode = plan.calls
    first, up, second = generate.kwargs, upsample.kwargs, refine.kwargs
    for call in plan.calls:
        accepted = inspect.signature(getattr(diffusers, call.pipeline).__call__).parameters
        assert set(call.kwargs) <= set(accepted), (call.step, set(call.kwargs) - set(accepted))
    if PRESETS[name].diffusion_decode:
        # LTX-2.5: the refine hands its latents (already denormalized) to the diffusion decoder's own call.
        assert second["output_type"] == "latent" and [call.step for call in decode] == ["decode"]
        assert decode[0].pipeline == "LTX2VideoDiffusionDecodePipeline"
        assert decode[0].kwargs == {"output_type": "np", "denormalize": False}
        second = dict(second, output_type="np")
    else:
        assert decode == []
    assert first["output_type"] == "latent" and second["output_type"] == "np"

    # `frame_rate` (the RoPE time scale) is the film's fps in every call, chosen on purpose: Lightricks' LTX-Video
    # inference.py and LTX-2 pipelines condition on the frame rate they write the video at (their CLI default 30);
    # the pipelines' own default (25, installed LTXConditionPipeline.__call__) is only a default. Storyboards default
    # to 24 fps.
    assert plan.output.fps == 24 and first["frame_rate"] == second["frame_rate"] == plan.output.fps
    if name.startswith("ltxv"):
        # 1216 x 704: the first pass at 2/3, rounded down to multiples of 32; the refine at twice that.
        assert (first["width"], first["height"]) == (800, 448) and (second["width"], second["height"]) == (1600, 896)
        for values in (first, second):
            assert values["guidance_rescale"] == 0.7 and values["image_cond_noise_scale"] == 0.0
            assert values["decode_timestep"] == 0.05 and values["decode_noise_scale"] == 0.025
        assert up["adain_factor"] == 1.0
        # 0.9.8: tone map 0.6 on the refine's final latents before decoding, as Lightricks' LTX-Video does
        # (configs/ltxv-13b-0.9.8-distilled.yaml, pipeline_ltx_video.py); chosen over diffusers' ltx_video.md,
        # which passes it to the upsample call.
        assert "tone_map_compression_ratio" not in up and generate.tone_map_compression_ratio == 0
        assert refine.tone_map_compression_ratio == (0.6 if name == "ltxv-0.9.8-distilled" else 0)
        if name == "ltxv-0.9.7-dev":
            assert (first["num_inference_steps"], first["guidance_scale"]) == (30, 5.0) and "timesteps" not in first
            assert (second["denoise_strength"], second["num_inference_steps"], second["guidance_scale"]) == (0.4, 10, 5.0)
        else:
            assert first["timesteps"] == LTXV_DISTILLED and first["guidance_scale"] == 1.0
            assert second["timesteps"] == [1000, 909, 725, 421, 0] and second["denoise_strength"] == 0.999
            assert (generate.denoising_steps, refine.denoising_steps) == (8, 4)
        assert refine.lora is None and not refine.freeze_audio
        return

    # LTX-2: two-pass defaults to the two-stage size, 1536x1024 with stage 1 at 768x512 (Lightricks' LTX-2
    # ltx_pipelines/utils/constants.py; diffusers' ltx2.md two-stage example); one pass keeps 768x512. The first pass
    # at half size, stage 2 on the stage-2 distilled sigmas at guidance 1.0.
    assert (plan.output.width, plan.output.height) == (1536, 1024)
    assert (first["width"], first["height"]) == (768, 512) and (second["width"], second["height"]) == (1536, 1024)
    one_pass = _plan(write_storyboard, name, two_pass="false")
    assert (one_pass.output.width, one_pass.output.height) == (768, 512)
    assert second["sigmas"] == LTX2_STAGE2 and second["noise_scale"] == 0.909375 and second["guidance_scale"] == 1.0
    assert second["stg_scale"] == 0.0 and second["modality_scale"] == 1.0
    # Lightricks' ti2vid_two_stages.py refines with freeze_audio=True: stage 1's sound is the clip's (diffusers'
    # ltx2.md example re-denoises it; Lightricks' chosen).
    assert refine.freeze_audio and not generate.freeze_audio
    # Installed pipeline_ltx2_condition.py `__call__` docstring: False is LTX-2.0's behaviour, True 2.3/2.5's (and
    # the default since diffusers' LTX-2.5 change): every call of a 2.0 preset passes False, of a 2.3 one True.
    assert first["use_cross_timestep"] is second["use_cross_timestep"] is (not name.startswith("ltx2-"))
    if name.endswith("-dev"):
        assert first["guidance_scale"] == 3.0 and first["audio_guidance_scale"] == 7.0
        assert first["stg_scale"] == 1.0 and first["modality_scale"] == 3.0 and first["guidance_rescale"] == 0.7
        assert first["num_inference_steps"] == (40 if name == "ltx2-dev" else 30) and first["sigmas"] is None
        assert first["spatio_temporal_guidance_blocks"] == ([29] if name == "ltx2-dev" else [28])
        # Stage 2 with the generation's distilled LoRA: 2.0's in Lightricks/LTX-2; 2.3's 1.1 from Lightricks' LTX-2
        # MODELS-LTX-2.3.md (original key layout, converted by diffusers' lora_conversion_utils.py on load).
        assert refine.lora == {
            "ltx2-dev": "Lightricks/LTX-2/ltx-2-19b-distilled-lora-384.safetensors",
            "ltx2.3-dev": "Lightricks/LTX-2.3/ltx-2.3-22b-distilled-lora-384-1.1.safetensors",
            # The stage-2 LoRA file the 2.5 conversion ships at its root (reference-ltx-checkpoints.json).
            "ltx2.5-dev": "Lightricks/LTX-2.5-Diffusers/ltx-2.5-22b-distilled-lora-450-bf16.safetensors",
        }[name]
    else:
        assert first["sigmas"] == [1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875]
        assert first["guidance_scale"] == 1.0 and first["stg_scale"] == 0.0 and refine.lora is None


def test_plan_json_shows_the_calls_and_presets_json_lists_every_preset(write_storyboard):
    path = write_storyboard("""
        version: 1
        name: spot
        model: {preset: ltxv-0.9.8-distilled, two_pass: true}
        shots: [{id: a, prompt: x, frames: 121}]
        """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "ltx_flows.cli", "plan", "--json", str(path)], capture_output=True,
                         text=True, env=env, check=True)
    plan = json.loads(run.stdout)
    assert [call["step"] for call in plan["calls"]] == ["generate", "upsample", "refine"]
    assert plan["calls"][1]["kwargs"] == {"adain_factor": 1.0, "output_type": "latent"}
    assert plan["calls"][2]["tone_map_compression_ratio"] == 0.6
    assert plan["vram"]["note"] == "estimate" and plan["vram"]["resident_gb"] > plan["vram"]["sequential_offload_gb"]
    table = subprocess.run([sys.executable, "-m", "ltx_flows.cli", "plan", str(path)], capture_output=True, text=True,
                           env={**env, "COLUMNS": "300"}, check=True).stdout
    assert "estimate" in table and "tone_map_compression_ratio=0.6" in table

    run = subprocess.run([sys.executable, "-m", "ltx_flows.cli", "presets", "--json"], capture_output=True, text=True,
                         env=env, check=True)
    listed = {p["name"]: p for p in json.loads(run.stdout)}
    assert set(listed) == set(PRESETS)
    assert listed["ltxv-0.9.7-dev"]["upsampler"] == "Lightricks/ltxv-spatial-upscaler-0.9.7/latent_upsampler"
    assert listed["ltxv-0.9.8-distilled"]["upsampler"] == "a-r-r-o-w/LTX-0.9.8-Latent-Upsampler"
    assert listed["ltx2.3-distilled"]["generation"] == "ltx2-2.3"
    # LTX-2.3's upsampler: Lightricks' ltx-2.3-spatial-upscaler-x2-1.1 (MODELS-LTX-2.3.md) in its diffusers-format
    # conversion, an LTX2LatentUpsamplePipeline repo (the model in latent_upsampler/).
    for name in ("ltx2.3-dev", "ltx2.3-distilled"):
        assert listed[name]["upsampler"] == "rootonchair/LTX-2.3-spatial-upscaler-x2-v1.1-Diffusers/latent_upsampler"
    assert set(listed["ltx2.3-dev"]["loras"].values()) == {
        "Lightricks/LTX-2.3-22b-IC-LoRA-Union-Control/ltx-2.3-22b-ic-lora-union-control-ref0.5.safetensors"
    }
    assert all(lora.split("/")[1].startswith("LTX-2-19b") for lora in listed["ltx2-dev"]["loras"].values())


@pytest.mark.parametrize("checkpoint, cross", [(None, False), ("Lightricks/LTX-2", False),
                                               ("rootonchair/LTX-2-19b-distilled", False),
                                               ("diffusers/LTX-2.3-Diffusers", True), ("tiny", None)])
def test_ltx2_calls_pass_the_cross_timestep_of_their_generation(write_storyboard, checkpoint, cross):
    """`ltx-flows plan --json`: an ltx2-dev storyboard passes `use_cross_timestep: false` in every call (diffusers'
    default True is the 2.3/2.5 behaviour); without a preset a known hub checkpoint gets its generation's value,
    an unknown one the pipeline's default; a two-pass ltx2.3-dev storyboard refines with the 2.3 distilled LoRA."""
    model = "{preset: ltx2-dev, two_pass: true}" if checkpoint is None else f"{{family: ltx2, checkpoint: {checkpoint}}}"
    path = write_storyboard(f"""
        version: 1
        name: spot
        model: {model}
        shots: [{{id: a, prompt: x, frames: 9}}]
        """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    plan = json.loads(subprocess.run([sys.executable, "-m", "ltx_flows.cli", "plan", "--json", str(path)],
                                     capture_output=True, text=True, env=env, check=True).stdout)
    generating = [call for call in plan["calls"] if call["step"] != "upsample"]
    assert len(generating) == (2 if checkpoint is None else 1)
    for call in generating:
        assert call["kwargs"].get("use_cross_timestep") is cross, call

    path.write_text(path.read_text().replace("preset: ltx2-dev", "preset: ltx2.3-dev"))
    if checkpoint is None:
        plan = json.loads(subprocess.run([sys.executable, "-m", "ltx_flows.cli", "plan", "--json", str(path)],
                                         capture_output=True, text=True, env=env, check=True).stdout)
        [refine] = [call for call in plan["calls"] if call["step"] == "refine"]
        assert refine["lora"] == "Lightricks/LTX-2.3/ltx-2.3-22b-distilled-lora-384-1.1.safetensors"
        assert all(call["kwargs"].get("use_cross_timestep", True) is True for call in plan["calls"])


def _tiny_plan(write_storyboard, preset: str, name: str = "board.yaml"):
    path = write_storyboard(f"""
        version: 1
        name: spot
        model: {{preset: {preset}, checkpoint: tiny, two_pass: true}}
        output: {{width: 128, height: 64}}
        shots: [{{id: a, prompt: x, frames: 9}}]
        """, name)
    return plan_storyboard(load_storyboard(path), path)


def test_on_step_counts_every_denoising_step_of_both_passes(write_storyboard, tiny_cache):
    from ltx_flows.models import loading
    from ltx_flows.render import generate

    plan = _tiny_plan(write_storyboard, "ltxv-0.9.8-distilled")
    pipe = loading.load_pipeline(plan.model)
    upsample_pipe = loading.load_upsampler(plan.model, plan.upsampler, pipe)
    steps = []
    clip = generate.generate_shot(pipe, plan.shots[0], plan.model, plan.output, upsample_pipe,
                                  on_step=lambda done, total: steps.append((done, total)))
    total = 8 + 4  # the distilled timesteps, then the last 4 of the refine timesteps
    assert steps == [(done, total) for done in range(1, total + 1)]
    # Rendered at 2/3 size, upsampled to 2x that (128 x 64 -> 64 x 32 -> 128 x 64), at the asked size.
    assert clip.frames.shape == (9, 64, 128, 3)


def test_one_model_stays_loaded_and_the_upsampler_keeps_the_shared_vae_hooks(write_storyboard, tiny_cache):
    """Loading another model drops the one before (its pipeline is freed); placing an upsampler never removes
    the hooks of the VAE it shares with the main pipeline (enable_model_cpu_offload on it would)."""
    from accelerate.hooks import ModelHook, add_hook_to_module

    from ltx_flows.models import loading

    plan = _tiny_plan(write_storyboard, "ltxv-0.9.7-dev")
    pipe = loading.load_pipeline(plan.model)
    hook = ModelHook()
    add_hook_to_module(pipe.vae, hook)  # what the main pipeline's offload puts on its VAE
    loading.load_upsampler(plan.model, plan.upsampler, pipe)
    assert getattr(pipe.vae, "_hf_hook", None) is hook

    first = weakref.ref(pipe)
    del pipe
    other = _tiny_plan(write_storyboard, "ltx2-distilled", "other.yaml")
    loading.load_pipeline(other.model)
    gc.collect()
    assert first() is None  # dropped: not cached, not referenced by an upsampler
    assert len(loading.MODELS.pipelines) == 1


def test_download_fetches_exactly_what_rendering_loads(write_storyboard, reference_media, monkeypatch):
    """What `ltx-flows download` asks the hub for (no network here: the lists, not the transfer)."""
    from ltx_flows.models.prefetch import preset_needs, storyboard_needs

    monkeypatch.delenv("LTX_FLOWS_ANNOTATORS", raising=False)  # detector files come from the hub repo

    needs = {(n.repo, n.what): n for n in preset_needs("ltx2-dev")}
    checkpoint = needs[("Lightricks/LTX-2", "checkpoint")]
    # Pipeline subfolders only: never the single-file checkpoints the repo also holds at its root.
    assert checkpoint.patterns[0] == "model_index.json" and all(p.endswith("/*") for p in checkpoint.patterns[1:])
    assert "transformer/*" in checkpoint.patterns and "vocoder/*" in checkpoint.patterns
    assert needs[("Lightricks/LTX-2", "upsampler")].patterns == ["latent_upsampler/*"]
    assert needs[("Lightricks/LTX-2", "stage-2 LoRA")].files == ["ltx-2-19b-distilled-lora-384.safetensors"]
    assert needs[("Lightricks/LTX-2-19b-IC-LoRA-Pose-Control", "IC-LoRA")].files == ["ltx-2-19b-ic-lora-pose-control.safetensors"]
    # 0.9.8's upsampler is a model at its repo root; 0.9.7's a subfolder of a pipeline repo.
    [root] = [n for n in preset_needs("ltxv-0.9.8-distilled") if n.what == "upsampler"]
    assert (root.repo, root.patterns) == ("a-r-r-o-w/LTX-0.9.8-Latent-Upsampler", ["config.json", "*.safetensors"])
    [sub] = [n for n in preset_needs("ltxv-0.9.7-dev") if n.what == "upsampler"]
    assert (sub.repo, sub.patterns) == ("Lightricks/ltxv-spatial-upscaler-0.9.7", ["latent_upsampler/*"])
    # LTX-2.5's repo holds both transformers: the dev preset fetches transformer_full/, the distilled one transformer/;
    # both fetch the diffusion decoder, which the pipeline's own loading would skip.
    for name, wanted, unwanted in (("ltx2.5-dev", "transformer_full/*", "transformer/*"),
                                   ("ltx2.5-distilled", "transformer/*", "transformer_full/*")):
        [need] = [n for n in preset_needs(name) if n.what == "checkpoint"]
        assert wanted in need.patterns and unwanted not in need.patterns and "diffusion_decoder/*" in need.patterns

    # A storyboard needs only what it uses: its checkpoint, and for a depth control the IC-LoRA and detector.
    path = write_storyboard(f"""
        version: 1
        name: spot
        model: {{preset: ltx2.3-distilled}}
        output: {{width: 256, height: 256}}
        shots: [{{id: a, prompt: x, frames: 9, control: {{kind: depth, source: {reference_media["clip"]}}}}}]
        """)
    found = {(n.repo, n.what): n for n in storyboard_needs(load_storyboard(path))}
    # ltx2.3-distilled loads the 1.1 conversion: Lightricks publishes only ltx-2.3-22b-distilled-1.1 now
    # (LTX-2 MODELS-LTX-2.3.md); diffusers/LTX-2.3-Distilled-Diffusers is the 1.0 one.
    assert set(found) == {("rootonchair/LTX-2.3-Distilled-v1.1-Diffusers", "checkpoint"),
                          ("Lightricks/LTX-2.3-22b-IC-LoRA-Union-Control", "IC-LoRA"),
                          ("lllyasviel/Annotators", "depth detector")}
    assert found[("lllyasviel/Annotators", "depth detector")].files == ["dpt_hybrid-midas-501f0c75.pt"]


def test_ltxv_0_9_8_tone_maps_the_final_latents_once_right_before_decoding(write_storyboard, tiny_cache, monkeypatch):
    """Lightricks' LTX-Video 0.9.8 distilled config (configs/ltxv-13b-0.9.8-distilled.yaml) tone-maps by 0.6 and its
    pipeline_ltx_video.py applies it to the final latents before decoding; diffusers' ltx_video.md applies it in the
    upsample call. ltx-flows follows Lightricks: once, after the refine's last step, never on the upsampled latents."""
    from ltx_flows.models import loading
    from ltx_flows.render import generate

    plan = _tiny_plan(write_storyboard, "ltxv-0.9.8-distilled")
    pipe = loading.load_pipeline(plan.model)
    upsample_pipe = loading.load_upsampler(plan.model, plan.upsampler, pipe)
    steps, mapped, decoded = [], [], []
    original = upsample_pipe.tone_map_latents

    def recording(latents, compression):
        out = original(latents, compression)
        mapped.append((len(steps), compression, out))
        return out

    monkeypatch.setattr(upsample_pipe, "tone_map_latents", recording)
    hook = pipe.vae.decoder.register_forward_pre_hook(lambda m, a: decoded.append(a[0].detach().clone()))
    try:
        generate.generate_shot(pipe, plan.shots[0], plan.model, plan.output, upsample_pipe,
                               on_step=lambda done, total: steps.append(done))
    finally:
        hook.remove()
    [(after_step, compression, out)] = mapped
    assert (after_step, compression) == (8 + 4, 0.6)  # after the refine's last step, not in the upsample call
    assert len(decoded) == 1
