"""Unit tests: writing a shot's seed back into a storyboard (storyboard/editing.py) and approvals
(storyboard/approvals.py). Real files, real ruamel.yaml; nothing stubbed."""

import json

import pytest

from ltx_flows.storyboard.approvals import approve, lapsed_approvals, pinned_clip, shot_inputs
from ltx_flows.storyboard.editing import EditError, set_shot_seed
from ltx_flows.storyboard.loading import load_storyboard

INDENTED = """\
# top comment
version: 1
name: edit
shots:
  # the first shot
  - id: one
    prompt: "a quoted prompt"   # trailing comment
    frames: 9

  - id: two
    prompt: plain
    seed: 5
    frames: 9
"""
FLUSH = INDENTED.replace("\n  ", "\n").replace("\n    ", "\n  ")


@pytest.mark.parametrize("text", [INDENTED, FLUSH], ids=["indented-list", "flush-list"])
def test_setting_a_seed_changes_that_line_only(tmp_path, text):
    path = tmp_path / "board.yaml"
    path.write_text(text)
    set_shot_seed(path, "two", 77, root=tmp_path)
    assert path.read_text() == text.replace("seed: 5", "seed: 77")
    set_shot_seed(path, "one", 42, root=tmp_path)
    after = path.read_text().splitlines()
    # A shot without a seed gets one right after its prompt, at the shot's indentation.
    prompt = next(i for i, line in enumerate(after) if "a quoted prompt" in line)
    assert after[prompt + 1].strip() == "seed: 42"
    assert after[prompt + 1].index("seed") == after[prompt].index("prompt")
    assert [line for line in after if "seed: 42" not in line] == text.replace("seed: 5", "seed: 77").splitlines()
    assert [s.seed for s in load_storyboard(path, tmp_path).shots] == [42, 77]


def test_an_unknown_shot_is_named_with_a_did_you_mean_and_the_file_untouched(tmp_path):
    path = tmp_path / "board.yaml"
    path.write_text(INDENTED)
    with pytest.raises(EditError, match="no shot `onee`; did you mean `one`"):
        set_shot_seed(path, "onee", 1, root=tmp_path)
    assert path.read_text() == INDENTED


def test_an_approval_holds_until_the_shot_itself_changes(tmp_path):
    path = tmp_path / "board.yaml"
    path.write_text(INDENTED)
    board = load_storyboard(path, tmp_path)
    approve(path, board.shots[1], "ab" * 32, "shots/two.mp4")
    assert json.loads((tmp_path / "board.yaml.approved.json").read_text())["two"]["sha256"] == "ab" * 32
    assert pinned_clip(path, board.shots[1]) == "ab" * 32 and pinned_clip(path, board.shots[0]) is None
    # `takes` and `qc` choose among clips: they do not lapse an approval.
    chooser = board.shots[1].model_copy(update={"takes": 3})
    assert shot_inputs(chooser) == shot_inputs(board.shots[1])
    assert lapsed_approvals(path, board) == []
    path.write_text(INDENTED.replace("prompt: plain", "prompt: changed"))
    changed = load_storyboard(path, tmp_path)
    assert pinned_clip(path, changed.shots[1]) is None
    [line] = lapsed_approvals(path, changed)
    assert "shot `two` was approved" in line and "changed since" in line


WITH_FILES = """\
version: 1
name: files
cast:
  mia: {pictures: [people/mia.png]}
shots:
  - id: one
    prompt: a harbour at dawn
    frames: 9
    keyframes: [{image: keys/first.png, at: 0}]
    cast: [mia]
  - id: two
    prompt: plain
    frames: 9
"""


def picture(path, shade: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (shade, shade, shade)).save(path)


@pytest.mark.parametrize("edited", ["keys/first.png", "people/mia.png"])
def test_an_approval_lapses_when_a_file_its_shot_names_is_edited_in_place(tmp_path, edited):
    path = tmp_path / "board.yaml"
    path.write_text(WITH_FILES)
    picture(tmp_path / "keys" / "first.png", 10)
    picture(tmp_path / "people" / "mia.png", 20)
    board = load_storyboard(path, tmp_path)
    approve(path, board.shots[0], "ab" * 32, "shots/one.mp4", board)
    approve(path, board.shots[1], "cd" * 32, "shots/two.mp4", board)
    recorded = json.loads((tmp_path / "board.yaml.approved.json").read_text())
    assert set(recorded["one"]["files"]) == {"keys/first.png", "people/mia.png"}  # relative: the file travels
    assert recorded["two"]["files"] == {}
    assert pinned_clip(path, board.shots[0], board) == "ab" * 32 and lapsed_approvals(path, board) == []
    picture(tmp_path / edited, 99)  # same name, same YAML: only the picture changed
    board = load_storyboard(path, tmp_path)
    assert pinned_clip(path, board.shots[0], board) is None
    assert pinned_clip(path, board.shots[1], board) == "cd" * 32  # a shot naming no such file keeps its approval
    [line] = lapsed_approvals(path, board)
    assert "shot `one` was approved" in line and f"{edited} changed since" in line


def test_an_approval_recorded_before_files_were_holds_on_the_entry_alone(tmp_path):
    path = tmp_path / "board.yaml"
    path.write_text(WITH_FILES)
    picture(tmp_path / "keys" / "first.png", 10)
    picture(tmp_path / "people" / "mia.png", 20)
    board = load_storyboard(path, tmp_path)
    approve(path, board.shots[0], "ab" * 32, "shots/one.mp4", board)
    approvals = json.loads((tmp_path / "board.yaml.approved.json").read_text())
    del approvals["one"]["files"]
    (tmp_path / "board.yaml.approved.json").write_text(json.dumps(approvals))
    picture(tmp_path / "keys" / "first.png", 99)
    assert pinned_clip(path, load_storyboard(path, tmp_path).shots[0], board) == "ab" * 32
def test_enhanced_prompts_are_written_keeping_comments_and_a_new_key_goes_after_the_prompt(tmp_path):
    from ltx_flows.storyboard.editing import set_shot_fields

    path = tmp_path / "board.yaml"
    path.write_text(INDENTED)
    set_shot_fields(path, {"one": {"prompt": "a long, detailed prompt: with a colon", "enhance_prompt": False},
                           "two": {"prompt": "plain and longer"}}, root=tmp_path)
    text = path.read_text()
    assert "# top comment" in text and "# the first shot" in text and "# trailing comment" in text
    assert "    enhance_prompt: false\n    frames: 9" in text  # right after the prompt
    storyboard = load_storyboard(path, root=tmp_path)
    assert [shot.prompt for shot in storyboard.shots] == ["a long, detailed prompt: with a colon", "plain and longer"]
    assert storyboard.shots[0].enhance_prompt is False and storyboard.shots[1].enhance_prompt is None
    with pytest.raises(EditError, match="did you mean `two`"):
        set_shot_fields(path, {"tow": {"prompt": "x"}}, root=tmp_path)
