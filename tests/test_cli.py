"""The command line as a user runs it: a real `ltx-flows` process."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from ltx_flows.media import probe

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
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"{path}:2:7: name: 'Broken' is not a valid name: use lowercase letters, digits, `-` and `_`, "
        "starting with a letter or digit, at most 64 characters",
        f"{path}:3:17: output.width: 770 is not a multiple of 32; the nearest valid sizes are 768 and 800",
        f"{path}:7:5: shots[0]: unknown key `durtion`; did you mean `duration`? "
        "Allowed here: id, prompt, duration, frames, seed, negative_prompt, keyframes, segments, control, mute, transition",
        f"{path}:12:17: shots[1].keyframes[0].image: file not found: {workspace}/keyframes/missing.png "
        f"(paths are relative to the storyboard's folder, {workspace})",
    ]
    assert sorted(p for p in workspace.rglob("*")) == before


def test_validate_checks_many_files_and_render_refuses_invalid_input(write_storyboard, workspace):
    good = write_storyboard("version: 1\nname: ok\nshots: [{id: a, prompt: x, frames: 9}]\n", "good.yaml")
    bad = write_storyboard("version: 1\nname: ok\nshots: []\n", "bad.yaml")
    result = ltx_flows("validate", good, bad, workspace / "nope.yaml", cwd=workspace)
    assert result.returncode == 2
    assert f"ok {good}" in " ".join(result.stdout.split())
    assert f"{bad}:3:8: shots: List should have at least 1 item" in result.stderr
    assert f"{workspace / 'nope.yaml'}:1:1: cannot read the file" in result.stderr

    result = ltx_flows("render", good, bad, "--out", workspace / "renders", cwd=workspace)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not (workspace / "renders").exists()  # nothing rendered, not even the valid file


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
    assert "quickstart shots" in result.stderr  # the progress display
    assert [shot["status"] for shot in manifest["shots"]] == ["rendered", "rendered"]

    # Unchanged shots would be reused; --force renders them again.
    result = subprocess.run(
        [sys.executable, "-m", "ltx_flows.cli", "render", "storyboards/quickstart.yaml", "--force"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((film.parent / "manifest.json").read_text())
    assert [shot["status"] for shot in manifest["shots"]] == ["rendered", "rendered"]
    assert "film renders/quickstart/quickstart.mp4" in " ".join(result.stderr.split())


@pytest.mark.integration
@pytest.mark.slow
def test_render_the_controlled_ltx2_example_offline(tmp_path, tiny_cache):
    """The LTX-2 example with sound, a canny and a depth control, on the tiny model and tiny detector weights."""
    shutil.copytree(REPO / "storyboards", tmp_path / "storyboards")
    shutil.copytree(REPO / "controls", tmp_path / "controls")
    env = {"PREFECT_HOME": str(tmp_path / "prefect-home"), "LTX_FLOWS_CACHE": str(tiny_cache)}
    env = {k: v for k, v in {**os.environ, **env}.items() if k not in ("PREFECT_API_URL", "LTX_FLOWS_ANNOTATORS")}
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
