"""Prefect flows: thin, decorated wrappers over the plain pipeline.

render-batch -> render-storyboard (one subflow per storyboard)
             -> shot-<storyboard>-<id> (one task per shot, on a render slot) -> stitch -> manifest
"""

import logging
import os
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timezone
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

from . import progress, report
from .batch import find_storyboards, render_folder
from .cache import render_shot_cached
from .cluster import GPU_SLOT, local_gpu_cluster, visible_gpus
from .controls import check_controls
from .failures import describe, is_transient
from .manifest import build_manifest, write_json_atomic
from .media import VideoInfo
from .plan import RenderPlan, ShotPlan, plan_storyboard
from .review import review_path, write_review
from .stitch import film_path, stitch_film
from .storyboard import load_storyboard

# The CLI's display and the progress artifact listen here (events: see progress.py).
progress_log = progress.log
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
    on_step = progress.step_reporter(plan.name, shot.id)
    record = render_shot_cached(plan, shot, Path(film_dir), force, failed, on_step=on_step)
    _failed_attempts.pop(runtime.task_run.id, None)
    if record["status"] == "cached":
        get_run_logger().info("Shot %s: unchanged (content hash %s), clip reused", shot.id, shot.content_hash[:12])
    return record


@task(task_run_name="stitch-{plan.name}", cache_policy=NO_CACHE)
def stitch_task(plan: RenderPlan, film_dir: str) -> VideoInfo:
    return stitch_film(plan, Path(film_dir))


def _run_source() -> str:
    """The deployment this run belongs to (also seen from its subflows), or `cli` outside one."""
    try:
        return runtime.deployment.name or "cli"
    except Exception:  # no API to ask: a run outside any deployment
        return "cli"


def _batch_run_name() -> str:
    source = _run_source()
    when = runtime.flow_run.scheduled_start_time if source != "cli" else None
    return report.batch_run_name(source, when or datetime.now(timezone.utc))


class _ProgressArtifact(logging.Handler):
    """Moves a storyboard's progress artifact with its shots, segments and steps, at most once a second."""

    def __init__(self, plan: RenderPlan, source: str):
        super().__init__()
        self.state = progress.StoryboardProgress(plan.name)
        self.throttle = progress.Throttle()
        self.description = report.storyboard_description(plan, "progress", source)
        self.artifact = create_progress_artifact(
            0.0, key=report.artifact_key(source, plan.name, "progress"), description=self.description
        )

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "storyboard", None) != self.state.name:
            return
        self.state.update(record)
        if self.state.stage in ("done", "failed"):
            self.throttle.wait()  # the last update is never dropped
        elif not self.throttle.ready():
            return
        try:
            update_progress_artifact(self.artifact, 100.0 * self.state.fraction,
                                     description=f"{self.description}. Now: {self.state.describe()}")
        except Exception as error:  # progress is a view: a failed update must not fail a shot
            logging.getLogger(__name__).warning("Progress artifact not updated: %s", error)


@contextmanager
def _progress_artifact(plan: RenderPlan, source: str):
    handler = _ProgressArtifact(plan, source)
    progress_log.addHandler(handler)
    try:
        yield
    finally:
        progress_log.removeHandler(handler)


@flow(name="render-storyboard")
def render_storyboard(storyboard: str, out: str = "renders", root: str | None = None, force: bool = False) -> dict:
    """Render one storyboard file into `<out>/<name>/<name>.mp4` with its manifest.

    Shots whose clips are unchanged are reused unless `force`. A storyboard with a failed
    shot ends Failed, with no film or manifest in its folder; its finished clips stay for the next run.
    """
    run_source = _run_source()
    source = Path(storyboard)
    plan = plan_storyboard(load_storyboard(source, root), source)
    with _progress_artifact(plan, run_source):
        return _render_storyboard(plan, out, force, run_source)


def _render_storyboard(plan: RenderPlan, out: str, force: bool, run_source: str) -> dict:
    logger = get_run_logger()
    film_dir = render_folder(out) / plan.name
    film, manifest_path = film_path(plan, film_dir), film_dir / "manifest.json"
    logger.info(
        "Planned %s: %d shots, %d frames (%.1fs) with %s", plan.name, len(plan.shots), plan.film_frames,
        plan.film_seconds, plan.model.checkpoint,
    )

    check_controls(plan)  # detector weights and IC-LoRAs, before any shot starts on a GPU
    progress.planned(plan.name, [(shot.id, len(shot.segments)) for shot in plan.shots])
    # Each shot takes one render slot (a GPU); without a Dask cluster the annotation is unused.
    with dask.annotate(resources=GPU_SLOT):
        futures = {render_shot_task.submit(plan, shot, str(film_dir), force): shot.id for shot in plan.shots}
    renders, failures = {}, {}
    for future in as_completed(futures):
        shot_id = futures[future]
        try:
            renders[shot_id] = future.result()
        except Exception as error:  # one failed shot does not stop the others
            failures[shot_id] = describe(error)
            logger.error("Shot %s failed: %s", shot_id, failures[shot_id])
        progress.shot_finished(plan.name, shot_id, renders[shot_id]["status"] if shot_id in renders else "failed")

    # An earlier film and manifest no longer describe this storyboard: nothing may claim success
    # until the new ones are complete.
    film.unlink(missing_ok=True)
    manifest_path.unlink(missing_ok=True)
    review_path(film_dir).unlink(missing_ok=True)
    results = report.outcomes(plan, renders, failures)
    create_table_artifact(report.shot_rows(plan, film_dir, results), key=report.artifact_key(run_source, plan.name, "shots"),
                          description=report.storyboard_description(plan, "shots", run_source))
    summary = {"key": report.artifact_key(run_source, plan.name, "summary"),
               "description": report.storyboard_description(plan, "summary", run_source)}
    if failures:
        reason = "; ".join(f"shot {shot_id}: {report.first_line(why)}" for shot_id, why in failures.items())
        create_markdown_artifact(report.storyboard_markdown(plan, film_dir, results, None), **summary)
        progress.finished(plan.name, ok=False)
        return Failed(message=f"{plan.name}: {len(failures)} of {len(plan.shots)} shots failed ({reason})")

    progress.stitching(plan.name)
    film_info = stitch_task(plan, str(film_dir))
    manifest = build_manifest(plan, film_dir, film, film_info, renders)
    review = write_review(plan, manifest, film_dir)  # before the manifest, which marks the render complete
    write_json_atomic(manifest, manifest_path)
    create_markdown_artifact(report.storyboard_markdown(plan, film_dir, results, film, film_info.duration, review), **summary)
    progress.finished(plan.name, ok=True)
    logger.info("Film: %s (%.2fs); review page: %s", film, film_info.duration, review)
    return {
        "film": str(film),
        "manifest": str(manifest_path),
        "review": str(review),
        "frames": plan.film_frames,
        "shots": {shot_id: record["status"] for shot_id, record in renders.items()},
    }


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


@flow(name="render-batch", flow_run_name=_batch_run_name)
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
    files, problems = find_storyboards(storyboards, Path(root) if root else None)
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
    source = _run_source()
    create_markdown_artifact(
        report.batch_markdown(succeeded, failed, source), key=report.artifact_key(source, "render-batch", "summary"),
        description=f"render-batch ({source} run): each storyboard's film and review page, or why it failed",
    )
    logger.info("Batch: %d storyboards rendered, %d failed", len(succeeded), len(failed))
    if failed:
        return Failed(message=f"{len(failed)} of {len(failed) + len(succeeded)} storyboards failed", data=summary)
    return summary

