"""Unit tests: the text of the Prefect artifacts (report.py), with no Prefect and no render."""

import re
from datetime import datetime, timezone

from ltx_flows.report import ShotOutcome, artifact_key, batch_markdown, batch_run_name, cell, first_line


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
    assert rows[3] == r"| `boards/a\|b.yaml` | **failed**: a.yaml:3:5: model.steps: `x` is not a whole number | - | - |"
    assert rows[4] == "| `boards/c.yaml` | **failed**: Traceback (most recent call last): | - | - |"
    assert rows[2] == f"| `boards/ok.yaml` | rendered | `{tmp_path / 'ok.mp4'}` | `{tmp_path / 'review.html'}` |"


def test_cells_lines_keys_and_names():
    assert cell("a | b\nc") == r"a \| b c"
    assert cell("x" * 500).endswith("…") and len(cell("x" * 500)) == 160
    assert first_line("\n\n  CUDA out of memory. Tried to allocate 2 GiB\nmore detail") == "CUDA out of memory. Tried to allocate 2 GiB"
    # Keys say where a run came from, so a CLI render never replaces a deployment's artifacts.
    assert artifact_key("nightly", "cold_brew", "summary") == "nightly-cold-brew-summary"
    assert artifact_key("cli", "cold_brew", "summary") == "cli-cold-brew-summary"
    when = datetime(2026, 11, 21, 2, 0, tzinfo=timezone.utc)
    assert batch_run_name("nightly", when) == "nightly-2026-11-21"
    assert batch_run_name("cli", when) == "cli-2026-11-21-0200"


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

    from ltx_flows.media import iter_keyframes, write_clip
    from ltx_flows.report import filmstrip

    # Each frame a different shade, so a wrong frame in the strip shows.
    frames = np.stack([np.full((64, 96, 3), 5 * i, dtype=np.uint8) for i in range(49)])
    clip = tmp_path / "clip.mp4"
    write_clip(frames, clip, fps=24, crf=12)
    assert [round(seconds * 24) for seconds, _ in iter_keyframes(clip)] == [0, 12, 24, 36, 48]
    assert filmstrip(clip, 49, count=5, fps=24) == filmstrip(clip, 49, count=5)

    short = tmp_path / "short.mp4"
    write_clip(frames[:9], short, fps=24, crf=12)
    assert filmstrip(short, 9, count=5, fps=24) == filmstrip(short, 9, count=5)
