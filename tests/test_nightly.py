"""Integration: the nightly schedule creates runs on a real Prefect server, and a worker renders one.

`test_deployment.py` runs a deployment by hand; this test leaves the run to the server's own
scheduler service, as the nightly is left at 02:00. A dependency once broke that service without
failing anything else (SQLAlchemy 2.1 under prefect 3.8.8: "Can't evaluate bulk DML statement" every
minute, no SCHEDULED run ever created), so the test reads the schedule's effect, not its cron string.

The repo's `prefect.yaml` is deployed unchanged, plus one deployment that copies `nightly` with a cron
of every minute, so that a scheduled run comes due while the test waits. The scheduler is told to
loop every 5 s instead of 60 s (a server setting; the code path is the one a nightly takes).
"""

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone

import httpx
import pytest
import yaml

from ltx_flows.media.read import probe

from .conftest import REPO
from .test_deployment import prefect, start_server, stop, studio  # noqa: F401 (studio is a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def scheduled_runs(api: str, deployment_id: str) -> list[dict]:
    """The flow runs of a deployment in state SCHEDULED (the issue's check, through the REST API)."""
    runs = httpx.post(
        f"{api}/flow_runs/filter",
        json={"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}, "deployment_id": {"any_": [deployment_id]}}},
        timeout=10,
    )
    runs.raise_for_status()
    return runs.json()


def wait_for(what: str, seconds: float, check, logs):
    """Poll `check()` until it returns something truthy; fail with the server's and worker's log tails."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"{what} within {seconds:.0f} s.\n" + "\n".join(
        f"--- {name} log:\n{path.read_text()[-3000:]}" for name, path in logs.items() if path.exists()))


def test_the_nightly_schedule_creates_runs_and_a_worker_renders_one(studio, tmp_path):  # noqa: F811
    checkout, env, port = studio
    api = env["PREFECT_API_URL"]
    env = {**env, "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5"}

    config = yaml.safe_load((REPO / "prefect.yaml").read_text())
    [nightly] = [d for d in config["deployments"] if d["name"] == "nightly"]
    every_minute = {**nightly, "name": "every-minute", "schedules": [{"cron": "* * * * *", "timezone": "UTC"}],
                    "parameters": {**nightly["parameters"], "out": "renders-every-minute"}}
    config["deployments"].append(every_minute)
    (checkout / "prefect.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    logs = {name: tmp_path / f"{name}.log" for name in ("server", "worker")}
    processes = []
    try:
        with open(logs["server"], "w") as log:
            processes.append(start_server(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                cwd=checkout, env=env, log=log, api=api,
            ))
        prefect("work-pool", "create", "renders", "--type", "process", cwd=checkout, env=env)
        prefect("--no-prompt", "deploy", "--all", cwd=checkout, env=env)
        ids = {name: httpx.get(f"{api}/deployments/name/render-batch/{name}", timeout=10).json()["id"]
               for name in ("nightly", "every-minute")}

        # The scheduler service, not a person, creates the coming nights' runs, each at 02:00 UTC.
        nights = wait_for("the scheduler created no SCHEDULED run of render-batch/nightly", 90,
                          lambda: scheduled_runs(api, ids["nightly"]), logs)
        times = sorted(datetime.fromisoformat(r["expected_start_time"]) for r in nights)
        assert all((t.hour, t.minute) == (2, 0) for t in times), times
        assert times[0] > datetime.now(timezone.utc)
        assert all(r["parameters"]["storyboards"] == ["storyboards/"] for r in nights)
        assert "bulk DML" not in logs["server"].read_text()

        # A worker picks up the every-minute copy's run when it comes due and renders the film.
        wait_for("the scheduler created no SCHEDULED run of render-batch/every-minute", 60,
                 lambda: scheduled_runs(api, ids["every-minute"]), logs)
        with open(logs["worker"], "w") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "prefect", "worker", "start", "--pool", "renders"],
                cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ))

        def first_finished_run():
            runs = httpx.post(f"{api}/flow_runs/filter", json={"flow_runs": {
                "deployment_id": {"any_": [ids["every-minute"]]},
                "state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED"]}}}}, timeout=10).json()
            return runs[0] if runs else None

        run = wait_for("no scheduled run of render-batch/every-minute finished", 360, first_finished_run, logs)
        assert run["state"]["type"] == "COMPLETED", (run["state"], logs["worker"].read_text()[-3000:])
        assert run["auto_scheduled"], "the run was created by the scheduler"
    finally:
        for process in reversed(processes):
            stop(process)

    film_dir = checkout / "renders-every-minute" / "tiny"
    manifest = json.loads((film_dir / "manifest.json").read_text())
    assert probe(film_dir / "tiny.mp4").frames == manifest["film"]["frames"] == 18
