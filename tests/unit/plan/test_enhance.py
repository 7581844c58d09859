"""Prompt enhancement in the plan (plan/enhance.py) and at validation (storyboard/enhance.py): the cache key follows
every input (prompt, system prompt, checkpoint) and nothing else; the content hash takes the enhancement's inputs
only where it is on; the cache file round-trips under its key; LTX-Video is refused at the located key; LTX-2.5
plans its dedicated enhancer and system prompts.
Real storyboards and files; nothing stubbed."""

import pytest

from ltx_flows.plan.enhance import cached_enhancement, store_enhancement
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.loading import load_storyboard
from ltx_flows.storyboard.problems import StoryboardError

BOARD = """
version: 1
name: enh
model: {{family: ltx2, checkpoint: tiny, enhance_prompt: {film}}}
output: {{width: 96, height: 64}}
shots:
  - {{id: a, prompt: "a red ball", frames: 9}}
  - {{id: b, prompt: "a blue cube", frames: 9, enhance_prompt: {b}}}
"""


def _plan(write_storyboard, film="false", b="null", name="board.yaml"):
    path = write_storyboard(BOARD.format(film=film, b=b), name)
    return plan_storyboard(load_storyboard(path), path)


def test_the_content_hash_takes_the_enhancement_only_where_it_is_on(write_storyboard):
    plain = _plan(write_storyboard)
    one = _plan(write_storyboard, b="true")
    assert one.shot("a").enhance is None and one.shot("a").content_hash == plain.shot("a").content_hash
    assert one.shot("b").enhance is not None and one.shot("b").content_hash != plain.shot("b").content_hash
    film = _plan(write_storyboard, film="true")  # the film's switch reaches every shot
    assert film.shot("a").enhance and film.shot("b").enhance
    assert film.shot("b").content_hash == one.shot("b").content_hash
    off = _plan(write_storyboard, film="true", b="false")  # ...but a shot's own `false` wins
    assert off.shot("b").enhance is None and off.shot("b").content_hash == plain.shot("b").content_hash


def test_the_cache_key_follows_every_input(write_storyboard):
    film = _plan(write_storyboard, film="true")
    a, b = film.shot("a").enhance, film.shot("b").enhance
    assert a.key != b.key  # the prompt
    assert a.model_copy(update={"seed": 1}).key == a.key  # (the key is made by the plan, from the inputs)
    again = _plan(write_storyboard, film="true").shot("a").enhance
    assert again.key == a.key  # the same inputs, the same key
    path = write_storyboard(BOARD.format(film="true", b="false").replace("checkpoint: tiny", "preset: ltx2-dev, "
                                                                         "checkpoint: tiny"), "preset.yaml")
    other = plan_storyboard(load_storyboard(path), path).shot("a").enhance
    assert other.checkpoint == "ltx2-dev:tiny" and other.key != a.key  # the checkpoint (with its preset)
    assert a.system_prompt == "T2V_DEFAULT_SYSTEM_PROMPT" and a.seed == 10


def test_the_cache_file_round_trips_under_its_key(write_storyboard, tmp_path):
    film = _plan(write_storyboard, film="true")
    a, b = film.shot("a").enhance, film.shot("b").enhance
    assert cached_enhancement(tmp_path, a) is None
    store_enhancement(tmp_path, a, "a long red ball prompt")
    assert cached_enhancement(tmp_path, a) == "a long red ball prompt"
    assert cached_enhancement(tmp_path, b) is None  # another key
    (tmp_path / "enhanced" / f"{b.key}.json").write_text("{not json")
    assert cached_enhancement(tmp_path, b) is None  # a broken file is no cache


def test_a_model_without_an_enhancer_is_refused_at_the_key(write_storyboard):
    path = write_storyboard("""
        version: 1
        name: enh
        model: {family: ltxv, checkpoint: tiny, enhance_prompt: true}
        output: {width: 96, height: 64}
        shots:
          - {id: a, prompt: "a red ball", frames: 9, enhance_prompt: true}
        """)
    with pytest.raises(StoryboardError) as error:
        load_storyboard(path)
    message = str(error.value)
    assert "board.yaml:3:" in message and "model.enhance_prompt" in message and "LTX-Video has none" in message
    assert "board.yaml:6:" in message and "shots[0].enhance_prompt" in message


def test_ltx2_5_enhances_with_its_dedicated_enhancer_under_its_own_system_prompts(write_storyboard):
    """LTX-2.5: the `prompt_enhancer` component and LTX2_5_* system prompts (I2V with a first-frame keyframe); the
    key and the content hash follow them; the same prompt on LTX-2.3 keeps the text encoder and its prompts."""
    board = """
        version: 1
        name: enh
        model: {{preset: {preset}, checkpoint: tiny, enhance_prompt: true}}
        output: {{width: 96, height: 64}}
        shots:
          - {{id: a, prompt: "a red ball", frames: 9}}
          - {{id: b, prompt: "a red ball", frames: 9, keyframes: [{{image: keyframes/a.png}}]}}
        """
    plans = {}
    for preset in ("ltx2.5-dev", "ltx2.3-dev"):
        path = write_storyboard(board.format(preset=preset), f"{preset}.yaml")
        plans[preset] = plan_storyboard(load_storyboard(path), path)
    a, b = plans["ltx2.5-dev"].shot("a").enhance, plans["ltx2.5-dev"].shot("b").enhance
    assert (a.enhancer, a.system_prompt) == ("prompt_enhancer", "LTX2_5_T2V_DEFAULT_SYSTEM_PROMPT")
    assert (b.enhancer, b.system_prompt, b.image.name) == ("prompt_enhancer", "LTX2_5_I2V_DEFAULT_SYSTEM_PROMPT", "a.png")
    older = plans["ltx2.3-dev"].shot("a").enhance
    assert (older.enhancer, older.system_prompt) == ("text_encoder", "T2V_DEFAULT_SYSTEM_PROMPT")
    assert older.key != a.key and a.hash_inputs() != older.hash_inputs()


def test_a_long_take_enhances_once_for_every_window_and_its_windows_hash_it(write_storyboard):
    """One enhancement per long take (the shot's), in every window's hash only where it is on; a take with a
    prompt per window is refused at the shot (one text cannot stand for several prompts)."""
    board = """
        version: 1
        name: enh
        model: {{family: ltx2, checkpoint: tiny, enhance_prompt: {film}}}
        output: {{width: 96, height: 64}}
        shots:
          - {{id: a, prompt: "a red ball", frames: 9}}
          - {{id: long, prompt: "a long road", frames: 41, segments: {{frames: 17, overlap: 9{prompts}}}}}
        """
    plans = {}
    for film in ("true", "false"):
        path = write_storyboard(board.format(film=film, prompts=""), f"{film}.yaml")
        plans[film] = plan_storyboard(load_storyboard(path), path).shot("long")
    on, off = plans["true"], plans["false"]
    assert on.enhance is not None and on.enhance.prompt == "a long road" and off.enhance is None
    assert len(on.segments) == len(off.segments) == 4 and all(s.prompt == "a long road" for s in on.segments)
    assert all(a.content_hash != b.content_hash for a, b in zip(on.segments, off.segments))
    assert on.content_hash != off.content_hash

    path = write_storyboard(board.format(film="true", prompts=', prompts: ["one", "two", "three", "four"]'))
    with pytest.raises(StoryboardError) as error:
        load_storyboard(path)
    message = str(error.value)
    assert "board.yaml:7:" in message and "shots[1].segments.prompts" in message and "prompt per window" in message
    assert "shots[0]" not in message
    path.write_text(path.read_text().replace("frames: 41,", "frames: 41, enhance_prompt: false,"))
    plan = plan_storyboard(load_storyboard(path), path)
    assert plan.shot("a").enhance is not None and plan.shot("long").enhance is None and plan.shot("long").segments


def test_a_first_frame_keyframe_is_shown_to_the_enhancer_and_keys_its_cache(write_storyboard, workspace):
    from PIL import Image

    board = """
        version: 1
        name: enh
        model: {family: ltx2, checkpoint: tiny, enhance_prompt: true}
        output: {width: 96, height: 64}
        shots:
          - {id: a, prompt: "a red ball", frames: 9, keyframes: [{image: keyframes/a.png, at: FRAME}]}
        """
    path = write_storyboard(board.replace("FRAME", "start"))
    first = plan_storyboard(load_storyboard(path), path).shot("a").enhance
    assert first.system_prompt == "I2V_DEFAULT_SYSTEM_PROMPT" and first.image.name == "a.png"
    Image.new("RGB", (64, 48), (10, 20, 200)).save(workspace / "keyframes" / "a.png")
    recoloured = plan_storyboard(load_storyboard(path), path).shot("a").enhance
    assert recoloured.key != first.key  # the picture's content, not its name
    path = write_storyboard(board.replace("FRAME", "end"))
    later = plan_storyboard(load_storyboard(path), path).shot("a").enhance
    assert later.system_prompt == "T2V_DEFAULT_SYSTEM_PROMPT" and later.image is None  # not the first frame
