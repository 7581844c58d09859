"""Every benchmark script runs at its tiny size (`--smoke`), so none can rot unnoticed: a failing script fails here."""

import os
import subprocess
import sys

import pytest

from .conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPTS = sorted(path.name for path in (REPO / "benchmarks").glob("*.py"))


def test_every_benchmark_is_covered():
    assert len(SCRIPTS) >= 6, SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_at_its_smoke_size(script, tiny_cache, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("PREFECT_API_URL", None)  # each script brings its own server (or Prefect's ephemeral one)
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--smoke"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{script} --smoke failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.stdout.strip(), f"{script} printed no figures"


def test_the_gpu_stand_in_sleeps_holding_the_device_and_gives_back_the_models_frames(tiny_cache, tmp_path, monkeypatch):
    """`flow_overhead.py --gpu-stand-in`: a shot's generation becomes a sleep under the device's lock, returning the
    frames the real tiny model made for it (checked against a real generation; no pipeline is passed to the stand-in)."""
    import importlib.util
    import threading
    import time

    import numpy as np

    from ltx_flows.models import loading
    from ltx_flows.render import generate
    from ltx_flows.plan.planner import plan_storyboard
    from ltx_flows.storyboard.loading import load_storyboard

    spec = importlib.util.spec_from_file_location("flow_overhead", REPO / "benchmarks" / "flow_overhead.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(generate, "generate_shot", generate.generate_shot)  # put back after the test
    board = tmp_path / "bench.yaml"
    board.write_text(bench.storyboard_text("bench", 2, 96, 64, 9, 2))
    (tmp_path / "warm.yaml").write_text(bench.storyboard_text("warm", 1, 96, 64, 9, 2))
    plan = plan_storyboard(load_storyboard(board, tmp_path), board)
    shot = plan.shots[1]
    real = generate.generate_shot(loading.load_pipeline(plan.model), shot, plan.model, plan.output).frames

    bench.install_gpu_stand_in(board, 0.3)
    lock = loading.MODELS.device_locks[loading.pick_device(plan.model.device)]
    held, sleep, this_thread = [], time.sleep, threading.get_ident()

    def watched_sleep(seconds):  # Prefect's threads from earlier tests may sleep too: only this thread's count
        if threading.get_ident() == this_thread:
            held.append(lock.locked())
        sleep(seconds)

    monkeypatch.setattr(time, "sleep", watched_sleep)
    start = time.perf_counter()
    clip = generate.generate_shot(None, shot, plan.model, plan.output)
    assert time.perf_counter() - start >= 0.3
    assert held == [True]
    assert np.array_equal(clip.frames, real)
