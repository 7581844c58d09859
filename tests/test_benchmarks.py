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
