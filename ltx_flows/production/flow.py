"""Prefect flows: thin, decorated wrappers over the plain pipeline.

render-batch (or render-storyboard, for one file)
  -> shot-<storyboard>-<id>: every shot of every storyboard that needs a render, one task each, on the
     render slots (a Dask cluster's GPU workers, or threads here), storyboards with the longest shots first
     (schedule.queue_order), as soon as its storyboard is planned; never more out at once than there are slots
  -> stitch-<storyboard>: the film and manifest, on this process's encoding slots, as soon as that
     storyboard's own shots are done

The loop that hands out shots is schedule.py; where they render, slots.py (and dask_submit.py, the one module
built on Prefect internals); the run's artifacts, artifacts.py. Importing this module does not import torch
(or Dask), and changes no logging: a flow sets that up as it starts (logs.py).
"""

from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from uuid import UUID

from prefect import flow, get_run_logger, runtime, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.states import Failed

from ..failures import is_transient
from ..finish.decoded import Decoded
from ..finish.film import Finished, finish_storyboard
from ..models.checkpoints import not_cached
from ..plan.planner import RenderPlan, ShotPlan
from ..render import progress
from ..render.takes import render_chosen
from . import report
from .artifacts import batch_artifact
from .batch import BatchFailed, allowed_roots, confine, find_storyboards
from .logs import show_run_logs
from .schedule import BatchTasks, render_storyboards

# Waits before the retries of a shot that failed for a transient reason (jittered by 20%).
RETRY_DELAYS = [10, 30, 90]


class FailedAttempts:
    """Failed attempts per shot task run, so each retry knows what went wrong before. Retries of a task run
    happen in the process that ran it; a lost worker's shot starts a fresh list elsewhere."""

    def __init__(self):
        self._by_run: defaultdict[UUID, list[dict]] = defaultdict(list)

    def of(self, task_run: UUID) -> list[dict]:
        return self._by_run[task_run]

    def forget(self, task_run: UUID) -> None:
        self._by_run.pop(task_run, None)


_failed_attempts = FailedAttempts()


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
    failed = _failed_attempts.of(runtime.task_run.id)
    on_step = progress.step_reporter(plan.name, shot.id)
    try:
        record = render_chosen(plan, shot, Path(film_dir), force, failed, on_step=on_step)
    except Exception as error:
        # A model missing from the local cache: say what to run, not the hub's paragraph (chained, in the logs).
        if (missing := not_cached(error, plan.storyboard)) is not None:
            raise missing from error
        raise
    _failed_attempts.forget(runtime.task_run.id)
    if record["status"] == "cached":
        get_run_logger().info("Shot %s: unchanged (content hash %s), clip reused", shot.id, shot.content_hash[:12])
    return record


@task(task_run_name="stitch-{plan.name}", cache_policy=NO_CACHE)
def stitch_task(plan: RenderPlan, film_dir: str, renders: dict[str, dict], decoded: Decoded | None = None) -> Finished:
    finished = finish_storyboard(plan, Path(film_dir), renders, decoded)
    if not finished.stitched:
        get_run_logger().info("Film %s: unchanged, kept", finished.film)
    return finished


def _deployment_id() -> UUID | None:
    """The deployment of the flow run in context, if any, read from the run itself.

    `prefect.runtime.deployment.id` asks the API for the flow run on every read outside a deployment, with a
    new client each time: 0.05-0.2 s a read here, four reads a run.
    """
    context = FlowRunContext.get()
    return context.flow_run.deployment_id if context is not None and context.flow_run is not None else None


def _run_source() -> str:
    """The deployment this run belongs to, or `cli` outside one: artifact keys of the two never collide."""
    if _deployment_id() is None:
        return "cli"
    try:
        return runtime.deployment.name or "cli"
    except Exception:  # no API to ask
        return "cli"


def _batch_run_name() -> str:
    """The run's name, set when it starts: the one it was created with, else `<deployment or cli>-<date>-<time>`."""
    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    if (given := report.given_run_name(run.name if run is not None else None)) is not None:
        return given
    source = _run_source()
    when = runtime.flow_run.scheduled_start_time if source != "cli" else None
    return report.batch_run_name(source, when or datetime.now(timezone.utc))


def _render_storyboards(files: list[Path], out: str, root: str | None, force: bool) -> tuple[dict, dict]:
    # The tasks are read here, when the flow runs (tests run them with other options).
    return render_storyboards(files, out, root, force, _run_source(), BatchTasks(render_shot_task, stitch_task))


@flow(name="render-storyboard")
def render_storyboard(storyboard: str, out: str = "renders", root: str | None = None, force: bool = False) -> dict:
    """Render one storyboard file into `<out>/<name>/<name>.mp4` with its manifest.

    Shots whose clips are unchanged are reused unless `force`. A storyboard with a failed
    shot ends Failed, with no film or manifest in its folder; its finished clips stay for the next run.
    """
    show_run_logs()
    _check_confined(storyboard, root, out)
    succeeded, failed = _render_storyboards([Path(storyboard)], out, root, force)
    if failed:
        return Failed(message=failed[storyboard])
    return succeeded[storyboard]


def _check_confined(storyboard: str, root: str | None, out: str) -> None:
    """Raise unless the run's paths are inside the folders the worker allows (batch.py)."""
    roots = _allowed_roots()
    confine(storyboard, roots, "storyboard")
    confine(root if root is not None else Path.cwd(), roots, "root")
    confine(out, roots, "out")


def _allowed_roots() -> list[Path] | None:
    # A deployment run on a worker without LTX_FLOWS_ALLOWED_ROOTS may use only its working folder.
    return allowed_roots(default=Path.cwd() if _deployment_id() is not None else None)


@flow(name="render-batch", flow_run_name=_batch_run_name)
def render_batch(
    storyboards: list[str] = ["storyboards/"],  # noqa: B006 (Prefect copies parameters; shown in the UI)
    out: str = "renders",
    root: str | None = None,
    force: bool = False,
) -> dict:
    """Render storyboard files, folders and globs: every shot of every storyboard on one set of render slots.

    Where shots render is configuration, not a parameter: LTX_FLOWS_DASK_SCHEDULER names a Dask
    scheduler whose workers render them (README: Scale out); without it, a machine with several
    GPUs starts one pinned worker per GPU for the batch, and one with a single GPU or none
    renders in this process.
    """
    show_run_logs()
    logger = get_run_logger()
    roots = _allowed_roots()
    confine(root if root is not None else Path.cwd(), roots, "root")  # before any storyboard is opened
    confine(out, roots, "out")
    files, problems = find_storyboards(storyboards, Path(root) if root else None, roots)
    succeeded, failed = _render_storyboards(files, out, root, force)
    failed = {**problems, **failed}
    summary = {"succeeded": succeeded, "failed": failed}
    batch_artifact(succeeded, failed, _run_source())
    unchanged = sum(map(report.reused_whole, succeeded.values()))
    logger.info("Batch: %d storyboards rendered, %d unchanged (every shot reused), %d failed",
                len(succeeded) - unchanged, unchanged, len(failed))
    if failed:
        # The state carries an exception that holds the summary (a failed state's data must be one:
        # a dict gives "TypeError: Unexpected result for failed state"); the artifact shows it too.
        message = report.batch_failure(failed, total=len(failed) + len(succeeded))
        return Failed(message=message, data=BatchFailed(message, summary))
    return summary
