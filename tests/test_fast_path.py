"""Doing nothing costs nothing: imports stay light, and an unchanged re-run from the command line
finishes its films without a model, torch or Prefect (real processes, real tiny pipeline, real ffmpeg)."""

import json
import subprocess
import sys
import textwrap
import time

import pytest

from ltx_flows.media.read import probe
from ltx_flows.files import file_sha256
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.loading import load_storyboard

BOARD = """
version: 1
name: quiet
model: {checkpoint: tiny, steps: 2}
output: {width: 96, height: 64, fps: 24}
shots:
  - {id: a, prompt: "a red ball", frames: 9, transition: {crossfade: 0.125}}
  - {id: b, prompt: "a blue ball", frames: 17}
"""

# Runs the command line, then says which heavy modules the process ever imported.
CLI_AND_IMPORTS = """
import sys
from ltx_flows.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print("IMPORTED=" + ",".join(sorted(m for m in ("torch", "diffusers", "prefect", "distributed") if m in sys.modules)))
sys.exit(code)
"""


def heavy_modules_after(code: str) -> set[str]:
    probe_code = code + "\nimport sys\nprint('IMPORTED=' + ','.join(m for m in ('torch', 'diffusers', 'transformers', 'distributed', 'dask') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe_code], capture_output=True, text=True, timeout=120, check=True)
    imported = next(line[9:] for line in result.stdout.splitlines() if line.startswith("IMPORTED="))
    return set(filter(None, imported.split(",")))


@pytest.mark.parametrize("module", ["ltx_flows.production.flow", "ltx_flows.render.shot", "ltx_flows.production.slots", "ltx_flows.finish.film", "ltx_flows.cli",
                                    "ltx_flows.render.retake", "ltx_flows.production.schedule",
                                    "ltx_flows.production.dask_submit", "ltx_flows.production.terminal"])
def test_importing_the_flow_and_the_cache_does_not_import_torch_or_dask(module):
    assert heavy_modules_after(f"import {module}") == set()


def render_cli(board, out, cwd):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", CLI_AND_IMPORTS, "render", str(board), "--out", str(out)],
                            cwd=cwd, capture_output=True, text=True, timeout=600)
    imported = next(line[9:] for line in result.stdout.splitlines() if line.startswith("IMPORTED="))
    return result, set(filter(None, imported.split(","))), time.perf_counter() - start


@pytest.mark.integration
def test_an_unchanged_rerun_finishes_the_film_without_a_model_or_prefect(tiny_cache, workspace):
    from ltx_flows.render.shot import render_shot_cached

    board = workspace / "quiet.yaml"
    board.write_text(textwrap.dedent(BOARD).lstrip())
    plan = plan_storyboard(load_storyboard(board), board)
    film_dir = workspace / "renders" / "quiet"
    for shot in plan.shots:  # every clip rendered and recorded, as a first run leaves them
        render_shot_cached(plan, shot, film_dir, force=False, failed_attempts=[])

    # No film yet: it is stitched, the manifest written, and nothing heavy is imported.
    result, imported, _ = render_cli(board, workspace / "renders", workspace)
    assert result.returncode == 0, result.stderr
    assert imported == set(), result.stderr
    film = film_dir / "quiet.mp4"
    assert probe(film).frames == 9 + 17 - 3
    manifest = json.loads((film_dir / "manifest.json").read_text())
    assert [shot["status"] for shot in manifest["shots"]] == ["cached", "cached"]
    assert manifest["film"]["sha256"] == file_sha256(film)
    assert "every shot unchanged" in result.stderr

    # Again: the film matches its manifest and is kept as it is.
    mtime = film.stat().st_mtime_ns
    result, imported, seconds = render_cli(board, workspace / "renders", workspace)
    assert result.returncode == 0 and imported == set()
    assert film.stat().st_mtime_ns == mtime and "film unchanged" in result.stderr

    # A damaged film no longer matches its manifest: it is stitched again.
    film.write_bytes(film.read_bytes()[:-100])
    result, imported, _ = render_cli(board, workspace / "renders", workspace)
    assert result.returncode == 0 and imported == set()
    assert probe(film).frames == 23 and file_sha256(film) == json.loads((film_dir / "manifest.json").read_text())["film"]["sha256"]

    # A missing clip needs a render: the fast path steps aside (the flow renders it).
    from ltx_flows.finish.film import shots_to_render

    (film_dir / "shots" / "b.mp4").unlink()
    assert [shot.id for shot in shots_to_render(plan, film_dir, force=False)[0]] == ["b"]


def test_importing_the_production_modules_changes_no_logging_or_environment():
    """Log routing is set up where a flow starts (production/logs.py), never by an import."""
    code = """
import logging, os
import prefect
before = (dict(os.environ), logging.getLogger("ltx_flows").level, list(logging.getLogger("ltx_flows").handlers),
          list(logging.getLogger("prefect.flow_runs").filters))
import ltx_flows.cli, ltx_flows.production.flow, ltx_flows.production.terminal, ltx_flows.production.api_server
after = (dict(os.environ), logging.getLogger("ltx_flows").level, list(logging.getLogger("ltx_flows").handlers),
         list(logging.getLogger("prefect.flow_runs").filters))
print("SAME" if before == after else f"CHANGED {before[1:]} {after[1:]}")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "SAME", result.stdout


def test_a_flow_sets_up_its_log_routing_once_however_often_it_starts():
    import logging

    from ltx_flows.production import logs

    ours, flow_runs = logging.getLogger("ltx_flows"), logging.getLogger("prefect.flow_runs")
    handlers, filters, level = list(ours.handlers), list(flow_runs.filters), ours.level
    try:
        # Earlier tests in this process may have started flows: start from none of ours.
        flow_runs.filters[:] = [f for f in filters if not isinstance(f, logs._BatchFailedInOneLine)]
        ours.handlers[:] = [h for h in handlers if not isinstance(h, logs._ToRunLogs)]
        logs.show_run_logs()
        once = (list(ours.handlers), list(flow_runs.filters))
        logs.show_run_logs()
        assert (list(ours.handlers), list(flow_runs.filters)) == once
        assert ours.level == logging.INFO
        assert sum(isinstance(f, logs._BatchFailedInOneLine) for f in flow_runs.filters) == 1
    finally:
        ours.handlers[:], flow_runs.filters[:] = handlers, filters
        ours.setLevel(level)
