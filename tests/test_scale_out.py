"""Integration: shots fanned out over two Dask render workers on loopback (real processes, real tiny
pipeline, real Prefect server). Here "GPU" is only the render-slot label: no GPU is used or pinned to."""

import inspect
import json
import os
import time
from pathlib import Path

import pytest
from distributed import Client

from . import loads
from ltx_flows.production import flow
from ltx_flows.production.slots import SCHEDULER_ENV, local_gpu_cluster, worker_env
from ltx_flows.media.read import probe

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOARD = """
version: 1
name: {name}
model: {{checkpoint: tiny, steps: 2}}
output: {{width: 96, height: 64, fps: 24}}
shots:
{shots}
"""


def write_board(workspace, name, shots):
    lines = "\n".join(f'  - {{id: s{i}, prompt: "{name} shot {i}", frames: 9}}' for i in range(shots))
    path = workspace / f"{name}.yaml"
    path.write_text(BOARD.format(name=name, shots=lines))
    return path


def test_two_workers_share_the_shots_and_each_loads_the_model_once(prefect_server, tiny_cache, workspace, monkeypatch):
    # Built before the workers start, so they do not race to build it.
    from ltx_flows.models.checkpoints import ensure_tiny_checkpoint

    ensure_tiny_checkpoint()
    first, second = write_board(workspace, "wide", 4), write_board(workspace, "wider", 2)
    out = workspace / "renders"

    with local_gpu_cluster(["0", "1"]) as cluster, Client(cluster) as client:
        # Each worker process sees only its own "GPU".
        assert sorted(client.run(lambda: os.environ["CUDA_VISIBLE_DEVICES"]).values()) == ["0", "1"]
        pids = client.run(os.getpid)
        client.run(loads.count_forever)

        # The scheduler is configuration of the machine that runs the flow, not a run parameter.
        monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
        state = flow.render_batch([str(first), str(second)], out=str(out), return_state=True)
        assert state.is_completed(), state

        records = [
            json.loads(clip.read_text())
            for name in ("wide", "wider")
            for clip in sorted((out / name / "shots").glob("*.mp4.json"))
        ]
        assert len(records) == 6
        rendered_by = {record["rendered_by"]["pid"] for record in records}
        assert rendered_by == set(pids.values()), "both workers render shots"
        # Two storyboards, six shots, one model load per worker.
        assert client.run(loads.counted) == {address: 1 for address in pids}

        # The cache lives beside the clips: another run finds every shot done, whichever worker checks it.
        state = flow.render_batch([str(first)], out=str(out), return_state=True)
        assert state.result()["succeeded"][str(first)]["shots"] == {f"s{i}": "cached" for i in range(4)}

    assert probe(out / "wide" / "wide.mp4").frames == 36


def _record_generation_times(folder: str) -> None:
    """Runs in each worker: every generation also notes when it ran (and lasts at least 2 s, so overlaps are clear)."""
    from tests.generations import watch_forever

    def note(generation):
        start = time.time()
        time.sleep(2)
        with open(os.path.join(folder, f"{generation['prompt']}.json"), "w") as file:
            json.dump({"start": start, "end": time.time(), "pid": os.getpid()}, file)

    watch_forever(note)


def test_two_storyboards_of_one_batch_render_shots_at_the_same_time(prefect_server, tiny_cache, workspace, monkeypatch):
    """Batch-wide fan-out: the second storyboard's shot does not wait for the first storyboard to finish."""
    from ltx_flows.models.checkpoints import ensure_tiny_checkpoint

    ensure_tiny_checkpoint()
    first, second = write_board(workspace, "left", 1), write_board(workspace, "right", 1)
    times = workspace / "times"
    times.mkdir()
    with local_gpu_cluster(["0", "1"]) as cluster, Client(cluster) as client:
        client.run(_record_generation_times, str(times))
        monkeypatch.setenv(SCHEDULER_ENV, cluster.scheduler_address)
        state = flow.render_batch([str(first), str(second)], out=str(workspace / "renders"), return_state=True)
        assert state.is_completed(), state

    left, right = (json.loads((times / f"{name} shot 0.json").read_text()) for name in ("left", "right"))
    assert left["pid"] != right["pid"]
    assert left["start"] < right["end"] and right["start"] < left["end"], (left, right)


def test_an_unreachable_scheduler_fails_the_batch_quickly_and_says_what_to_do(prefect_server, workspace, monkeypatch):
    board = write_board(workspace, "nowhere", 1)
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("LTX_FLOWS_DASK_CONNECT_TIMEOUT", "2")
    start = time.monotonic()
    state = flow.render_batch([str(board)], out=str(workspace / "renders"), return_state=True)
    assert state.is_failed()
    assert time.monotonic() - start < 30
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:9 ({SCHEDULER_ENV}) within 2 s" in state.message


def test_local_render_workers_are_told_this_runs_prefect_api(prefect_server):
    """The environment the flow gives the local GPU workers it starts: this run's API, so no worker starts its own server."""
    from prefect import flow as prefect_flow
    from prefect.settings import PREFECT_API_URL

    @prefect_flow
    def probe_env() -> dict:
        return worker_env()

    assert probe_env() == {"PREFECT_API_URL": PREFECT_API_URL.value()}
    assert PREFECT_API_URL.value().startswith("http://")


def test_the_scheduler_address_is_never_a_run_parameter():
    """Anyone who can start a deployment run sets its parameters: a scheduler address among them let a run
    connect a worker to any Dask scheduler and unpickle what it sent. It is the worker's configuration."""
    import yaml

    from ltx_flows.production.flow import render_batch, render_storyboard

    for flow_ in (render_batch, render_storyboard):
        assert not {"cluster", "address", "scheduler"} & set(inspect.signature(flow_.fn).parameters), flow_.name
    deployments = yaml.safe_load((Path(__file__).resolve().parents[1] / "prefect.yaml").read_text())["deployments"]
    assert all("cluster" not in (deployment.get("parameters") or {}) for deployment in deployments)
