"""Unit tests: presets, two-pass, sound and controls in the storyboard language and the plan (no stubs)."""

import pytest

from ltx_flows.storyboard.frames import ltx2_anchor_frame, ltx2_latent_index
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.presets import DISTILLED_SIGMAS, PRESETS, presets_markdown
from ltx_flows.storyboard.loading import load_storyboard
from ltx_flows.storyboard.models import film_audio
from ltx_flows.storyboard.problems import StoryboardError

from ...conftest import REPO


def problems(path) -> list[str]:
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path)
    return [p.format(path) for p in info.value.problems]


def test_a_preset_fills_in_what_the_storyboard_leaves_out(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        model: {preset: ltx2-distilled, checkpoint: tiny}
        output: {width: 640}
        shots: [{id: a, prompt: x, frames: 9}]
        """
    )
    storyboard = load_storyboard(path)
    preset = PRESETS["ltx2-distilled"]
    assert storyboard.model.family == "ltx2"
    assert (storyboard.model.steps, storyboard.model.sigmas) == (8, DISTILLED_SIGMAS)
    assert storyboard.model.guidance_scale == preset.guidance_scale
    # What the storyboard says wins, field by field.
    assert storyboard.model.checkpoint == "tiny"
    assert (storyboard.output.width, storyboard.output.height) == (640, preset.height)
    # LTX-2 makes sound unless told otherwise.
    assert film_audio(storyboard) == "generate"


def test_preset_errors_are_located_and_say_what_to_do(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        model:
          preset: ltx2-turbo
        shots: [{id: a, prompt: x, frames: 9}]
        """
    )
    [problem] = problems(path)
    assert problem.startswith(f"{path}:4:11: model.preset: ") and "`ltx2-distilled`" in problem

    # LTX-Video 0.9.0 / 0.9.1 ship a scheduler LTXConditionPipeline cannot drive: refused where it is named.
    path = write_storyboard(
        """
        version: 1
        name: spot
        model:
          checkpoint: Lightricks/LTX-Video-0.9.1
        shots: [{id: a, prompt: x, frames: 9}]
        """
    )
    [problem] = problems(path)
    assert problem.startswith(f"{path}:4:15: model.checkpoint: LTX-Video 0.9.1 is not supported")
    assert "0.9.5 or later" in problem


def test_sigmas_follow_the_steps_and_go_down(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        model: {preset: ltx2-distilled, checkpoint: tiny, steps: 4, refine_sigmas: [0.5, 0.7]}
        shots: [{id: a, prompt: x, frames: 9}]
        """
    )
    found = problems(path)
    # The preset set the sigmas (and its own steps): the problem points at the `steps` to drop.
    assert any(f"{path}:3:58: model.steps: `steps: 4` does not fit preset `ltx2-distilled`" in p
               and "drop `steps` to use the preset's 8" in p for p in found)
    assert any("model.refine_sigmas: sigmas must go strictly down" in p for p in found)


ONE_STEP = """
version: 1
name: spot
model:
  {model}
  steps: 1
shots: [{{id: a, prompt: x, frames: 9}}]
"""


@pytest.mark.parametrize("model", [
    "family: ltx2",
    "preset: ltx2-dev\n  checkpoint: tiny",
    "preset: ltx2.3-dev\n  two_pass: true",
])
def test_one_step_is_refused_where_ltx2_stretches_its_schedule(write_storyboard, model):
    # LTX-2's dev schedulers (and the tiny checkpoint's) stretch the schedule to `shift_terminal`: one step at
    # sigma 1.0 gives a NaN timestep and diffusers fails mid-render (IndexError), long takes and two-pass alike.
    path = write_storyboard(ONE_STEP.format(model=model))
    line = 5 + model.count("\n")  # of `steps: 1`
    [problem] = problems(path)
    assert problem.startswith(f"{path}:{line}:10: model.steps: LTX-2 with `") and "needs at least 2 denoising steps" in problem
    assert "set `steps: 2` or more" in problem and "`sigmas: [1.0]`" in problem


def test_one_step_is_allowed_where_it_renders(write_storyboard, workspace):
    def validates(model: str) -> bool:
        return load_storyboard(write_storyboard(ONE_STEP.format(model=model))).model.steps == 1

    assert validates("family: ltxv")  # LTX-Video's schedulers have no `shift_terminal`
    assert validates("family: ltx2\n  sigmas: [1.0]")  # given sigmas run unshifted
    assert validates("family: ltx2\n  checkpoint: rootonchair/LTX-2-19b-distilled")  # distilled: no stretch
    # A preset's twin has its repo's scheduler; the distilled preset's 8 sigmas must go for one step.
    assert validates("preset: ltx2.3-distilled\n  checkpoint: tiny\n  sigmas: null")
    # A one-sigma refine pass is given its sigmas too.
    assert validates("family: ltx2\n  sigmas: [1.0]\n  two_pass: true\n  refine_sigmas: [0.9]\n  upsampler: tiny")
    # A local folder: its scheduler config says.
    scheduler = workspace / "my-ltx2" / "scheduler"
    scheduler.mkdir(parents=True)
    (workspace / "my-ltx2" / "model_index.json").write_text("{}")
    (scheduler / "scheduler_config.json").write_text('{"use_dynamic_shifting": false, "shift_terminal": null}')
    assert validates("family: ltx2\n  checkpoint: my-ltx2")
    (scheduler / "scheduler_config.json").write_text('{"use_dynamic_shifting": true, "shift_terminal": 0.1}')
    path = write_storyboard(ONE_STEP.format(model="family: ltx2\n  checkpoint: my-ltx2"))
    [problem] = problems(path)
    assert problem.startswith(f"{path}:6:10: model.steps: LTX-2 with `my-ltx2` needs at least 2 denoising steps")


def test_two_pass_needs_sizes_of_64_and_an_upsampler(write_storyboard, workspace):
    (workspace / "my-model").mkdir()
    (workspace / "my-model" / "model_index.json").write_text("{}")  # a local diffusers folder (checked at validation)
    path = write_storyboard(
        """
        version: 1
        name: spot
        model: {checkpoint: my-model, two_pass: true}
        output: {width: 96, height: 64}
        shots: [{id: a, prompt: x, frames: 9}]
        """
    )
    found = problems(path)
    assert any("two-pass rendering needs width and height multiples of 64" in p and "96x64" in p for p in found)
    assert any("two-pass rendering needs a latent upsampler: set `model.upsampler`" in p for p in found)


def test_sound_rules(write_storyboard, reference_media, workspace):
    base = "version: 1\nname: spot\nmodel: {{family: {family}}}\noutput: {{audio: {audio}}}\nshots: [{{id: a, prompt: x, frames: 9{mute}}}]\n"
    path = write_storyboard(base.format(family="ltxv", audio="generate", mute=""))
    [problem] = problems(path)
    assert "output.audio: LTX-Video makes no sound: use `model.family: ltx2`, a music bed file, or `none`" in problem

    path = write_storyboard(base.format(family="ltxv", audio=reference_media["bed"], mute=""))
    assert film_audio(load_storyboard(path)) == workspace / "controls" / "bed.wav"

    path = write_storyboard(base.format(family="ltx2", audio=reference_media["still"], mute=""))
    [problem] = problems(path)
    assert "still.png has no audio stream" in problem

    path = write_storyboard(base.format(family="ltx2", audio="none", mute=", mute: true"))
    [problem] = problems(path)
    assert "shots[0].mute: `mute` silences generated sound, and this film generates none" in problem


CONTROLLED = """
version: 1
name: spot
model: {{family: {family}, checkpoint: {checkpoint}}}
output: {{width: {width}, height: 64}}
shots:
  - id: a
    prompt: x
    frames: 9
    control: {{kind: canny, source: {source}}}
"""


def test_controls_need_ltx2_sizes_of_64_and_readable_media_inside_the_root(write_storyboard, reference_media, workspace):
    path = write_storyboard(CONTROLLED.format(family="ltxv", checkpoint="tiny", width=128, source=reference_media["clip"]))
    [problem] = problems(path)
    assert "shots[0].control: controls work through LTX-2's IC-LoRAs: set `model.family: ltx2`" in problem

    path = write_storyboard(CONTROLLED.format(family="ltx2", checkpoint="tiny", width=96, source=reference_media["clip"]))
    [problem] = problems(path)
    assert "a controlled shot needs width and height multiples of 64" in problem

    path = write_storyboard(CONTROLLED.format(family="ltx2", checkpoint="tiny", width=128, source="../outside.mp4"))
    [problem] = problems(path)
    assert "shots[0].control.source:" in problem and "outside the workspace root" in problem

    (workspace / "notes.txt").write_text("not a video")
    path = write_storyboard(CONTROLLED.format(family="ltx2", checkpoint="tiny", width=128, source="notes.txt"))
    [problem] = problems(path)
    assert "notes.txt is neither an image nor a video that can be read" in problem

    (workspace / "my-model").mkdir()
    (workspace / "my-model" / "model_index.json").write_text("{}")  # a local diffusers folder (checked at validation)
    path = write_storyboard(CONTROLLED.format(family="ltx2", checkpoint="my-model", width=128, source=reference_media["clip"]))
    [problem] = problems(path)
    assert "no default IC-LoRA for `canny` without a preset: set `lora`" in problem


def test_control_loras_default_to_the_presets_or_the_tiny_one(write_storyboard, reference_media):
    path = write_storyboard(CONTROLLED.format(family="ltx2", checkpoint="tiny", width=128, source=reference_media["clip"]))
    [shot] = plan_storyboard(load_storyboard(path), path).shots
    assert shot.control.lora == "tiny" and shot.control.video == "controls/a-canny.mp4"

    path = write_storyboard(
        CONTROLLED.format(family="ltx2", checkpoint="tiny", width=128, source=reference_media["clip"]).replace(
            "family: ltx2", "preset: ltx2-dev"
        )
    )
    [shot] = plan_storyboard(load_storyboard(path), path).shots
    # With `checkpoint: tiny` the preset's LoRA file comes from its generation's twin, under its published name.
    assert shot.control.lora == "twin:ltx2-2.0:" + PRESETS["ltx2-dev"].control_loras["canny"]
    path.write_text(path.read_text().replace("checkpoint: tiny", "checkpoint: Lightricks/LTX-2"))
    [shot] = plan_storyboard(load_storyboard(path), path).shots
    assert shot.control.lora == PRESETS["ltx2-dev"].control_loras["canny"]


@pytest.mark.parametrize(
    "frame, index, lands_at",
    [(0, 0, 0), (1, 1, 1), (4, 1, 1), (5, 2, 9), (9, 2, 9), (12, 2, 9), (13, 3, 17), (32, 4, 25)],
)
def test_ltx2_keyframes_go_to_the_nearest_latent_anchor(frame, index, lands_at):
    assert ltx2_latent_index(frame, 33) == index
    assert ltx2_anchor_frame(index) == lands_at


def test_the_plan_shows_where_ltx2_keyframes_land_and_ltxv_ones_stay(write_storyboard):
    board = """
    version: 1
    name: spot
    model: {{family: {family}}}
    shots:
      - id: a
        prompt: x
        frames: 17
        keyframes: [{{image: keyframes/a.png, at: end}}, {{image: keyframes/a.png, at: 0}}]
    """
    ltx2 = plan_storyboard(load_storyboard(path := write_storyboard(board.format(family="ltx2"))), path)
    assert [(k.frame, k.latent_index, k.model_frame) for k in ltx2.shots[0].keyframes] == [(16, 2, 9), (0, 0, 0)]
    ltxv = plan_storyboard(load_storyboard(path := write_storyboard(board.format(family="ltxv"))), path)
    assert [(k.frame, k.latent_index, k.model_frame) for k in ltxv.shots[0].keyframes] == [(16, None, 16), (0, None, 0)]


def test_content_hash_follows_sound_and_controls_but_not_the_bed(write_storyboard, reference_media, workspace):
    board = """
    version: 1
    name: spot
    model: {{family: ltx2}}
    output: {{width: 128, height: 64, audio: {audio}}}
    shots:
      - {{id: a, prompt: x, frames: 9, mute: {mute}, control: {{kind: {kind}, source: {source}}}}}
    """

    def shot_hash(audio="generate", mute="false", kind="canny", source=reference_media["clip"]):
        path = write_storyboard(board.format(audio=audio, mute=mute, kind=kind, source=source))
        return plan_storyboard(load_storyboard(path), path).shots[0].content_hash

    reference = shot_hash()
    assert shot_hash(mute="true") != reference
    assert shot_hash(kind="depth") != reference
    assert shot_hash(source=reference_media["still"]) != reference
    assert shot_hash(audio="none") != reference  # the clip then has no sound track
    with_bed = shot_hash(audio=reference_media["bed"])
    (workspace / "controls" / "bed.wav").write_bytes((workspace / "controls" / "bed.wav").read_bytes() + b"\0" * 64)
    assert shot_hash(audio=reference_media["bed"]) == with_bed  # a bed goes under the film, not into clips


def test_docs_preset_table_is_generated_from_the_presets():
    docs = (REPO / "docs" / "models.md").read_text()
    start = docs.index("<!-- presets:start -->\n") + len("<!-- presets:start -->\n")
    end = docs.index("<!-- presets:end -->")
    assert docs[start:end] == presets_markdown(), "docs/models.md presets table is stale: paste `presets_markdown()`"


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_value_a_preset_passes_names_its_source(name):
    """docs/models.md lists, per preset, where each value comes from: every keyword argument its recipe passes
    (an `audio_` twin shares its video argument's source), the refine's extras, and the values around them."""
    from ltx_flows.storyboard.presets import value_sources

    preset = PRESETS[name]
    sources = value_sources(preset)
    recipe = preset.recipe
    for key in {*recipe.first, *recipe.upsample, *recipe.refine}:
        assert key in sources or key.removeprefix("audio_") in sources, (name, key)
    assert all(sources.values())
    if recipe.refine_tone_map:
        assert "Lightricks" in sources["tone_map_compression_ratio"]
    if preset.family == "ltx2":
        assert "docstring" in sources["use_cross_timestep"] and "ti2vid_two_stages" in sources["freeze_audio (refine)"]
    row = next(line for line in presets_markdown().splitlines() if line.startswith(f"| `{name}` | `checkpoint"))
    assert all(f"`{key}`: {source}" in row for key, source in sources.items())
