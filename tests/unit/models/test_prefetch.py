"""What `ltx-flows download` fetches of LTX-2.5's repo for prompt enhancement (models/prefetch.py; the lists, no
network): the dedicated `prompt_enhancer/` only for a storyboard with a shot that enhances, never for the preset
alone; the processor (the chat template, a few files) always. Real storyboards; nothing stubbed."""

import pytest

from ltx_flows.models.prefetch import preset_needs, storyboard_needs
from ltx_flows.storyboard.loading import load_storyboard

BOARD = """
version: 1
name: enh
model: {{preset: {preset}, enhance_prompt: {film}}}
output: {{width: 96, height: 64}}
shots:
  - {{id: a, prompt: "a red ball", frames: 9}}
  - {{id: b, prompt: "a blue cube", frames: 9, enhance_prompt: {b}}}
"""


def _patterns(write_storyboard, preset="ltx2.5-dev", film="false", b="null") -> list[str]:
    path = write_storyboard(BOARD.format(preset=preset, film=film, b=b))
    [need] = [n for n in storyboard_needs(load_storyboard(path)) if n.what == "checkpoint"]
    return need.patterns


@pytest.mark.parametrize("film, b, fetched", [
    ("false", "null", False),  # nobody enhances
    ("true", "false", True),   # the film does (shot a)
    ("false", "true", True),   # one shot does
])
def test_ltx2_5_fetches_its_prompt_enhancer_only_where_a_shot_enhances(write_storyboard, film, b, fetched):
    patterns = _patterns(write_storyboard, film=film, b=b)
    assert ("prompt_enhancer/*" in patterns) is fetched
    assert "processor/*" in patterns and "transformer_full/*" in patterns


def test_the_preset_alone_and_older_generations_never_fetch_it(write_storyboard):
    for name in ("ltx2.5-dev", "ltx2.5-distilled"):
        [need] = [n for n in preset_needs(name) if n.what == "checkpoint"]
        assert "prompt_enhancer/*" not in need.patterns
    # LTX-2.3 enhances with its text encoder: nothing more to fetch.
    assert "prompt_enhancer/*" not in _patterns(write_storyboard, preset="ltx2.3-dev", film="true")
