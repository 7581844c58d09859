"""Unit tests: the storyboard language, its validation messages and their line numbers."""

import json
import textwrap

import jsonschema
import pytest
import yaml

from ltx_flows.storyboard import StoryboardError, load_storyboard, storyboard_json_schema

from .conftest import REPO

VALID = """
version: 1
name: spot
output: {width: 384, height: 256, fps: 24}
shots:
  - id: a
    prompt: "a sunset"
    duration: 2
    keyframes:
      - {image: keyframes/a.png, at: end}
    transition: {crossfade: 0.5}
  - id: b
    prompt: "the night"
    frames: 40
"""


def problems(path, root=None) -> list[str]:
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path, root)
    return str(info.value).splitlines()


def test_valid_storyboard_loads(write_storyboard, workspace):
    storyboard = load_storyboard(write_storyboard(VALID))
    assert [s.id for s in storyboard.shots] == ["a", "b"]
    assert storyboard.shots[0].keyframes[0].image == workspace / "keyframes" / "a.png"
    assert storyboard.shots[0].transition.kind == "crossfade"
    assert storyboard.shots[1].transition.kind == "cut"


def test_every_error_is_reported_with_its_line_and_column(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        output:
          width: 770
        shots:
          - id: a
            prompt: "x"
            durtion: 2
          - id: b
            prompt: "y"
            frames: 33
            keyframes:
              - {image: keyframes/a.png, at: 300}
        """
    )
    lines = problems(path)
    assert lines == [
        f"{path}:4:10: output.width: 770 is not a multiple of 32; the nearest valid sizes are 768 and 800",
        f"{path}:8:5: shots[0]: unknown key `durtion`; did you mean `duration`? "
        "Allowed here: id, prompt, duration, frames, seed, negative_prompt, keyframes, segments, control, mute, transition",
        f"{path}:13:38: shots[1].keyframes[0].at: frame 300 is past the shot's last frame (32)",
    ]


def test_missing_files_duplicate_ids_and_bad_transitions(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        shots:
          - id: a
            prompt: x
            frames: 17
            keyframes: [{image: keyframes/nope.png}]
            transition: wipe
          - id: a
            prompt: y
            frames: 17
            transition: {crossfade: 0.5}
        """
    )
    text = "\n".join(problems(path))
    assert ":7:25: shots[0].keyframes[0].image: file not found:" in text
    assert ":8:17: shots[0].transition: 'wipe' is not a transition: use `cut` or `{crossfade: SECONDS}`" in text
    assert ":9:9: shots[1].id: duplicate shot id `a` (also shots[0]); ids must be unique" in text
    assert ":12:17: shots[1].transition: the last shot has no next shot to crossfade into" in text


def test_missing_keys_and_both_duration_and_frames(write_storyboard):
    path = write_storyboard(
        """
        name: spot
        shots:
          - id: a
            prompt: x
            duration: 2
            frames: 49
        """
    )
    lines = problems(path)
    assert f"{path}:1:1: version: missing required key `version`" in lines
    assert f"{path}:3:5: shots[0]: give exactly one of `duration` (seconds) or `frames`" in lines


@pytest.mark.parametrize(
    "image, message",
    [
        ("/etc/hostname", "is absolute"),
        ("../../../../../../etc/hostname", "outside the workspace root"),
        ("link.png", "outside the workspace root"),
    ],
)
def test_media_paths_cannot_escape_the_root(write_storyboard, workspace, image, message):
    outside = workspace.parent / f"outside-{workspace.name}.png"
    outside.write_bytes((workspace / "keyframes" / "a.png").read_bytes())
    (workspace / "link.png").symlink_to(outside)
    path = write_storyboard(f"version: 1\nname: s\nshots:\n  - {{id: a, prompt: x, frames: 9, keyframes: [{{image: '{image}'}}]}}\n")
    assert message in "\n".join(problems(path))


def test_root_option_allows_media_beside_the_storyboard_folder(workspace):
    (workspace / "boards").mkdir()
    board = workspace / "boards" / "b.yaml"
    board.write_text("version: 1\nname: s\nshots:\n  - {id: a, prompt: x, frames: 9, keyframes: [{image: ../keyframes/a.png}]}\n")
    assert load_storyboard(board).shots[0].keyframes[0].image.name == "a.png"  # root = cwd = workspace
    assert "outside the workspace root" in "\n".join(problems(board, root=workspace / "boards"))


def test_yaml_python_tags_are_refused(write_storyboard):
    path = write_storyboard("version: 1\nname: !!python/object/apply:os.system ['echo hi']\nshots: []\n")
    [line] = problems(path)
    assert line.startswith(f"{path}:2:7: invalid YAML:") and "no Python or custom tags" in line


def test_alias_bombs_are_refused_quickly(write_storyboard):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
    )
    path = write_storyboard(bomb)
    [line] = problems(path)
    assert "expands to more than" in line


def test_syntax_errors_and_duplicate_keys_have_positions(write_storyboard):
    assert problems(write_storyboard("version: 1\nname: [unclosed\n"))[0].startswith(f"{REPO.anchor}")
    path = write_storyboard("version: 1\nname: a\nname: b\nshots: [{id: a, prompt: x, frames: 9}]\n")
    assert problems(path) == [f"{path}:3:1: name: duplicate key `name` (first set on line 2); keep one"]


def test_names_and_ids_cannot_hold_paths(write_storyboard):
    path = write_storyboard("version: 1\nname: ../../etc\nshots: [{id: a/b, prompt: x, frames: 9}]\n")
    text = "\n".join(problems(path))
    assert "name: '../../etc' is not a valid name" in text
    assert "shots[0].id: 'a/b' is not a valid name" in text


def test_shipped_schema_is_generated_from_the_models_and_examples_match_it():
    shipped = json.loads((REPO / "storyboards" / "storyboard.schema.json").read_text())
    assert shipped == storyboard_json_schema(), "run: ltx-flows schema > storyboards/storyboard.schema.json"
    for example in sorted((REPO / "storyboards").glob("*.yaml")):
        text = example.read_text()
        assert text.startswith("# yaml-language-server: $schema=storyboard.schema.json"), example
        jsonschema.validate(yaml.safe_load(text), shipped)
        load_storyboard(example, root=REPO)


def test_schema_rejects_what_the_models_reject():
    schema = storyboard_json_schema()
    bad = yaml.safe_load(textwrap.dedent(VALID).replace("transition: {crossfade: 0.5}", "transition: wipe"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_readme_field_reference_is_generated_from_the_models():
    from ltx_flows.reference import storyboard_reference_markdown

    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- reference:start -->\n") + len("<!-- reference:start -->\n")
    end = readme.index("<!-- reference:end -->")
    assert readme[start:end] == storyboard_reference_markdown(), (
        "README field reference is stale: paste `ltx-flows schema --markdown` between the reference markers"
    )
