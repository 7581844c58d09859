"""A film's look at validation (storyboard/look_checks.py, lora_fit.py): a LoRA of another generation refused naming
the one it fits, read from the file's header; a missing file located with a did-you-mean; LTX-Video refused; camera
moves planned as their generation's published LoRA, an unknown one with a did-you-mean, another generation refused;
unknown and unused characters located. Real LoRA files made on the twins' tiny transformers (models/tiny_loras.py);
no stubs."""

import pytest

from ltx_flows.models import tiny_loras, tiny_ltx2
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.generations import GENERATIONS
from ltx_flows.storyboard.loading import load_storyboard
from ltx_flows.storyboard.lora_fit import fitting_generations, lora_layers, read_header
from ltx_flows.storyboard.problems import StoryboardError


def _lora(generation: str, path, seed: int = 0):
    transformer = tiny_ltx2.transformer(dict(GENERATIONS[generation].components["transformer"].structure))
    return tiny_loras.save_original_lora(transformer, path, seed=seed, targets=tiny_loras.generation_targets(transformer))


BOARD = """
version: 1
name: look
model: {{preset: {preset}, checkpoint: tiny, loras: [{{file: {film}, strength: 0.7}}]}}
output: {{width: 128, height: 64}}
shots:
  - {{id: a, prompt: "a street", frames: 9}}
  - {{id: b, prompt: "a face", frames: 9, loras: [{{file: ./hero.safetensors}}]}}
"""


def _errors(path) -> str:
    with pytest.raises(StoryboardError) as error:
        load_storyboard(path)
    return str(error.value)


def test_each_generation_s_lora_is_told_apart_by_its_header(workspace):
    assert fitting_generations(lora_layers(read_header(_lora("ltx2-2.0", workspace / "a.safetensors")))) == ["ltx2-2.0"]
    # LTX-2.5's transformer has 2.3's layers (generations.py), so a header cannot tell a 2.3 LoRA from a 2.5 one:
    # both are named, and a 2.3 LoRA is accepted on 2.5 (docs/storyboards.md says so).
    assert fitting_generations(lora_layers(read_header(_lora("ltx2-2.3", workspace / "b.safetensors")))) == [
        "ltx2-2.3", "ltx2-2.5"]


@pytest.mark.parametrize("preset, made_for", [("ltx2-dev", "ltx2-2.3"), ("ltx2.3-distilled", "ltx2-2.0")])
def test_a_lora_of_another_generation_is_refused_naming_the_one_it_fits(write_storyboard, workspace, preset, made_for):
    _lora(made_for, workspace / "film.safetensors")
    _lora(made_for, workspace / "hero.safetensors")
    message = _errors(write_storyboard(BOARD.format(preset=preset, film="./film.safetensors")))
    assert "board.yaml:3:" in message and "model.loras[0].file" in message
    assert f"is a LoRA for {made_for}" in message and "renders with" in message
    assert "shots[1].loras[0].file" in message


def test_a_missing_lora_file_is_located_with_a_did_you_mean(write_storyboard, workspace):
    _lora("ltx2-2.0", workspace / "film.safetensors")
    _lora("ltx2-2.0", workspace / "hero.safetensors")
    message = _errors(write_storyboard(BOARD.format(preset="ltx2-dev", film="./flim.safetensors")))
    assert "model.loras[0].file" in message and "no .safetensors file" in message
    assert "did you mean" in message and "film.safetensors" in message


def test_loras_are_refused_on_ltx_video(write_storyboard, workspace):
    _lora("ltx2-2.0", workspace / "film.safetensors")
    _lora("ltx2-2.0", workspace / "hero.safetensors")
    message = _errors(write_storyboard(BOARD.format(preset="ltxv-0.9.7-distilled", film="./film.safetensors")))
    assert "LTX-2 models only" in message


CAMERA = """
version: 1
name: moves
model: {{preset: {preset}, checkpoint: tiny}}
output: {{width: 128, height: 64}}
shots:
  - {{id: a, prompt: "a product on a table", frames: 9, camera: {camera}}}
"""


def test_a_camera_move_plans_as_its_generation_s_published_lora(write_storyboard):
    path = write_storyboard(CAMERA.format(preset="ltx2-dev", camera="{move: dolly-in, strength: 0.7}"))
    [lora] = plan_storyboard(load_storyboard(path), path).shot("a").loras
    assert (lora.origin, lora.strength) == ("camera", 0.7)
    assert lora.file == ("Lightricks/LTX-2-19b-LoRA-Camera-Control-Dolly-In/"
                         "ltx-2-19b-lora-camera-control-dolly-in.safetensors")
    from ltx_flows.models.prefetch import storyboard_needs

    needs = {(need.repo, need.what): need for need in storyboard_needs(load_storyboard(path))}
    need = needs[("Lightricks/LTX-2-19b-LoRA-Camera-Control-Dolly-In", "camera LoRA")]
    assert need.files == ["ltx-2-19b-lora-camera-control-dolly-in.safetensors"] and need.generation == "ltx2-2.0"


def test_an_unknown_camera_move_is_located_with_a_did_you_mean(write_storyboard):
    message = _errors(write_storyboard(CAMERA.format(preset="ltx2-dev", camera="dolly-inn")))
    assert "board.yaml:6:64:" in message and "shots[0].camera" in message
    assert "not a camera move; did you mean `dolly-in`?" in message


def test_a_camera_move_is_refused_naming_the_generations_that_have_it(write_storyboard):
    message = _errors(write_storyboard(CAMERA.format(preset="ltx2.3-distilled", camera="jib-up")))
    assert "renders with ltx2-2.3" in message and "publishes them for ltx2-2.0 only" in message
    assert "`ltx2-dev`" in message


CAST = """
version: 1
name: cast
model: {{preset: ltx2-dev, checkpoint: tiny}}
output: {{width: 128, height: 64}}
cast:
  mia:
    lora: {{file: ./mia.safetensors, strength: 0.9}}
    trigger: "mia_person"
    pictures: [keyframes/a.png]
    about: "the presenter"
  {extra}
shots:
  - {{id: a, prompt: "she smiles", frames: 9, cast: [{who}]}}
  - {{id: b, prompt: "an empty street", frames: 9}}
"""


def test_unknown_and_unused_characters_are_located_with_a_did_you_mean(write_storyboard, workspace):
    _lora("ltx2-2.0", workspace / "mia.safetensors")
    message = _errors(write_storyboard(CAST.format(extra="leo: {trigger: leo_man}", who="maia")))
    assert "shots[0].cast[0]: no character `maia` in the cast; did you mean `mia`? (the cast: mia, leo)" in message
    assert "cast.mia: `mia` is in the cast but no shot names them" in message
    assert "cast.leo: `leo` is in the cast but no shot names them" in message
