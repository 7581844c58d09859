"""Prompt enhancement on the tiny LTX-2 checkpoint (real LTX2ConditionPipeline, its real `enhance_prompt`, CPU):
`ltx-flows enhance` prints the text the pipeline's Gemma encoder writes (from the first frame's picture too,
where a keyframe pins it) and caches it beside the render; the same
inputs write the same text again (the seed is fixed); a shot renders with the cached text (the generation's progress
event carries it), the manifest and review page show it; `--write` freezes it into the YAML keeping comments. The
tiny encoder has random weights, so its text is noise: the tests check where the text goes, never what it says."""

import json

import pytest
from typer.testing import CliRunner

from ltx_flows.cli import app
from ltx_flows.finish.enhanced import enhance_html, enhance_section
from ltx_flows.plan.enhance import cached_enhancement
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.render.enhance import enhanced_text
from ltx_flows.render.shot import render_shot
from ltx_flows.storyboard.loading import load_storyboard

from .generations import watching

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]

BOARD = """\
version: 1
name: enh
model: {family: ltx2, checkpoint: tiny, steps: 2, enhance_prompt: true}  # every shot, unless it says otherwise
output: {width: 96, height: 64}
shots:
  # the one the enhancer rewrites
  - id: a
    prompt: a red ball rolls
    frames: 9
  - id: b
    prompt: a blue cube   # kept as written
    enhance_prompt: false
    frames: 9
  - id: c
    prompt: a door opens
    keyframes: [{image: keyframes/a.png}]   # the enhancer sees this first frame
    frames: 9
"""


def test_enhance_prints_caches_renders_with_and_writes_the_enhanced_prompt(workspace, tiny_cache):
    path = workspace / "board.yaml"
    path.write_text(BOARD)
    runner = CliRunner()
    result = runner.invoke(app, ["enhance", str(path)])
    assert result.exit_code == 0, result.output
    plan = plan_storyboard(load_storyboard(path), path)
    film_dir = workspace / "renders" / "enh"
    shot = plan.shot("a")
    text = cached_enhancement(film_dir, shot.enhance)
    assert text and text != shot.prompt and f"a: {text}" in result.output
    assert "b:" not in result.output and plan.shot("b").enhance is None
    # A first-frame keyframe: Lightricks' image-to-video system prompt, the picture through the vision tower.
    pictured = plan.shot("c").enhance
    assert pictured.system_prompt == "I2V_DEFAULT_SYSTEM_PROMPT" and pictured.image.name == "a.png"
    assert cached_enhancement(film_dir, pictured) not in (None, text)
    # The seed is fixed: made again from nothing, the same inputs give the same text.
    (film_dir / "enhanced" / f"{shot.enhance.key}.json").unlink()
    assert enhanced_text(plan, shot.enhance, film_dir, shot.id) == text

    with watching() as generations:
        render_shot(plan, shot, film_dir)
    assert [event["prompt"] for event in generations.events] == [text]
    section = enhance_section(shot, film_dir)
    assert section["enhanced_prompt"]["text"] == text and section["enhanced_prompt"]["seed"] == 10
    assert "Enhanced" in enhance_html(section)

    shown = runner.invoke(app, ["plan", str(path)], env={"COLUMNS": "250"})
    assert "prompts enhanced first" in shown.output and text[:20] in shown.output

    written = runner.invoke(app, ["enhance", str(path), "--write"])
    assert written.exit_code == 0, written.output
    new = path.read_text()
    for comment in ("# every shot, unless it says otherwise", "# the one the enhancer rewrites", "# kept as written",
                    "# the enhancer sees this first frame"):
        assert comment in new
    frozen = load_storyboard(path)
    assert frozen.shots[0].prompt == text and frozen.shots[0].enhance_prompt is False
    assert frozen.shots[1].prompt == "a blue cube" and frozen.shots[2].prompt == cached_enhancement(film_dir, pictured)
    assert plan_storyboard(frozen, path).shot("a").enhance is None
    again = runner.invoke(app, ["enhance", str(path)])
    assert "no shot asks for `enhance_prompt`" in again.output
    json.dumps(section)  # the manifest's section is plain JSON


BOARD_25 = """\
version: 1
name: enh25
model: {preset: ltx2.5-distilled, checkpoint: tiny, steps: 2, sigmas: null, enhance_prompt: true}
output: {width: 96, height: 64}
shots:
  - {id: a, prompt: a red ball rolls, frames: 9}
  - {id: c, prompt: a door opens, frames: 9, keyframes: [{image: keyframes/a.png}]}
"""


def test_ltx2_5_enhances_with_its_dedicated_prompt_enhancer_loaded_only_for_it(workspace, tiny_cache):
    """LTX-2.5 (tiny twin): the render's pipeline holds no `prompt_enhancer` (and loads without the folder); enhancing
    loads the repo's Gemma 4 enhancer once, which writes the text (the text encoder does not run) under 2.5's own
    system prompts, greedily (the same text again); the pipeline is left as the render has it; the shot renders
    with the text."""
    import shutil

    import torch

    from ltx_flows.models import ltx25
    from ltx_flows.models.loading import checkpoint_path, load_pipeline

    path = workspace / "board.yaml"
    path.write_text(BOARD_25)
    plan = plan_storyboard(load_storyboard(path), path)
    shot, pictured = plan.shot("a"), plan.shot("c")
    assert (shot.enhance.enhancer, shot.enhance.system_prompt) == ("prompt_enhancer", "LTX2_5_T2V_DEFAULT_SYSTEM_PROMPT")
    assert pictured.enhance.system_prompt == "LTX2_5_I2V_DEFAULT_SYSTEM_PROMPT"
    repo = checkpoint_path(plan.model)
    # A render's pipeline: no enhancer loaded, and none needed on disk (a copy without prompt_enhancer/ loads).
    pipe = load_pipeline(plan.model)
    assert pipe.prompt_enhancer is None and type(pipe.processor).__name__ == "Gemma4Processor"
    bare = workspace / "bare"
    shutil.copytree(repo, bare, ignore=shutil.ignore_patterns("prompt_enhancer"))
    assert ltx25.from_pretrained(str(bare), torch.float32, None).prompt_enhancer is None

    result = CliRunner().invoke(app, ["enhance", str(path)])
    assert result.exit_code == 0, result.output
    film_dir = workspace / "renders" / "enh25"
    text = cached_enhancement(film_dir, shot.enhance)
    assert text and text != shot.prompt and f"a: {text}" in result.output
    assert cached_enhancement(film_dir, pictured.enhance) not in (None, text)  # the picture through its vision tower
    enhancer = pipe._ltx_flows_prompt_enhancer
    assert type(enhancer).__name__ == "Gemma4ForConditionalGeneration" and pipe.prompt_enhancer is None
    # Made again from nothing: the dedicated enhancer runs, the text encoder does not, and greedy decoding repeats.
    ran = {"enhancer": 0, "text_encoder": 0}
    hooks = [enhancer.register_forward_hook(lambda *_: ran.__setitem__("enhancer", ran["enhancer"] + 1)),
             pipe.text_encoder.register_forward_hook(lambda *_: ran.__setitem__("text_encoder", ran["text_encoder"] + 1))]
    (film_dir / "enhanced" / f"{shot.enhance.key}.json").unlink()
    try:
        assert enhanced_text(plan, shot.enhance, film_dir, shot.id) == text
    finally:
        for hook in hooks:
            hook.remove()
    assert ran["enhancer"] > 0 and ran["text_encoder"] == 0
    assert pipe._ltx_flows_prompt_enhancer is enhancer  # loaded once per pipeline

    with watching() as generations:
        render_shot(plan, shot, film_dir)
    assert [event["prompt"] for event in generations.events] == [text]
    assert enhance_section(shot, film_dir)["enhanced_prompt"]["enhancer"] == "prompt_enhancer"


def test_ltx2_5_enhances_offline_from_its_hub_id(workspace, tiny_cache, tmp_path):
    """From the hub id, as a worker runs: the storyboard's needs (`download --tiny FILE`'s) fill an empty Hugging Face
    cache; then, offline and with an empty ltx-flows cache, `ltx-flows enhance FILE` loads the enhancer from the
    cached repo's `prompt_enhancer/` (huggingface_hub resolves the subfolder) and prints its text."""
    import os
    import subprocess
    import sys

    from ltx_flows.models.prefetch import install_tiny, storyboard_needs

    from .conftest import REPO

    path = workspace / "hub.yaml"
    path.write_text(BOARD_25.replace("checkpoint: tiny, ", "").replace("name: enh25", "name: hub25"))
    needs = storyboard_needs(load_storyboard(path))
    assert "prompt_enhancer/*" in needs[0].patterns
    install_tiny(needs, tmp_path / "hf" / "hub")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO),
               LTX_FLOWS_CACHE=str(tmp_path / "empty"), OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-m", "ltx_flows.cli", "enhance", str(path)], cwd=workspace, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    enhance = plan_storyboard(load_storyboard(path), path).shot("a").enhance
    text = cached_enhancement(workspace / "renders" / "hub25", enhance)
    assert text and f"a: {text}" in run.stdout and enhance.checkpoint == "ltx2.5-distilled:Lightricks/LTX-2.5-Diffusers"
    assert not (tmp_path / "empty" / "twins").exists()  # nothing but the hub cache served the model


def test_a_long_take_renders_its_one_enhanced_prompt_in_every_window(workspace, tiny_cache):
    """A long take (four windows) with `enhance_prompt`: enhanced once, and every window's generation is given that
    text (the progress log's generation events); the windows' cached clips are keyed by it."""
    path = workspace / "take.yaml"
    path.write_text("""\
version: 1
name: take
model: {family: ltx2, checkpoint: tiny, steps: 2, enhance_prompt: true}
output: {width: 96, height: 64, fps: 24}
shots:
  - {id: run, prompt: a runner, frames: 41, segments: {frames: 17, overlap: 9}}
""")
    plan = plan_storyboard(load_storyboard(path), path)
    shot = plan.shot("run")
    film_dir = workspace / "renders" / "take"
    assert len(shot.segments) == 4 and shot.enhance is not None
    with watching() as generations:
        render_shot(plan, shot, film_dir)
    text = cached_enhancement(film_dir, shot.enhance)
    assert text and text != shot.prompt
    assert [event["prompt"] for event in generations.events] == [text] * 4
