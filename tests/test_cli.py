"""The command line as a user runs it: a real `ltx-flows` process."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from ltx_flows.media.read import probe

from .conftest import REPO

BROKEN = """
version: 1
name: Broken
output: {width: 770, height: 512}
shots:
  - id: a
    prompt: x
    durtion: 2
  - id: b
    prompt: y
    frames: 33
    keyframes:
      - {image: keyframes/missing.png, at: 300}
"""


def ltx_flows(*args, cwd, env=None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ltx_flows.cli", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=600)


def test_validate_reports_every_error_and_exits_2_without_writing(write_storyboard, workspace):
    path = write_storyboard(BROKEN)
    before = sorted(p for p in workspace.rglob("*"))
    result = ltx_flows("validate", path, cwd=workspace)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    # Not a terminal: plain text, each problem with its source line and a caret under the column.
    assert result.stderr.splitlines() == [
        f"{path}:2:7: name: 'Broken' is not a valid name: use lowercase letters, digits, `-` and `_`, "
        "starting with a letter or digit, at most 64 characters",
        "    2 | name: Broken",
        "      |       ^",
        f"{path}:3:17: output.width: 770 is not a multiple of 32; the nearest valid sizes are 768 and 800",
        "    3 | output: {width: 770, height: 512}",
        "      |                 ^",
        f"{path}:7:5: shots[0]: unknown key `durtion`; did you mean `duration`? "
        "Allowed here: id, prompt, duration, frames, seed, negative_prompt, keyframes, segments, control, mute, transition, retakes, loras, camera, cast, takes, qc, enhance_prompt, focus, voice, pad, caption, ambience",
        "    7 |     durtion: 2",
        "      |     ^",
        f"{path}:12:17: shots[1].keyframes[0].image: file not found: {workspace}/keyframes/missing.png "
        f"(paths are relative to the storyboard's folder, {workspace})",
        "   12 |       - {image: keyframes/missing.png, at: 300}",
        "      |                 ^",
    ]
    assert sorted(p for p in workspace.rglob("*")) == before


def test_validate_checks_many_files_and_render_refuses_invalid_input(write_storyboard, workspace):
    good = write_storyboard("version: 1\nname: ok\nshots: [{id: a, prompt: x, frames: 9}]\n", "good.yaml")
    bad = write_storyboard("version: 1\nname: ok\nshots: []\n", "bad.yaml")
    result = ltx_flows("validate", good, bad, workspace / "nope.yaml", cwd=workspace)
    assert result.returncode == 2
    assert f"ok {good}" in " ".join(result.stdout.split())
    assert f"{bad}:3:8: shots: `shots` is empty: give at least 1 item\n" in result.stderr
    assert f"{workspace / 'nope.yaml'}:1:1: no such file or folder" in result.stderr

    result = ltx_flows("render", good, bad, "--out", workspace / "renders", cwd=workspace)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not (workspace / "renders").exists()  # nothing rendered, not even the valid file


def test_validate_formats_for_tools(write_storyboard, workspace):
    path = write_storyboard(BROKEN)
    good = write_storyboard("version: 1\nname: ok\nshots: [{id: a, prompt: x, frames: 9}]\n", "good.yaml")
    result = ltx_flows("validate", "--format", "json", path, good, cwd=workspace)
    assert result.returncode == 2
    problems = json.loads(result.stdout)
    assert [(p["file"], p["line"], p["column"], p["path"]) for p in problems] == [
        (str(path), 2, 7, "name"), (str(path), 3, 17, "output.width"), (str(path), 7, 5, "shots[0]"),
        (str(path), 12, 17, "shots[1].keyframes[0].image"),
    ]
    assert problems[1]["message"] == "770 is not a multiple of 32; the nearest valid sizes are 768 and 800"

    result = ltx_flows("validate", "--format", "github", path, cwd=workspace)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    # Workflow commands escape `:` and `,` in properties (the path has none here).
    assert lines[1] == (f"::error file={path},line=3,col=17::output.width: 770 is not a multiple of 32; the nearest "
                        "valid sizes are 768 and 800")

    for output_format in ("json", "github"):
        result = ltx_flows("validate", "--format", output_format, good, cwd=workspace)
        assert (result.returncode, result.stdout.strip()) == (0, "[]" if output_format == "json" else "")


def test_cli_conventions(write_storyboard, workspace):
    """--version, folders and globs, --x/--no-x flags and documented exit codes."""
    from importlib import metadata

    result = ltx_flows("--version", cwd=workspace)
    assert (result.returncode, result.stdout) == (0, f"ltx-flows {metadata.version('ltx-flows')}\n")

    (workspace / "boards" / "more").mkdir(parents=True)
    for name, where in (("one", "boards"), ("two", "boards"), ("three", "boards/more")):
        (workspace / where / f"{name}.yaml").write_text(f"version: 1\nname: {name}\nshots: [{{id: a, prompt: x, frames: 9}}]\n")
    result = ltx_flows("validate", "boards", cwd=workspace)  # a folder: its own files
    assert result.returncode == 0 and result.stdout.split("\n")[:2] == ["ok boards/one.yaml: 1 shots", "ok boards/two.yaml: 1 shots"]
    result = ltx_flows("validate", "boards/**/*.yaml", cwd=workspace)  # a glob reaches into subfolders
    assert result.returncode == 0 and "ok boards/more/three.yaml: 1 shots" in result.stdout
    result = ltx_flows("validate", "nothing/*.yaml", cwd=workspace)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == "nothing/*.yaml:1:1: matches no storyboard files (*.yaml, *.yml)"

    help_text = ltx_flows("render", "--help", cwd=workspace, env={"COLUMNS": "120"}).stdout
    [force] = [line for line in help_text.splitlines() if "--force" in line]
    assert "--no-force" in force and "<bool>" not in force
    assert "Exit codes: 0 ok, 1 a render failed, 2 invalid input, 130 interrupted." in ltx_flows("--help", cwd=workspace).stdout


def test_plan_json_and_schema(write_storyboard, workspace):
    path = write_storyboard("version: 1\nname: ok\nshots: [{id: a, prompt: x, duration: 2}]\n")
    plan = json.loads(ltx_flows("plan", path, "--json", cwd=workspace).stdout)
    assert plan["shots"][0]["requested_frames"] == 48 and plan["shots"][0]["frames"] == 49
    table = ltx_flows("plan", path, cwd=workspace, env={"COLUMNS": "200"}).stdout
    assert "48 -> 49" in table
    schema = ltx_flows("schema", cwd=workspace).stdout
    assert json.loads(schema) == json.loads((REPO / "storyboards" / "storyboard.schema.json").read_text())


@pytest.mark.integration
@pytest.mark.slow
def test_render_quickstart_like_the_readme(tmp_path, tiny_cache):
    """The README's render command, in a copy of the repo's storyboards, with Prefect's ephemeral API."""
    shutil.copytree(REPO / "storyboards", tmp_path / "storyboards")
    env = {"PREFECT_HOME": str(tmp_path / "prefect-home"), "LTX_FLOWS_CACHE": str(tiny_cache)}
    env = {k: v for k, v in {**os.environ, **env}.items() if k != "PREFECT_API_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "ltx_flows.cli", "render", "storyboards/quickstart.yaml"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    film = tmp_path / "renders" / "quickstart" / "quickstart.mp4"
    manifest = json.loads((film.parent / "manifest.json").read_text())
    assert probe(film).frames == manifest["film"]["frames"] == 49 + 49 - 12
    assert "quickstart" in result.stderr and "100%" in result.stderr  # the progress display
    assert [shot["status"] for shot in manifest["shots"]] == ["rendered", "rendered"]

    # Unchanged shots would be reused; --force renders them again.
    result = subprocess.run(
        [sys.executable, "-m", "ltx_flows.cli", "render", "storyboards/quickstart.yaml", "--force"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((film.parent / "manifest.json").read_text())
    assert [shot["status"] for shot in manifest["shots"]] == ["rendered", "rendered"]
    assert "film renders/quickstart/quickstart.mp4 review renders/quickstart/review.html" in " ".join(result.stderr.split())


@pytest.mark.integration
@pytest.mark.slow
def test_render_the_controlled_ltx2_example_offline(tmp_path, tiny_cache, prefect_api_url):
    """The LTX-2 example with sound, a canny and a depth control, on the tiny model and tiny detector weights."""
    shutil.copytree(REPO / "storyboards", tmp_path / "storyboards")
    shutil.copytree(REPO / "controls", tmp_path / "controls")
    env = {"PREFECT_HOME": str(tmp_path / "prefect-home"), "LTX_FLOWS_CACHE": str(tiny_cache)}
    env = {k: v for k, v in {**os.environ, **env}.items() if k != "LTX_FLOWS_ANNOTATORS"}
    env["PREFECT_API_URL"] = prefect_api_url  # the session's server (conftest.py)
    result = subprocess.run(
        [sys.executable, "-m", "ltx_flows.cli", "render", "storyboards/pour-controlled.yaml"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    film_dir = tmp_path / "renders" / "pour-controlled"
    film = probe(film_dir / "pour-controlled.mp4")
    assert film.frames == 49 + 49 + 33 - 12  # 2 s, 2 s and 1.5 s, snapped to 8n+1; a 0.5 s crossfade
    assert film.has_audio and abs(film.audio_duration - film.duration) <= 1 / 24
    for control in ("pour-canny.mp4", "glass-depth.mp4"):
        info = probe(film_dir / "controls" / control)
        assert (info.frames, info.width, info.height) == (49, 384, 256)


# Markup-like prompts and a file name with `[`: rich would crash on `[/]` and swallow `[red]`.
TABLES_BOARD = """
version: 1
name: tables
model: {family: ltx2, checkpoint: tiny, steps: 4}
output: {width: 384, height: 256, fps: 24}
shots:
  - id: reveal
    prompt: "[/]"
    duration: 4
    keyframes:
      - {image: "keyframes/key[1].png", at: 0}
    retakes:
      - {from: 1.5s, to: 2.5s, prompt: "[red]x[/red]"}
      - {from: 3.25s, to: end}
  - id: orbit
    prompt: "[bold]orbit"
    frames: 33
    segments: {frames: 17, overlap: 9}
"""


def test_plan_and_presets_read_at_80_columns_and_cut_nothing(workspace):
    """`plan` and `presets` as a user runs them in an 80- (and 120-) column terminal: no line past the edge,
    nothing cut short with `…`, prompts and file names printed as written (`[/]` crashed `plan`, `[red]`
    vanished), a retake to the shot's end blends back only before it (issue 18, items 10 and 17a)."""
    shutil.copy(workspace / "keyframes" / "a.png", workspace / "keyframes" / "key[1].png")
    (workspace / "tables.yaml").write_text(TABLES_BOARD)
    for width in (80, 120):
        result = ltx_flows("plan", "tables.yaml", cwd=workspace, env={"COLUMNS": str(width)})
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-2000:]
        lines = result.stdout.splitlines()
        assert all(len(line) <= width for line in lines) and "…" not in result.stdout, result.stdout
        assert "[red]x[/red]" in result.stdout and "key[1].png@0" in result.stdout and "[/]" in result.stdout
        assert "97-96" not in result.stdout and "GPU memory, estimate" in result.stdout
        result = ltx_flows("presets", cwd=workspace, env={"COLUMNS": str(width)})
        assert result.returncode == 0 and "…" not in result.stdout, result.stdout
        assert all(len(line) <= width for line in result.stdout.splitlines())
        for name in ("ltxv-0.9.7-distilled", "Lightricks/LTX-Video-0.9.8-13B-distilled", "rootonchair/LTX-2-19b-distilled"):
            assert any(line.split()[-1:] == [name] for line in result.stdout.splitlines()), name
        assert "recipe" in result.stdout
