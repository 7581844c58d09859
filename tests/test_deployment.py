"""Integration: the README's nightly-production path on 127.0.0.1, command for command.

A real `prefect server start`, a real process work pool and worker, `prefect deploy` of the
repo's prefect.yaml, `prefect deployment run`, and the film and manifest it leaves behind.
"""

import base64
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from PIL import Image

from ltx_flows.media import probe

from .conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOARD = """\
version: 1
name: tiny
model: {checkpoint: tiny, steps: 2}
output: {width: 96, height: 64, fps: 24}
shots:
  - {id: a, prompt: "a red ball", frames: 9}
  - {id: b, prompt: "a blue ball", frames: 9}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prefect(*args, cwd, env, timeout=180) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "prefect", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"prefect {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def stop(process: subprocess.Popen) -> None:
    """Ctrl-C first (a worker ignores its first SIGTERM), then kill whatever is left of its process group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


@pytest.fixture
def studio(tmp_path, tiny_cache):
    """A checkout with the repo's prefect.yaml and a tiny storyboard, and the environment every command gets."""
    checkout = tmp_path / "studio"
    (checkout / "storyboards").mkdir(parents=True)
    shutil.copy(REPO / "prefect.yaml", checkout)
    (checkout / "storyboards" / "tiny.yaml").write_text(BOARD)
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",  # default 10 s
        "LTX_FLOWS_CACHE": str(tiny_cache),
        # The flow run imports this checkout's ltx_flows, as the installed package would.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    return checkout, env, port


def test_deployment_run_renders_the_film_through_a_process_worker(studio, tmp_path, chromium):
    checkout, env, port = studio
    api = env["PREFECT_API_URL"]
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("server", "worker")}
    processes = []
    try:
        # One machine, the README's commands: the server ...
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            cwd=checkout, env=env, stdout=logs["server"], stderr=subprocess.STDOUT, start_new_session=True,
        )
        processes.append(server)
        deadline = time.monotonic() + 150
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the Prefect server did not start in 150 s"
            time.sleep(1)

        # ... the work pool, the deployments, a worker ...
        prefect("work-pool", "create", "renders", "--type", "process", cwd=checkout, env=env)
        prefect("--no-prompt", "deploy", "--all", cwd=checkout, env=env)
        worker = subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", "renders"],
            cwd=checkout, env=env, stdout=logs["worker"], stderr=subprocess.STDOUT, start_new_session=True,
        )
        processes.append(worker)

        nightly = httpx.get(f"{api}/deployments/name/render-batch/nightly", timeout=10).json()
        assert [s["schedule"]["cron"] for s in nightly["schedules"]] == ["0 2 * * *"]
        assert nightly["parameters"]["storyboards"] == ["storyboards/"]

        # ... and a run of the on-demand deployment, watched to the end.
        run = prefect(
            "deployment", "run", "render-batch/on-demand", "--param", 'storyboards=["storyboards/tiny.yaml"]',
            "--watch", "--watch-interval", "1", "--watch-timeout", "300", cwd=checkout, env=env, timeout=330,
        )
        flow_runs = httpx.post(f"{api}/flow_runs/filter", json={"flow_runs": {}}, timeout=10).json()
        batch = next(r for r in flow_runs if r["deployment_id"] == httpx.get(
            f"{api}/deployments/name/render-batch/on-demand", timeout=10).json()["id"])
        assert batch["state"]["type"] == "COMPLETED", run.stdout[-3000:]
        # The storyboard's shots are task runs of the batch run (every shot of a batch shares its render slots).
        task_runs = httpx.post(f"{api}/task_runs/filter", json={"task_runs": {"flow_run_id": {"any_": [batch["id"]]}}}, timeout=10).json()
        assert sorted((r["name"], r["state"]["type"]) for r in task_runs) == [
            ("shot-tiny-a", "COMPLETED"), ("shot-tiny-b", "COMPLETED"), ("stitch-tiny", "COMPLETED")
        ]
        # A batch run's name says what and when.
        assert re.fullmatch(r"on-demand-\d{4}-\d{2}-\d{2}", batch["name"]), batch["name"]
        artifacts = read_artifacts(api)

        # A failed batch ends Failed with its message, not with Prefect's "TypeError: Unexpected result
        # for failed state ... dict cannot be resolved into an exception" (the summary is in the artifact).
        (checkout / "storyboards" / "broken.yaml").write_text(BOARD.replace("name: tiny", "name: broken").replace("frames: 9}", "frames: 0}"))
        subprocess.run(
            [sys.executable, "-m", "prefect", "deployment", "run", "render-batch/on-demand", "--param",
             'storyboards=["storyboards/broken.yaml"]', "--watch", "--watch-interval", "1", "--watch-timeout", "300"],
            cwd=checkout, env=env, capture_output=True, text=True, timeout=330,
        )
        flow_runs = httpx.post(f"{api}/flow_runs/filter", json={"flow_runs": {}}, timeout=10).json()
        [failed] = [r for r in flow_runs if r["state"]["type"] == "FAILED" and not r["parent_task_run_id"]]
        assert failed["state"]["message"].startswith("1 of 1 storyboards failed (storyboards/broken.yaml: ")
        assert "TypeError" not in (tmp_path / "worker.log").read_text()
    finally:
        for process in reversed(processes):
            stop(process)
        for log in logs.values():
            log.close()

    film_dir = checkout / "renders" / "tiny"  # `out` defaults to renders/ in the run's working folder
    manifest = json.loads((film_dir / "manifest.json").read_text())
    assert probe(film_dir / "tiny.mp4").frames == manifest["film"]["frames"] == 18
    assert [s["status"] for s in manifest["shots"]] == ["rendered", "rendered"]
    # The review page of this render, in chromium: the film and both shots load and play.
    dom = chromium(film_dir / "review.html", "--virtual-time-budget=8000", "--dump-dom")
    assert re.findall(r'<video[^>]*src="([^"]+)"[^>]*data-loaded="(\w+)"', dom) == [
        ("tiny.mp4", "yes"), ("shots/a.mp4", "yes"), ("shots/b.mp4", "yes")]

    # What the producer sees in the UI: keys name the deployment (a CLI render of `tiny` uses `cli-...`
    # and leaves these alone), every artifact has a description, and the content is the render's.
    assert set(artifacts) == {"on-demand-tiny-summary", "on-demand-tiny-shots", "on-demand-tiny-progress",
                              "on-demand-render-batch-summary"}
    assert all(artifact.description for artifact in artifacts.values())
    summary = artifacts["on-demand-tiny-summary"].data
    assert f"**Film**: `{film_dir / 'tiny.mp4'}` (0.75 s, 18 frames at 24 fps)" in summary
    assert f"**Review page**: `{film_dir / 'review.html'}` ([open]({(film_dir / 'review.html').as_uri()}))" in summary
    seeds = {shot["id"]: shot["seed"] for shot in manifest["shots"]}
    for shot, prompt in (("a", "a red ball"), ("b", "a blue ball")):
        row = re.search(rf"^\| !\[{shot}\]\(data:image/jpeg;base64,([A-Za-z0-9+/=]+)\) \| `{shot}` \| {prompt} \| "
                        rf"{seeds[shot]} \| 9 \| rendered in [0-9.]+ s \|$", summary, re.MULTILINE)
        assert row, summary[:3000]
        thumbnail = Image.open(io.BytesIO(base64.b64decode(row[1])))
        assert (thumbnail.format, thumbnail.width) == ("JPEG", 160)
    assert artifacts["on-demand-tiny-progress"].data == 100.0
    assert artifacts["on-demand-tiny-progress"].description == (
        "tiny (on-demand run): shots, long-take segments and denoising steps done. Now: done")
    rows = json.loads(artifacts["on-demand-tiny-shots"].data)
    assert [(r["shot"], r["clip"]) for r in rows] == [("a", str(film_dir / "shots/a.mp4")), ("b", str(film_dir / "shots/b.mp4"))]
    batch_summary = artifacts["on-demand-render-batch-summary"].data
    assert f"| `storyboards/tiny.yaml` | rendered | `{film_dir / 'tiny.mp4'}` | `{film_dir / 'review.html'}` |" in batch_summary


def read_artifacts(api: str) -> dict:
    """The latest artifact of each key, read through the Prefect client from the server at `api`."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        return {artifact.key: artifact for artifact in client.read_latest_artifacts()}
