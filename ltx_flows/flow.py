"""Prefect flows: thin, decorated wrappers over the plain pipeline.

render-batch -> render-storyboard (one subflow per storyboard)
             -> shot-<storyboard>-<id> (one task per shot, on a render slot) -> stitch -> manifest
"""

import logging
import os
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

# Core modules log to `ltx_flows.*` (model loads, timings): send those records to the run's logs
# too (outside a run they only reach the console). Read when Prefect sets up logging, so before
# it is imported where this module comes first; deployments set them in prefect.yaml.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "ltx_flows")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")

import dask
from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

from .batch import BatchFailed, allowed_roots, check_writable, confine, find_storyboards, render_folder
from .cache import invalidate_film, render_shot_cached
from .cluster import GPU_SLOT, local_gpu_cluster, visible_gpus
from .controls import check_controls
from .failures import describe, is_transient
from .lock import film_lock
from .manifest import build_manifest, write_json_atomic
from .media import VideoInfo
from .plan import RenderPlan, ShotPlan, plan_storyboard
from .stitch import film_path, stitch_film
from .storyboard import load_storyboard

# The CLI listens here to draw its progress bar; records carry `done`, `total` and `storyboard`.
progress_log = logging.getLogger("ltx_flows.progress")
logging.getLogger("ltx_flows").setLevel(logging.INFO)

# Waits before the retries of a shot that failed for a transient reason (jittered by 20%).
RETRY_DELAYS = [10, 30, 90]

# Failed attempts per shot task run, so each retry knows what went wrong before. Retries of a
# task run happen in the process that ran it; a lost worker's shot starts a fresh list elsewhere.
_failed_attempts: dict[str, list[dict]] = defaultdict(list)


def _retry_if_transient(task, task_run, state) -> bool:
    return isinstance(state.data, BaseException) and is_transient(state.data)


# Our own cache (a record beside each clip) replaces Prefect's: it checks that the clip still exists.
@task(
    task_run_name="shot-{plan.name}-{shot.id}",
    cache_policy=NO_CACHE,
    retries=len(RETRY_DELAYS),
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=0.2,
    retry_condition_fn=_retry_if_transient,
)
def render_shot_task(plan: RenderPlan, shot: ShotPlan, film_dir: str, force: bool = False) -> dict:
    failed = _failed_attempts[runtime.task_run.id]
    record = render_shot_cached(plan, shot, Path(film_dir), force, failed)
    _failed_attempts.pop(runtime.task_run.id, None)
    if record["status"] == "cached":
        get_run_logger().info("Shot %s: unchanged (content hash %s), clip reused", shot.id, shot.content_hash[:12])
    return record


@task(task_run_name="stitch-{plan.name}", cache_policy=NO_CACHE)
def stitch_task(plan: RenderPlan, film_dir: str) -> VideoInfo:
    return stitch_film(plan, Path(film_dir))


def _artifact_key(name: str, kind: str) -> str:
    return f"{name}-{kind}".replace("_", "-")  # keys allow lowercase letters, digits and dashes


@flow(name="render-storyboard")
def render_storyboard(storyboard: str, out: str = "renders", root: str | None = None, force: bool = False) -> dict:
    """Render one storyboard file into `<out>/<name>/<name>.mp4` with its manifest.

    Shots whose clips are unchanged are reused unless `force`. A storyboard with a failed
    shot ends Failed, with no film or manifest in its folder; its finished clips stay for the next run.
    """
    _check_confined(storyboard, root, out)
    source = Path(storyboard)
    plan = plan_storyboard(load_storyboard(source, root), source)
    check_writable(render_folder(out))  # before any model loads
    film_dir = render_folder(out) / plan.name
    with film_lock(film_dir):  # one writer per film: a second run fails at once (lock.py)
        return _render_plan(plan, film_dir, force)


def _check_confined(storyboard: str, root: str | None, out: str) -> None:
    """Raise unless the run's paths are inside the folders the worker allows (batch.py)."""
    roots = _allowed_roots()
    confine(storyboard, roots, "storyboard")
    confine(root if root is not None else Path.cwd(), roots, "root")
    confine(out, roots, "out")


def _allowed_roots() -> list[Path] | None:
    # A deployment run on a worker without LTX_FLOWS_ALLOWED_ROOTS may use only its working folder.
    return allowed_roots(default=Path.cwd() if runtime.deployment.id else None)


def _render_plan(plan: RenderPlan, film_dir: Path, force: bool) -> dict:
    logger = get_run_logger()
    film, manifest_path = film_path(plan, film_dir), film_dir / "manifest.json"
    logger.info(
        "Planned %s: %d shots, %d frames (%.1fs) with %s", plan.name, len(plan.shots), plan.film_frames,
        plan.film_seconds, plan.model.checkpoint,
    )

    check_controls(plan)  # detector weights and IC-LoRAs, before any shot starts on a GPU
    # Each shot takes one render slot (a GPU); without a Dask cluster the annotation is unused.
    with dask.annotate(resources=GPU_SLOT):
        futures = {render_shot_task.submit(plan, shot, str(film_dir), force): shot.id for shot in plan.shots}
    progress = create_progress_artifact(0.0, key=_artifact_key(plan.name, "progress"), description=f"{plan.name}: shots done")
    progress_log.info("0/%d shots", len(futures), extra={"done": 0, "total": len(futures), "storyboard": plan.name})
    renders, failures = {}, {}
    for done, future in enumerate(as_completed(futures), start=1):
        shot_id = futures[future]
        try:
            renders[shot_id] = future.result()
        except Exception as error:  # one failed shot does not stop the others
            failures[shot_id] = describe(error)
            logger.error("Shot %s failed: %s", shot_id, failures[shot_id])
        update_progress_artifact(progress, 100.0 * done / len(futures))
        progress_log.info("%d/%d shots", done, len(futures), extra={"done": done, "total": len(futures), "storyboard": plan.name})

    # An earlier film and manifest no longer describe this storyboard: nothing may claim success
    # until the new ones are complete.
    invalidate_film(plan, film_dir)
    create_table_artifact(_shot_rows(plan, renders, failures), key=_artifact_key(plan.name, "shots"))
    if failures:
        reason = "; ".join(f"shot {shot_id}: {why}" for shot_id, why in failures.items())
        create_markdown_artifact(_summary_markdown(plan, None, None, failures), key=_artifact_key(plan.name, "summary"))
        return Failed(message=f"{plan.name}: {len(failures)} of {len(plan.shots)} shots failed ({reason})")

    film_info = stitch_task(plan, str(film_dir))
    write_json_atomic(build_manifest(plan, film_dir, film, film_info, renders), manifest_path)
    create_markdown_artifact(_summary_markdown(plan, film, film_info, {}), key=_artifact_key(plan.name, "summary"))
    logger.info("Film: %s (%.2fs)", film, film_info.duration)
    return {
        "film": str(film),
        "manifest": str(manifest_path),
        "frames": plan.film_frames,
        "shots": {shot_id: record["status"] for shot_id, record in renders.items()},
    }


def _shot_rows(plan: RenderPlan, renders: dict[str, dict], failures: dict[str, str]) -> list[dict]:
    rows = []
    for shot in plan.shots:
        record = renders.get(shot.id)
        rows.append({
            "shot": shot.id,
            "frames": shot.frames,
            "seconds": round(shot.seconds, 2),
            "attempts": len(record["attempts"]) if record else "-",
            "result": record["status"] if record else f"failed: {failures.get(shot.id, '?')}",
            "render seconds": record["render_seconds"] if record else "-",
            "clip": shot.clip if record else "-",
        })
    return rows


def _summary_markdown(plan: RenderPlan, film: Path | None, film_info: VideoInfo | None, failures: dict[str, str]) -> str:
    lines = [f"# {plan.name}", ""]
    if film is not None:
        lines.append(f"Film: `{film}`, {film_info.duration:.2f} s ({film_info.frames} frames at {plan.output.fps} fps)")
    else:
        lines += ["**Failed**: no film was made. Finished clips are kept and reused by the next run.", ""]
        lines += [f"- shot `{shot_id}`: {why}" for shot_id, why in failures.items()]
    return "\n".join(lines) + "\n"


@contextmanager
def _render_slots(cluster: str | None):
    """The task runner shots run on: a Dask cluster's GPU workers, or threads in this process."""
    if cluster:
        yield DaskTaskRunner(address=cluster)
        return
    gpus = visible_gpus()
    if len(gpus) > 1:
        # One pinned worker per GPU for the whole batch, so each loads its model once.
        with local_gpu_cluster(gpus) as local:
            yield DaskTaskRunner(address=local.scheduler_address)
        return
    yield ThreadPoolTaskRunner()  # one device: generations take turns on it (see generate.py)


@flow(name="render-batch")
def render_batch(
    storyboards: list[str] = ["storyboards/"],  # noqa: B006 (Prefect copies parameters; shown in the UI)
    out: str = "renders",
    root: str | None = None,
    force: bool = False,
    cluster: str | None = None,
) -> dict:
    """Render storyboard files, folders and globs, each as its own `render-storyboard` run.

    `cluster`: the address of a Dask scheduler whose workers render shots (README: Scale out);
    without one, a machine with several GPUs starts one pinned worker per GPU for the batch,
    and one with a single GPU or none renders in this process.
    """
    logger = get_run_logger()
    roots = _allowed_roots()
    confine(root if root is not None else Path.cwd(), roots, "root")  # before any storyboard is opened
    confine(out, roots, "out")
    files, problems = find_storyboards(storyboards, Path(root) if root else None, roots)
    succeeded, failed = {}, dict(problems)
    with _render_slots(cluster) as runner:
        for file in files:
            run = render_storyboard.with_options(task_runner=runner, flow_run_name=file.stem)
            state = run(str(file), out, root, force, return_state=True)
            if state.is_completed():
                succeeded[str(file)] = state.result()
            else:
                failed[str(file)] = state.message or state.name
    summary = {"succeeded": succeeded, "failed": failed}
    create_markdown_artifact(_batch_markdown(summary), key="render-batch-summary")
    logger.info("Batch: %d storyboards rendered, %d failed", len(succeeded), len(failed))
    if failed:
        # The summary is in the artifact; the state carries an exception (Prefect resolves a failed
        # state's data into one, and a dict cannot be: "TypeError: Unexpected result for failed state").
        message = f"{len(failed)} of {len(failed) + len(succeeded)} storyboards failed"
        return Failed(message=message, data=BatchFailed(message, summary))
    return summary


def _batch_markdown(summary: dict) -> str:
    lines = ["# Render batch", "", "| storyboard | result |", "|---|---|"]
    lines += [f"| `{file}` | film `{result['film']}` |" for file, result in summary["succeeded"].items()]
    lines += [f"| `{file}` | **failed**: {why} |" for file, why in summary["failed"].items()]
    return "\n".join(lines) + "\n"
