"""storyboard/enhance.py on a local LTX-2.5 folder: enhancement needs the folder's `prompt_enhancer/` (LTX-2.5's
dedicated Gemma 4 enhancer), refused at the located key while it is missing, accepted once it is there; a
storyboard that does not enhance never needs it. Real folders and storyboards; nothing stubbed."""

import json

import pytest

from ltx_flows.storyboard.loading import load_storyboard
from ltx_flows.storyboard.problems import StoryboardError

BOARD = """
    version: 1
    name: enh
    model: {{preset: ltx2.5-distilled, checkpoint: models/ltx-2.5, enhance_prompt: {film}}}
    shots: [{{id: a, prompt: x, frames: 9}}]
    """


def test_a_local_ltx2_5_folder_enhances_only_with_its_prompt_enhancer(write_storyboard, workspace):
    folder = workspace / "models" / "ltx-2.5"
    for name in ("transformer", "transformer_full", "diffusion_decoder", "vae"):
        (folder / name).mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "LTX2ConditionPipeline"}))
    assert load_storyboard(write_storyboard(BOARD.format(film="false"))).model.checkpoint == "models/ltx-2.5"
    path = write_storyboard(BOARD.format(film="true"))
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path)
    [problem] = [p.format(path) for p in info.value.problems]
    assert problem.startswith(f"{path}:3:79:") and "model.enhance_prompt: `models/ltx-2.5`" in problem
    assert f"({folder}) has no `prompt_enhancer/`" in problem and "remove `enhance_prompt`" in problem
    (folder / "prompt_enhancer").mkdir()
    assert load_storyboard(path).model.enhance_prompt
