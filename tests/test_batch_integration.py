"""Integration: render-batch on a real temporary Prefect server, the real tiny diffusers pipeline and real ffmpeg.

Re-runs and the shot cache, out-of-memory retries with lower memory settings, a failed shot
in a batch, bad input, and what the Prefect UI shows (run names, artifacts, logs). Failures are
injected as each generation starts, by a listener to its progress event (`tests/generations.py`).
"""

import json
import re
import textwrap

import pytest
import torch

from ltx_flows.production import flow
from ltx_flows.production.batch import BatchFailed
from ltx_flows.plan.memory import MemorySettings
from ltx_flows.media.read import probe
from ltx_flows.files import file_sha256

from .generations import watching

pytestmark = pytest.mark.integration

BOARD = """
version: 1
name: {name}
model: {{checkpoint: tiny, steps: 2}}
output: {{width: 96, height: 64, fps: 24}}
defaults: {{seed: 3}}
shots:
  - {{id: a, prompt: "a red ball rolls", frames: 9}}
  - {{id: b, prompt: "{b_prompt}", frames: 9, transition: {{crossfade: 0.125}}}}
  - {{id: c, prompt: "{c_prompt}", frames: 17}}
"""


@pytest.fixture
def board(workspace):
    def write(name: str, b_prompt: str = "the ball falls", c_prompt: str = "the ball bounces"):
        path = workspace / f"{name}.yaml"
        path.write_text(textwrap.dedent(BOARD.format(name=name, b_prompt=b_prompt, c_prompt=c_prompt)).lstrip())
        return path

    return write


@pytest.fixture
def no_retry_wait(monkeypatch):
    """The production retry delays (10 s and up) with no waiting: tests check what is retried, not the clock."""
    monkeypatch.setattr(flow, "render_shot_task", flow.render_shot_task.with_options(retry_delay_seconds=0))


def run_batch(paths, workspace, **params):
    state = flow.render_batch([str(p) for p in paths], out=str(workspace / "renders"), return_state=True, **params)
    result = state.result(raise_on_failure=False)
    # A failed batch's state carries an exception (Prefect resolves failed states into one) with the summary.
    return state, result.summary if isinstance(result, BatchFailed) else result


def task_run_names(state) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    return sorted(run.name for run in runs)


def latest_artifacts(*keys: str) -> dict:
    """The latest artifact of each key, from the test's Prefect server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return {artifact.key: artifact for artifact in client.read_latest_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=list(keys))))}


def test_reruns_render_only_what_changed(prefect_server, tiny_cache, board, workspace):
    path = board("cache")
    film_dir = workspace / "renders" / "cache"
    film = film_dir / "cache.mp4"

    with watching() as generations:
        state, summary = run_batch([path], workspace)
    assert state.is_completed(), state
    assert summary["succeeded"][str(path)]["shots"] == {"a": "rendered", "b": "rendered", "c": "rendered"}
    assert (summary["succeeded"][str(path)]["generated"], summary["succeeded"][str(path)]["reused"]) == (3, 0)
    [delivered] = summary["succeeded"][str(path)]["films"]
    assert delivered["path"] == str(film) and delivered["variant"] is None and delivered["width"] > 0
    assert sorted(generations.shots()) == ["a", "b", "c"]
    first_film = file_sha256(film)
    assert probe(film).frames == 9 + 9 + 17 - 3

    with watching() as generations:
        state, summary = run_batch([path], workspace)
    assert summary["succeeded"][str(path)]["shots"] == {"a": "cached", "b": "cached", "c": "cached"}
    assert generations.shots() == []
    # Nothing rendered, and the batch summary says so (it said "rendered").
    batch_summary = latest_artifacts("cli-render-batch-summary")["cli-render-batch-summary"].data
    assert "0 storyboards rendered, 1 unchanged (every shot reused), 0 failed." in batch_summary
    assert f"| `{path}` | unchanged: all 3 shots reused, nothing rendered | " in batch_summary
    # As a deployment runs it: nothing to render submits no shot task at all, only the (kept) film's check.
    assert task_run_names(state) == ["stitch-cache"]
    manifest = json.loads((film_dir / "manifest.json").read_text())
    assert [s["status"] for s in manifest["shots"]] == ["cached"] * 3
    assert manifest["shots"][0]["attempts"] == [{"attempt": 1, "memory": vars(MemorySettings())}]
    assert file_sha256(film) == first_film

    # A deleted clip is rendered again, and only that one.
    (film_dir / "shots" / "b.mp4").unlink()
    with watching() as generations:
        state, summary = run_batch([path], workspace)
    assert summary["succeeded"][str(path)]["shots"] == {"a": "cached", "b": "rendered", "c": "cached"}
    assert (summary["succeeded"][str(path)]["generated"], summary["succeeded"][str(path)]["reused"]) == (1, 2)
    assert generations.shots() == ["b"]
    assert file_sha256(film) == first_film  # same inputs, same seed: the same film

    # Editing one shot renders only it, and the film is stitched again.
    path = board("cache", c_prompt="the ball rolls away")
    with watching() as generations:
        state, summary = run_batch([path], workspace)
    assert summary["succeeded"][str(path)]["shots"] == {"a": "cached", "b": "cached", "c": "rendered"}
    assert generations.shots() == ["c"]
    assert file_sha256(film) != first_film

    with watching() as generations:
        state, summary = run_batch([path], workspace, force=True)
    assert sorted(generations.shots()) == ["a", "b", "c"]
    assert not list(film_dir.rglob(".*partial*"))


def test_an_out_of_memory_error_is_retried_with_lower_memory_settings(
    prefect_server, tiny_cache, board, workspace, monkeypatch, no_retry_wait
):
    path = board("oom")
    seen = []

    def out_of_memory_once(generation):
        seen.append((generation["shot"], generation["memory"]))
        if generation["shot"] == "b" and len([s for s, _ in seen if s == "b"]) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (injected by the test)")

    with watching(out_of_memory_once):
        state, summary = run_batch([path], workspace)
    assert state.is_completed(), state

    assert [memory for shot_id, memory in seen if shot_id == "b"] == [
        vars(MemorySettings()),
        vars(MemorySettings(vae_tiling=True)),  # one step lower
    ]
    manifest = json.loads((workspace / "renders" / "oom" / "manifest.json").read_text())
    b = next(s for s in manifest["shots"] if s["id"] == "b")
    assert [a["attempt"] for a in b["attempts"]] == [1, 2]
    assert b["attempts"][0]["error"].startswith("OutOfMemoryError: CUDA out of memory")
    assert b["attempts"][0]["memory"]["vae_tiling"] is False
    assert b["memory"] == b["attempts"][1]["memory"] == vars(MemorySettings(vae_tiling=True))
    assert all(len(s["attempts"]) == 1 for s in manifest["shots"] if s["id"] != "b")
    assert probe(workspace / "renders" / "oom" / "oom.mp4").frames == manifest["film"]["frames"]


def test_a_failed_shot_fails_its_storyboard_cleanly_and_the_batch_goes_on(
    prefect_server, tiny_cache, board, workspace, monkeypatch, no_retry_wait
):
    good, broken = board("good"), board("broken", b_prompt="the ball shatters")
    invalid = workspace / "invalid.yaml"
    invalid.write_text("version: 1\nname: invalid\nshots:\n  - {id: a, prompt: x, frames: 9, sed: 4}\n")
    state, _ = run_batch([broken], workspace)
    assert state.is_completed()  # a finished film and manifest that the failing run must take back
    broken_dir = workspace / "renders" / "broken"

    calls = []

    def broken_decoder(generation):
        calls.append(generation["prompt"])
        if generation["prompt"] == "the ball shatters":  # shot b of `broken` only
            raise RuntimeError("decoder produced NaNs (injected by the test)")

    with watching(broken_decoder):
        state, _ = run_batch([good, broken, invalid], workspace, force=True)

    assert state.is_failed()
    # The reasons are in the message: a failed state carries no dict (Prefect could not resolve it).
    assert state.message.startswith("2 of 3 storyboards failed (")
    assert probe(workspace / "renders" / "good" / "good.mp4").frames == 32
    assert f"{broken}: broken: 1 of 3 shots failed (shot b: RuntimeError: decoder produced NaNs (injected by the test))" in state.message
    assert str(good) not in state.message
    # Bad input fails at once with the validation message, located in the file.
    assert f"{invalid}: {invalid}:4:35: shots[0]: unknown key `sed`; did you mean `seed`?" in state.message

    assert calls.count("the ball shatters") == 1  # not a transient error: never retried
    assert not (broken_dir / "broken.mp4").exists() and not (broken_dir / "manifest.json").exists()
    assert sorted(p.name for p in (broken_dir / "shots").iterdir()) == ["a.mp4", "a.mp4.json", "c.mp4", "c.mp4.json"]
    assert not (broken_dir / "review.html").exists()

    # The batch summary stays one table whatever the errors say (multi-line, with pipes).
    latest = latest_artifacts("cli-render-batch-summary", "cli-broken-summary", "cli-broken-progress")
    batch = latest["cli-render-batch-summary"]
    # The storyboard's own summary: the failed shot first with its outcome, its reason (first line) below the table.
    summary = latest["cli-broken-summary"].data
    assert "| `b` | **failed** (why: below) | 659693093 | 9 | - | the ball shatters |" in summary
    assert summary.endswith("\n- `b`: RuntimeError: decoder produced NaNs (injected by the test)\n")
    # Its progress artifact ends, failed and why, not at 95%.
    progress = latest["cli-broken-progress"]
    assert progress.data == 100.0
    assert progress.description.endswith("FAILED: broken: 1 of 3 shots failed (shot b: RuntimeError: decoder produced "
                                         "NaNs (injected by the test))")
    rows = [line for line in batch.data.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 3 and all(len(re.findall(r"(?<!\\)\|", row)) == 5 for row in rows), batch.data
    assert rows[-1] == f"| `{invalid}` | **failed** (why: below) | - | - |"
    # The invalid storyboard's reason: its first located problem whole (no Prefect wording around it).
    assert f"\n- `{invalid}`: {invalid}:4:35: shots[0]: unknown key `sed`; did you mean `seed`?" in batch.data


NOT_CACHED = """
version: 1
name: uncached
model: {checkpoint: Lightricks/LTX-Video-0.9.7-distilled, steps: 2}
output: {width: 96, height: 64, fps: 24}
shots:
  - {id: a, prompt: "a red ball", frames: 9}
  - {id: b, prompt: "a blue ball", frames: 9}
"""


def test_a_model_missing_from_the_hub_cache_says_to_download_it(prefect_server, tiny_cache, workspace, monkeypatch,
                                                                tmp_path_factory):
    """Offline with an empty hub cache (huggingface_hub's own settings, as HF_HUB_OFFLINE=1 and HF_HUB_CACHE set them),
    diffusers' real error for a real checkpoint id: every place that shows the reason says to run `ltx-flows download`
    (it said "...not fully cached locally (Cannot find an appropriate cached snapshot folde...")."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path_factory.mktemp("empty-hub-cache")))
    path = workspace / "uncached.yaml"
    path.write_text(NOT_CACHED)
    state, summary = run_batch([path], workspace)
    remedy = (f"ModelNotCached: model Lightricks/LTX-Video-0.9.7-distilled is not in this machine's Hugging Face cache "
              f"and the Hub could not be reached: run `ltx-flows download {path}` (with network, same HF_HOME), then render "
              f"again")
    assert state.is_failed()
    assert state.message == f"1 of 1 storyboards failed ({path}: uncached: 2 of 2 shots failed (shots a, b: {remedy}))"
    latest = latest_artifacts("cli-render-batch-summary", "cli-uncached-summary", "cli-uncached-progress")
    assert latest["cli-uncached-summary"].data.endswith(f"\n- `a`: {remedy}\n- `b`: {remedy}\n")
    assert latest["cli-render-batch-summary"].data.endswith(f"\n- `{path}`: uncached: 2 of 2 shots failed (shots a, b: {remedy})\n")
    assert latest["cli-uncached-progress"].description.endswith(f"FAILED: uncached: 2 of 2 shots failed (shots a, b: {remedy})")


def test_an_expected_batch_failure_ends_the_run_log_in_one_line(prefect_server, tiny_cache, workspace):
    """As a worker runs a deployment (prefect.engine: run_flow with the flow run's logger as error_logger), a batch
    with a failed storyboard ends its log with one line, not "Engine execution exited with unexpected exception"
    and Prefect's traceback."""
    import logging

    from prefect.client.orchestration import get_client
    from prefect.flow_engine import flow_run_logger, run_flow

    invalid = workspace / "invalid.yaml"
    invalid.write_text("version: 1\nname: invalid\nshots:\n  - {id: a, prompt: x, frames: 9, sed: 4}\n")
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(flow.render_batch, parameters={"storyboards": [str(invalid)],
                                                                         "out": str(workspace / "renders")})
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("prefect.flow_runs")
    logger.addHandler(handler)
    try:
        with pytest.raises(BatchFailed):
            run_flow(flow.render_batch, flow_run=flow_run, error_logger=flow_run_logger(flow_run=flow_run))
    finally:
        logger.removeHandler(handler)
    messages = [record.getMessage() for record in records]
    assert not any(record.exc_info for record in records), messages
    assert "Engine execution exited with unexpected exception" not in messages
    assert messages[-1].startswith(f"Batch failed: 1 of 1 storyboards failed ({invalid}: {invalid}:4:35: shots[0]: ")


def test_what_the_prefect_ui_shows(prefect_server, tiny_cache, board, workspace):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        LogFilter,
        LogFilterFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler

    path = board("shown")
    state, summary = run_batch([path], workspace)
    assert state.is_completed()
    APILogHandler().flush()  # logs are sent in the background

    batch_run = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        # The storyboard's shots and its stitch are tasks of the batch run: every shot of a batch shares its slots.
        task_runs = client.read_task_runs(task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[batch_run])))
        assert sorted(run.name for run in task_runs) == ["shot-shown-a", "shot-shown-b", "shot-shown-c", "stitch-shown"]

        artifacts = {
            artifact.key: artifact
            for artifact in client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["cli-shown-progress", "cli-shown-shots", "cli-shown-summary"])),
                flow_run_filter=FlowRunFilter(id={"any_": [batch_run]}),
            )
        }
        assert artifacts["cli-shown-progress"].data == 100.0
        rows = json.loads(artifacts["cli-shown-shots"].data)
        film_dir = workspace / "renders" / "shown"
        assert [(r["shot"], r["frames"], r["clip"]) for r in rows] == [
            ("a", 9, str(film_dir / "shots/a.mp4")), ("b", 9, str(film_dir / "shots/b.mp4")), ("c", 17, str(film_dir / "shots/c.mp4")),
        ]
        assert all(re.fullmatch(r"rendered in [0-9.]+ s", r["this run"]) for r in rows)
        assert f"**Film**: `{film_dir / 'shown.mp4'}` (1.33 s, 32 frames at 24 fps)" in artifacts["cli-shown-summary"].data

        logs = [log.message for log in client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[batch_run])))]
    assert any("Shot a: model tiny, 9 frames generated in" in message and "encoded in" in message for message in logs)


def test_a_run_keeps_the_name_it_was_created_with(prefect_server, tiny_cache, workspace):
    """`prefect deployment run --flow-run-name NAME --watch` prints NAME: the flow, which names its runs as they start,
    keeps a name given at creation and replaces only one Prefect made up."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    parameters = {"storyboards": [], "out": str(workspace / "renders")}  # an empty batch: Completed at once
    with get_client(sync_client=True) as client:
        named = client.create_flow_run(flow.render_batch, name="on-demand-pour-take-2", parameters=parameters)
        unnamed = client.create_flow_run(flow.render_batch, parameters=parameters)
        for run in (named, unnamed):
            assert run_flow(flow.render_batch, flow_run=run, return_type="state").is_completed()
        names = [client.read_flow_run(run.id).name for run in (named, unnamed)]
    assert names[0] == "on-demand-pour-take-2"
    assert re.fullmatch(r"cli-\d{4}-\d{2}-\d{2}-\d{2}:\d{2}:\d{2}", names[1]), names
