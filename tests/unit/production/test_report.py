"""Unit tests: the text of the Prefect artifacts (report.py), with no Prefect and no render."""

import re
from datetime import datetime, timezone

from ltx_flows.production.report import (
    ShotOutcome,
    artifact_key,
    batch_failure,
    batch_markdown,
    batch_run_name,
    cell,
    first_line,
    given_run_name,
    storyboard_failure,
)


def test_batch_summary_stays_one_table_whatever_the_errors_say(tmp_path):
    failed = {
        "boards/a|b.yaml": "a.yaml:3:5: model.steps: `x` is not a whole number\na.yaml:4:1: another | problem",
        "boards/c.yaml": "Traceback (most recent call last):\n  File ...\n\nOSError: | broken",
    }
    text = batch_markdown({"boards/ok.yaml": {"film": str(tmp_path / "ok.mp4"), "review": str(tmp_path / "review.html")}},
                          failed, "nightly")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 3
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 5 for row in rows), text  # 4 cells each, pipes escaped
    assert rows[3] == r"| `boards/a\|b.yaml` | **failed** (why: below) | - | - |"
    assert rows[4] == "| `boards/c.yaml` | **failed** (why: below) | - | - |"
    # Why, below the table: the first line of each reason (a list item wraps; Prefect's V1 UI never wraps a cell).
    assert text.endswith("\n- `boards/a|b.yaml`: a.yaml:3:5: model.steps: `x` is not a whole number\n"
                         "- `boards/c.yaml`: Traceback (most recent call last):\n")
    assert rows[2] == f"| `boards/ok.yaml` | rendered | `{tmp_path / 'ok.mp4'}` | `{tmp_path / 'review.html'}` |"


def test_cells_lines_keys_and_names():
    assert cell("a | b\nc") == r"a \| b c"
    assert cell("x" * 500).endswith("…") and len(cell("x" * 500)) == 160
    assert first_line("\n\n  CUDA out of memory. Tried to allocate 2 GiB\nmore detail") == "CUDA out of memory. Tried to allocate 2 GiB"
    # Keys say where a run came from, so a CLI render never replaces a deployment's artifacts.
    assert artifact_key("nightly", "cold_brew", "summary") == "nightly-cold-brew-summary"
    assert artifact_key("cli", "cold_brew", "summary") == "cli-cold-brew-summary"
    when = datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc)
    assert batch_run_name("nightly", when) == "nightly-2026-11-21-02:00:00"
    assert batch_run_name("cli", when) == "cli-2026-11-21-02:00:00"


def test_outcomes_say_what_this_run_did():
    assert ShotOutcome("rendered", 12.34).describe() == "rendered in 12.3 s"
    # A reused shot says so, not the seconds of the run that made it.
    assert ShotOutcome("cached", None).describe() == "reused (unchanged)"
    assert ShotOutcome("failed", reason="OSError: no file\n  at line 3").describe() == "failed: OSError: no file"


def test_filmstrips_come_from_keyframes_and_match_a_full_decode(tmp_path):
    """A clip written by ltx-flows (a keyframe every half second): the filmstrip taken from its keyframes only is
    the one a frame-by-frame decode gives; where the keyframes cannot stand for the wanted frames (a 9-frame
    clip has one), the clip is decoded frame by frame."""
    import numpy as np

    from ltx_flows.media.read import iter_keyframes
    from ltx_flows.media.write import write_clip
    from ltx_flows.media.thumbnails import filmstrip

    # Each frame a different shade, so a wrong frame in the strip shows.
    frames = np.stack([np.full((64, 96, 3), 5 * i, dtype=np.uint8) for i in range(49)])
    clip = tmp_path / "clip.mp4"
    write_clip(frames, clip, fps=24, crf=12)
    assert [round(seconds * 24) for seconds, _ in iter_keyframes(clip)] == [0, 12, 24, 36, 48]
    assert filmstrip(clip, 49, count=5, fps=24) == filmstrip(clip, 49, count=5)

    short = tmp_path / "short.mp4"
    write_clip(frames[:9], short, fps=24, crf=12)
    assert filmstrip(short, 9, count=5, fps=24) == filmstrip(short, 9, count=5)


# The failure a producer met (issue 18): a model missing from the hub cache, the remedy at the end of a long line.
NOT_CACHED = ("ModelNotCached: model Lightricks/LTX-Video-0.9.7-distilled is not in this machine's Hugging Face cache and "
              "the Hub could not be reached: run `ltx-flows download storyboards/pour.yaml` (with network, same HF_HOME), "
              "then render again")


def test_two_runs_of_a_day_have_different_names_and_a_given_name_is_kept():
    """Prefect's own generated names (its generate_slug, called for real) are replaced; a name a run was created
    with (`--flow-run-name`) is kept, so `--watch` and the UI show the same one."""
    from prefect.utilities.names import generate_slug

    morning = datetime(2026, 12, 3, 9, 15, 23, tzinfo=timezone.utc)
    assert batch_run_name("on-demand", morning) != batch_run_name("on-demand", morning.replace(minute=40))
    assert batch_run_name("on-demand", morning) == "on-demand-2026-12-03-09:15:23"
    assert all(given_run_name(generate_slug(2)) is None for _ in range(500))
    assert given_run_name(None) is None
    for name in ("on-demand-2026-12-03-09:15:23", "retake-pour", "pour_v2", "Friday"):
        assert given_run_name(name) == name


def test_failure_reasons_keep_their_remedy_in_every_place_they_are_shown():
    """The state message, the batch summary row and the shot cell: each keeps the remedy (it was cut at 160
    characters, at "...not fully cached locally (Cannot find an appropriate cached snapshot folde...")."""
    three_shots = storyboard_failure("pour", 3, {"a": NOT_CACHED, "b": NOT_CACHED, "c": NOT_CACHED + "\n  more detail"})
    assert three_shots == f"pour: 3 of 3 shots failed (shots a, b, c: {NOT_CACHED})"  # said once, not thrice
    assert storyboard_failure("pour", 3, {"b": "RuntimeError: NaNs", "a": "OSError: gone"}) == (
        "pour: 2 of 3 shots failed (shot b: RuntimeError: NaNs; shot a: OSError: gone)")
    message = batch_failure({"storyboards/pour.yaml": three_shots}, total=2)
    assert message == f"1 of 2 storyboards failed (storyboards/pour.yaml: {three_shots})"
    why = batch_markdown({}, {"storyboards/pour.yaml": three_shots}, "nightly").splitlines()[-1]
    assert why == f"- `storyboards/pour.yaml`: {three_shots}"
    assert ShotOutcome("failed", reason=NOT_CACHED).describe() == f"failed: {NOT_CACHED}"


def test_a_storyboard_whose_shots_were_all_reused_is_not_called_rendered(tmp_path):
    result = {"film": str(tmp_path / "a.mp4"), "review": None}
    text = batch_markdown({"kept.yaml": {**result, "shots": {"a": "cached", "b": "cached"}},
                           "half.yaml": {**result, "shots": {"a": "rendered", "b": "cached"}},
                           "new.yaml": {**result, "shots": {"a": "rendered"}}}, {}, "nightly")
    assert "2 storyboards rendered, 1 unchanged (every shot reused), 0 failed." in text
    rows = [line.split(" | ")[1] for line in text.splitlines() if line.startswith("| `")]
    assert rows == ["unchanged: all 2 shots reused, nothing rendered", "rendered (1 shot, 1 reused)", "rendered (1 shot)"]


LONG_PROMPT = ("a slow dolly across a sunlit kitchen counter, steam curling from a pour-over coffee as the barista's hands "
               "tilt the kettle in a steady spiral, morning light through linen curtains, shallow depth of field, "
               "35 mm film grain, warm tones, the camera settling on the cup as the last drops fall")


def summary_with_long_prompt(write_storyboard, tmp_path) -> str:
    from ltx_flows.plan.planner import plan_storyboard
    from ltx_flows.production.report import storyboard_markdown
    from ltx_flows.storyboard.loading import load_storyboard

    path = write_storyboard(f"""
        version: 1
        name: pour
        model: {{checkpoint: tiny, steps: 2}}
        output: {{width: 96, height: 64, fps: 24}}
        shots:
          - {{id: a, prompt: "{LONG_PROMPT}", frames: 9, seed: 7}}
          - {{id: b, prompt: "{LONG_PROMPT}", frames: 17, seed: 8}}
    """)
    plan = plan_storyboard(load_storyboard(path), path)
    results = {"a": ShotOutcome("failed", reason=NOT_CACHED), "b": ShotOutcome("cached")}
    return storyboard_markdown(plan, tmp_path, results, None, thumbnails={"b": None})


def test_the_summary_table_shows_each_shots_outcome_before_its_prompt(write_storyboard, tmp_path):
    """The outcome, seed and frames come first and the prompt last, cut short: a long prompt pushed them off
    a 1600-pixel screen (the full prompt is on the review page and in the manifest)."""
    text = summary_with_long_prompt(write_storyboard, tmp_path)
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert rows[0] == "| shot | this run | seed | frames | frame | prompt |"
    cells = [row.strip("| ").split(" | ") for row in rows[2:]]
    assert [cell[:4] for cell in cells] == [["`a`", "**failed** (why: below)", "7", "9"],
                                            ["`b`", "reused (unchanged)", "8", "17"]]
    assert all(cell[5].strip() == LONG_PROMPT[:39] + "…" for cell in cells)
    # The reason whole, below the table (where text wraps): what failed and what to run.
    assert text.endswith(f"\n- `a`: {NOT_CACHED}\n")
