"""Unit tests: the storyboard language, its validation messages and their line numbers."""

import json
import re
import textwrap

import jsonschema
import pytest
import yaml

from ltx_flows.storyboard.loading import load_storyboard
from ltx_flows.storyboard.problems import StoryboardError
from ltx_flows.storyboard.schema import storyboard_json_schema

from ...conftest import REPO

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
        "Allowed here: id, prompt, duration, frames, seed, negative_prompt, keyframes, segments, control, mute, transition, retakes, loras, camera, cast, takes, qc, enhance_prompt, focus, voice, pad, caption, ambience",
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
    # At the second of the two keys (not at `- id`), whichever comes second.
    assert f"{path}:6:5: shots[0].frames: `duration` and `frames` are both given: give exactly one (remove one of them)" in lines


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
        jsonschema.Draft202012Validator(shipped).validate(yaml.safe_load(text))
        load_storyboard(example, root=REPO)


def _glob_regex(glob: str) -> re.Pattern:
    """A `yaml.schemas` glob (relative to the project root) as the YAML language server matches it."""
    pattern = re.escape(glob).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
    return re.compile(pattern + "$")


def test_storyboards_in_subfolders_get_the_editor_schema():
    """The schema reaches storyboards in subfolders: `.vscode/settings.json` globs cover them, and no example carries
    a modeline (relative to its file, it would override the globs and point nowhere once copied into a subfolder)."""
    settings = json.loads((REPO / ".vscode" / "settings.json").read_text())
    [(schema, globs)] = settings["yaml.schemas"].items()
    assert (REPO / schema).resolve() == REPO / "storyboards" / "storyboard.schema.json"
    for path in ("storyboards/a.yaml", "storyboards/client/a.yaml", "storyboards/client/2027/a.yml"):
        assert any(_glob_regex(glob).match(path) for glob in globs), (path, globs)
    for example in sorted((REPO / "storyboards").rglob("*.y*ml")):
        assert "yaml-language-server" not in example.read_text(), f"{example}: drop its modeline (see docs/storyboards.md)"
    docs = (REPO / "docs" / "storyboards.md").read_text()
    assert "yaml-language-server: $schema" not in docs.split("## Checking storyboards")[0]  # the first example


@pytest.mark.parametrize("name", ["long-take-sound.yaml", "pour-controlled.yaml", "retake.yaml"])
def test_following_an_example_s_preset_advice_gives_a_valid_storyboard(name, tmp_path):
    """Each example that says "replace `a`, `b` ... with `preset: X`" does what it says: done to the letter, the
    storyboard validates (the CLI's rules, and the editor schema as yaml-language-server runs it)."""
    text = (REPO / "storyboards" / name).read_text()
    comment = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    advice = re.search(r"replace ((?:`\w+`(?:, | and )?)+) with `preset: ([\w.-]+)`", comment)
    assert advice, comment
    data = yaml.safe_load(text)
    for key in re.findall(r"`(\w+)`", advice[1]):
        del data["model"][key]
    data["model"] = {"preset": advice[2], **data["model"]}
    jsonschema.Draft202012Validator(storyboard_json_schema()).validate(data)
    copy = REPO / "storyboards" / f".advice-{name}"  # beside the original: its media paths are relative
    try:
        copy.write_text(yaml.safe_dump(data, sort_keys=False))
        assert load_storyboard(copy, root=REPO).model.preset == advice[2]
    finally:
        copy.unlink(missing_ok=True)


def test_steps_against_a_preset_schedule_name_the_key_to_drop(write_storyboard):
    path = write_storyboard("version: 1\nname: s\nmodel: {preset: ltx2-distilled, checkpoint: tiny, steps: 4}\n"
                            "output: {width: 384, height: 256}\nshots: [{id: a, prompt: x, frames: 9}]\n")
    assert problems(path) == [
        f"{path}:3:58: model.steps: `steps: 4` does not fit preset `ltx2-distilled`, whose distilled schedule "
        "(`sigmas`) has 8 steps: drop `steps` to use the preset's 8, or give 4 `sigmas` of your own"
    ]


def test_schema_rejects_what_the_models_reject():
    schema = storyboard_json_schema()
    bad = yaml.safe_load(textwrap.dedent(VALID).replace("transition: {crossfade: 0.5}", "transition: wipe"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


SCHEMA_BASE = {"version": 1, "name": "spot", "shots": [{"id": "a", "prompt": "x", "duration": 2}]}


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({}, True),
        ({"output": {"width": 768, "height": 512, "audio": "none"}}, True),
        ({"model": {"family": "ltx2", "preset": None}, "output": {"audio": "generate"}}, True),
        ({"model": {"preset": "ltx2-distilled"}, "output": {"audio": "generate"}}, True),  # the preset's family
        ({"model": {"preset": "ltx2.3-dev", "checkpoint": "tiny"}, "output": {"audio": "generate"}}, True),
        ({"model": {"preset": "ltxv-0.9.8-distilled"}, "output": {"audio": "generate"}}, False),
        ({"model": {"preset": "ltx2-distilled", "family": "ltxv"}, "output": {"audio": "generate"}}, False),
        ({"model": {"steps": 4}, "output": {"audio": "generate"}}, False),  # no family, no preset: ltxv
        ({"shots": [{"id": "a", "prompt": "x", "frames": 9, "keyframes": [{"image": "k.png", "at": "2.5s"}]}]}, True),
        ({"shots": [{"id": "a", "prompt": "x", "frames": 9, "transition": {"crossfade": 0.5}}]}, True),
        ({"output": {"width": 770}}, False),  # not a multiple of 32
        ({"output": {"height": 500}}, False),
        ({"shots": [{"id": "a", "prompt": "x"}]}, False),  # neither duration nor frames
        ({"shots": [{"id": "a", "prompt": "x", "duration": 2, "frames": 9}]}, False),  # both
        ({"output": {"audio": "generate"}}, False),  # ltxv by default: no sound to generate
        ({"model": {"family": "ltxv"}, "output": {"audio": "generate"}}, False),
        ({"model": {"family": "ltx-2"}}, False),
        ({"shots": [{"id": "a", "prompt": "x", "frames": 9, "keyframes": [{"image": "k.png", "at": "2.5"}]}]}, False),
    ],
)
def test_editor_schema_catches_what_validation_catches(change, valid):
    """A real JSON Schema validator (what an editor runs) over good and bad storyboards."""
    validator = jsonschema.Draft202012Validator(storyboard_json_schema())
    errors = list(validator.iter_errors({**SCHEMA_BASE, **change}))
    assert (not errors) == valid, [error.message for error in errors]


def test_editor_schema_hover_text_and_hints():
    schema = storyboard_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    defs = schema["$defs"]
    duration = defs["Shot"]["properties"]["duration"]
    assert "title" not in duration and duration["type"] == ["number", "null"]  # one entry, not "Duration || Duration"
    assert duration["markdownDescription"] == "Seconds. Give this or `frames`."
    assert duration["description"] == "Seconds. Give this or frames."
    assert defs["Keyframe"]["properties"]["at"]["examples"] == ["start", "end", "2.5s", 48]
    from ltx_flows.storyboard.presets import PRESETS

    preset = defs["ModelConfig"]["properties"]["preset"]
    assert preset["enum"] == [*PRESETS, None]
    assert preset["markdownEnumDescriptions"] == [p.description for p in PRESETS.values()]
    [crossfade] = [s for s in defs["Shot"]["properties"]["transition"]["defaultSnippets"] if s["label"] == "crossfade"]
    assert crossfade["body"] == {"crossfade": "^${1:0.5}"}


def test_field_reference_is_generated_from_the_models():
    from ltx_flows.storyboard.reference import storyboard_reference_markdown

    readme = (REPO / "docs" / "storyboards.md").read_text()
    start = readme.index("<!-- reference:start -->\n") + len("<!-- reference:start -->\n")
    end = readme.index("<!-- reference:end -->")
    assert readme[start:end] == storyboard_reference_markdown(), (
        "docs/storyboards.md field reference is stale: paste `ltx-flows schema --markdown` between the reference markers"
    )


# --- Messages: the bad value echoed, a fix suggested, as the user wrote it ------------------------


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("model: {family: ltx-2}", "3:17: model.family: `ltx-2` is not one of `ltxv`, `ltx2`; did you mean `ltx2`?"),
        ("model: {dtype: bf16}", "3:16: model.dtype: `bf16` is not one of `auto`, `float32`, `bfloat16`, `float16`; "
                                 "did you mean `bfloat16`?"),
        ("model: {steps: eight}", "3:16: model.steps: `eight` is not a whole number: write e.g. `steps: 8`"),
        ("model: {cpu_offload: maybe}", "3:22: model.cpu_offload: `maybe` is not true or false: write "
                                        "`cpu_offload: true` or `cpu_offload: false`"),
        ("output: {fps: 0}", "3:15: output.fps: `0` is out of range: `fps` must be at least 1"),
        ("output: {crf: 60}", "3:15: output.crf: `60` is out of range: `crf` must be at most 51"),
    ],
)
def test_value_errors_echo_the_value_and_suggest_a_fix(write_storyboard, yaml_text, expected):
    path = write_storyboard(f"version: 1\nname: spot\n{yaml_text}\nshots: [{{id: a, prompt: x, frames: 9}}]\n")
    assert problems(path) == [f"{path}:{expected}"]


def test_shot_value_errors(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        shots:
          - id: a
            prompt: ""
            duration: 5s
            steps: 3
          - {id: b, prompt: y, frames: 2.5, seed: -1}
        """
    )
    assert problems(path) == [
        f"{path}:5:13: shots[0].prompt: `prompt` is empty: write some text",
        f"{path}:6:15: shots[0].duration: `5s` is not a number: `duration` is plain seconds, so write "
        '`duration: 5` (seconds with an `s` are for keyframe positions, e.g. `at: "2.5s"`)',
        f"{path}:7:5: shots[0]: `steps` does not go here: it belongs under `model` (model.steps). Allowed here: id, "
        "prompt, duration, frames, seed, negative_prompt, keyframes, segments, control, mute, transition, retakes, loras, camera, cast, takes, qc, enhance_prompt, focus, voice, pad, caption, ambience",
        f"{path}:8:32: shots[1].frames: `2.5` is not a whole number: write e.g. `frames: 2`",
        f"{path}:8:43: shots[1].seed: `-1` is out of range: `seed` must be at least 0",
    ]


def test_crossfade_errors_speak_seconds(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        shots:
          - {id: a, prompt: x, frames: 9, transition: {crossfade: 0.5}}
          - {id: b, prompt: y, frames: 9}
        """
    )
    assert problems(path) == [
        f"{path}:4:47: shots[0].transition: a 0.5s crossfade (12 frames at 24 fps) must be shorter than both shots "
        "it joins (0.38s and 0.38s); use at most {crossfade: 0.33}"
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("prompt: a man says: hello", '3:19: invalid YAML: `: ` inside a value starts a new key; quote the value: '
                                      'prompt: "a man says: hello"'),
        ('prompt: "never closed', "3:9: invalid YAML: the quote opened on line 3, column 9 is never closed; close it"),
        ("shots: [a, b", "3:8: invalid YAML: the `[` opened on line 3, column 8 is not closed: separate items with `,` "
                         "and end with `]`"),
        ("a:\n\tb: 1", "4:1: invalid YAML: a tab: YAML indents with spaces only; replace the tab with spaces"),
        ("a: 1\n b: 2", "4:2: invalid YAML: `b:` is indented 1 space, more than `a:` on line 3 (0 spaces), which has a "
                        "value and so cannot hold keys: start it at the beginning of the line to keep it in the same "
                        "mapping as `a:`"),
    ],
)
def test_yaml_syntax_errors_say_what_to_do(write_storyboard, line, expected):
    path = write_storyboard(f"version: 1\nname: spot\n{line}\n")
    # (Once repaired as the message says, the rest is read and checked too: `a` is not a storyboard key.)
    assert [line for line in problems(path) if "invalid YAML" in line] == [f"{path}:{expected}"]


def test_local_model_paths_are_checked_at_validation(write_storyboard, workspace):
    (workspace / "models" / "not-diffusers").mkdir(parents=True)
    path = write_storyboard(
        """
        version: 1
        name: spot
        model: {family: ltx2, checkpoint: ./models/ltx, upsampler: /nowhere/upsampler}
        output: {width: 128, height: 128, audio: none}
        shots:
          - {id: a, prompt: x, frames: 9, control: {kind: canny, source: keyframes/a.png, lora: ./loras/canny.safetensors}}
        """
    )
    assert problems(path) == [
        f"{path}:3:35: model.checkpoint: `./models/ltx` is a local path and there is no folder at "
        f"{workspace}/models/ltx (local paths are relative to the folder ltx-flows runs in); fix the path, or give a "
        "hub id such as `Lightricks/LTX-Video-0.9.7-distilled`",
        f"{path}:3:60: model.upsampler: `/nowhere/upsampler` is a local path and there is no folder at "
        "/nowhere/upsampler (local paths are relative to the folder ltx-flows runs in); fix the path, or give a hub "
        "id such as `Lightricks/LTX-2/latent_upsampler`",
        f"{path}:6:89: shots[0].control.lora: `./loras/canny.safetensors` is a local path and there is no "
        f".safetensors file at {workspace}/loras/canny.safetensors (local paths are relative to the folder ltx-flows "
        "runs in); fix the path, or give a hub id such as `owner/repo/file.safetensors`",
    ]
    path.write_text(path.read_text().replace("./models/ltx", "models/not-diffusers").replace(", upsampler: /nowhere/upsampler", "")
                    .replace("./loras/canny.safetensors", "tiny"))
    assert problems(path) == [
        f"{path}:3:35: model.checkpoint: `models/not-diffusers` ({workspace}/models/not-diffusers) is not a diffusers "
        "folder: it has no model_index.json; point at the folder that holds it"
    ]
    # `tiny` and hub ids are not checked here (a worker may have them cached, or reach the hub).
    path.write_text(path.read_text().replace("models/not-diffusers", "Lightricks/LTX-2"))
    assert load_storyboard(path).model.checkpoint == "Lightricks/LTX-2"


# --- YAML slips: explained by what is out of line, and one round reports them all ----------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("shots:\n  - id: a\n    prompt: x\n   duration: 2\n",
         "4:4: invalid YAML: `duration:` is indented 3 spaces, less than `prompt:` on line 3 (4 spaces): indent it 4 "
         "spaces to keep it in the same mapping as `prompt:`"),
        ("model:\n    steps: 4\n  family: ltx2\n",
         "3:3: invalid YAML: `family:` is indented 2 spaces, less than `steps:` on line 2 (4 spaces): indent it 4 "
         "spaces to keep it in the same mapping as `steps:`"),
        ("model:\n  steps: 4\n   family: ltx2\n",
         "3:4: invalid YAML: `family:` is indented 3 spaces, more than `steps:` on line 2 (2 spaces), which has a value "
         "and so cannot hold keys: indent it 2 spaces to keep it in the same mapping as `steps:`"),
        ("shots:\n  - id: a\n    prompt: x\n - id: b\n",
         "4:2: invalid YAML: `- id` is indented 1 space, less than `- id` on line 2 (2 spaces): indent it 2 spaces to "
         "continue that list"),
        ("shots:\n  - id: a\n    control:\n      kind: canny\n     source: x.png\n",
         "5:6: invalid YAML: `source:` is indented 5 spaces, less than `kind:` on line 4 (6 spaces): indent it 6 "
         "spaces to keep it in the same mapping as `kind:`"),
    ],
)
def test_indentation_slips_say_what_is_out_of_line(write_storyboard, text, expected):
    path = write_storyboard(text)
    found = [line for line in problems(path) if "invalid YAML" in line]
    assert found == [f"{path}:{expected}"]
    assert "<block" not in "\n".join(problems(path))  # never PyYAML's parser states


def test_one_round_reports_every_mistake(write_storyboard):
    """Nine mistakes, four of them YAML slips: all nine in one round, each at its line and column."""
    path = write_storyboard(
        "version: 1\n"
        "name: spot\n"
        "model:\n"
        "  family: ltxv\n"
        "   steps: 4\n"               # 5: indented under a key with a value
        "output:\n"
        "  width: 770\n"              # 7: not a multiple of 32
        "  audio: generate\n"         # 8: ltxv makes no sound (a film-wide rule, not hidden by the shots' mistakes)
        "shots:\n"
        "  - id: a\n"
        "    prompt: a man says: hello\n"  # 11: `: ` in a value
        "    duration: 2\n"
        "    frames: 9\n"             # 13: both lengths
        "  - id: b\n"
        "    prompt: y\n"
        "   duration: 3\n"            # 16: under-indented
        "    seed: -1\n"              # 17: out of range
        "  - id: c\n"
        "    prompt: z\n"
        "    durtion: 2\n"            # 20: unknown key
        "\t\n"                        # (a blank line with a tab: white space)
        " - id: d\n"                  # 22: under-indented item
        "   prompt: w\n"
        "   frames: 9\n"
    )
    assert [line.removeprefix(f"{path}:") for line in problems(path)] == [
        "5:4: invalid YAML: `steps:` is indented 3 spaces, more than `family:` on line 4 (2 spaces), which has a value "
        "and so cannot hold keys: indent it 2 spaces to keep it in the same mapping as `family:`",
        "7:10: output.width: 770 is not a multiple of 32; the nearest valid sizes are 768 and 800",
        "8:10: output.audio: LTX-Video makes no sound: use `model.family: ltx2`, a music bed file, or `none`",
        '11:23: invalid YAML: `: ` inside a value starts a new key; quote the value: prompt: "a man says: hello"',
        "13:5: shots[0].frames: `duration` and `frames` are both given: give exactly one (remove one of them)",
        "16:4: invalid YAML: `duration:` is indented 3 spaces, less than `prompt:` on line 15 (4 spaces): indent it 4 "
        "spaces to keep it in the same mapping as `prompt:`",
        "17:11: shots[1].seed: `-1` is out of range: `seed` must be at least 0",
        "20:5: shots[2]: unknown key `durtion`; did you mean `duration`? Allowed here: id, prompt, duration, frames, "
        "seed, negative_prompt, keyframes, segments, control, mute, transition, retakes, loras, camera, cast, takes, qc, enhance_prompt, focus, voice, pad, caption, ambience",
        "22:2: invalid YAML: `- id` is indented 1 space, less than `- id` on line 18 (2 spaces): indent it 2 spaces "
        "to continue that list",
    ]


def test_a_slip_with_no_sure_fix_still_reports_the_slips_before_it(write_storyboard):
    path = write_storyboard("version: 1\nname: spot\nmodel:\n  steps: 4\n   family: ltx2\nshots: [{id: a, prompt: \"x}]\n")
    assert [line.removeprefix(f"{path}:").split(" is ")[0] for line in problems(path)] == [
        "5:4: invalid YAML: `family:`",
        "6:25: invalid YAML: the quote opened on line 6, column 25",
    ]


# --- Messages in the user's units and places ------------------------------------------------------


def test_positions_past_the_end_answer_in_the_unit_written(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        shots:
          - id: a
            prompt: x
            duration: 3
            keyframes:
              - {image: keyframes/a.png, at: 4s}
              - {image: keyframes/a.png, at: 100}
            retakes:
              - {from: 0, to: 16}
              - {from: 8, to: 24}
              - {from: 3.5s, to: end}
              - {from: 1s, to: 3.5s}
          - id: b
            prompt: y
            frames: 9
            duration: 1
        """
    )
    assert [line.removeprefix(f"{path}:") for line in problems(path)] == [
        "8:38: shots[0].keyframes[0].at: 4s (frame 96) is past the shot's last frame, 3s (frame 72)",
        "9:38: shots[0].keyframes[1].at: frame 100 is past the shot's last frame (72)",
        # The other window named by its path, counted from 0 as the problem's own place is.
        "12:16: shots[0].retakes[1].from: the window (frames 8-23) overlaps the window of retakes[0] (frames 0-15); "
        "windows of one shot must not overlap: merge them or move one",
        "13:16: shots[0].retakes[2].from: 3.5s (frame 84) is past the shot's last frame, 3s (frame 72)",
        "14:24: shots[0].retakes[3].to: 3.5s (frame 84) is past the shot's end (73 frames, 3.04s: frames 0-72); use "
        "`to: end` to reach the last frame",
        # At the second of the two keys, not at `- id`.
        "18:5: shots[1].duration: `duration` and `frames` are both given: give exactly one (remove one of them)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name spot\nshots: []\n", "3:1: invalid YAML: this line is neither `key: value` nor a `- ` list item: add "
                                    "its key, or, if it continues the value above, indent it deeper than that value's key"),
        ("name: @spot\n", "3:7: invalid YAML: '@' cannot start an unquoted value; quote the value: name: \"@spot\""),
        ("name: *spot\n", "3:7: invalid YAML: `*spot` refers to no anchor: define `&spot` on a value above it, or quote "
                          "the text if the `*` is meant as text"),
        ("a: 1\n---\nb: 2\n", "4:1: invalid YAML: a storyboard is one YAML document: remove this `---` (or split the "
                              "file in two)"),
        ('name: "spot" two\n', '3:14: invalid YAML: text after a closing quote: put the whole value inside the quotes'),
        ("a: [1, 2]]\n", "3:10: invalid YAML: a `]` with no `[` open before it: remove it"),
    ],
)
def test_other_yaml_slips_are_said_plainly(write_storyboard, text, expected):
    path = write_storyboard(f"version: 1\nx: 1\n{text}")
    assert [line for line in problems(path) if "invalid YAML" in line] == [f"{path}:{expected}"]


def test_many_slips_and_long_lines_cost_little(write_storyboard):
    """Repairs are bounded (each reads the file again): a file of slips gets a bounded answer, quickly; and a long
    line is never scanned by a pattern that backtracks."""
    import time

    slips = "".join(f"  - id: s{i}\n    prompt: x\n   frames: 9\n" for i in range(200))
    path = write_storyboard(f"version: 1\nname: spot\nshots:\n{slips}")
    start = time.perf_counter()
    found = problems(path)
    assert 1 < len(found) <= 21 and all("is indented 3 spaces" in line for line in found)
    path = write_storyboard("version: 1\nname: spot\nshots:\n  - id: a\n    prompt: x\n   d" + "a " * 300_000 + "b: 1\n")
    assert len(problems(path)) == 1
    assert time.perf_counter() - start < 15
