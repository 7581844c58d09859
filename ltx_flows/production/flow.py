"""Prefect flows: thin, decorated wrappers over the plain pipeline.

render-batch (or render-storyboard, for one file)
  -> shot-<storyboard>-<id>: every shot of every storyboard that needs a render, one task each, on the
     render slots (a Dask cluster's GPU workers, or threads here), storyboards with the longest shots first
     (_queue_order), as soon as its storyboard is planned; never more out at once than there are slots
  -> stitch-<storyboard>: the film and manifest, on this process's encoding slots, as soon as that
     storyboard's own shots are done

Importing this module does not import torch (or Dask): a run with nothing to render never needs them.
"""

import contextvars
import logging
import os
import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from uuid import UUID, uuid4

# Core modules log to `ltx_flows.*` (model loads, timings): send those records to the run's logs
# too (outside a run they only reach the console). Read when Prefect sets up logging, so before
# it is imported where this module comes first; deployments set them in prefect.yaml.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "ltx_flows")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from ..render import progress
from . import report
from .batch import BatchFailed, allowed_roots, check_writable, confine, find_storyboards, render_folder
from ..render.shot import invalidate_film, render_shot_cached
from ..models.checkpoints import not_cached
from .slots import GPU_SLOT, connect_scheduler, connect_timeout, local_gpu_cluster, scheduler_address, visible_gpus
from ..render.controls import check_controls
from ..failures import describe, is_transient
from ..finish.film import Finished, finish_storyboard, shots_to_render
from .lock import film_lock
from ..plan.planner import RenderPlan, ShotPlan, plan_storyboard
from ..storyboard.models import load_storyboard

# The CLI's display and the progress artifacts listen here (events: see progress.py).
progress_log = progress.log
logging.getLogger("ltx_flows").setLevel(logging.INFO)


class _BatchFailedInOneLine(logging.Filter):
    """Prefect's engine ends every flow run that ends Failed by re-raising its state's exception and logging it
    to the run as "Engine execution exited with unexpected exception" with a 20-line traceback of its own frames
    (prefect.flow_engine.run_flow, as a worker runs a deployment; Prefect 3.8.8 has no setting for it). For a
    batch whose storyboards failed that is expected, and the state's message and the batch summary say why:
    the record keeps its level and becomes that one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, BatchFailed):
            record.msg, record.args, record.exc_info, record.exc_text = "Batch failed: %s", (str(error),), None, None
        return True


# The logger Prefect's engine gives a deployment's run (prefect.flow_engine.flow_run_logger).
logging.getLogger("prefect.flow_runs").addFilter(_BatchFailedInOneLine())

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
    try:
        record = render_shot_cached(plan, shot, Path(film_dir), force, failed, on_step=on_step)
    except Exception as error:
        # A model missing from the local cache: say what to run, not the hub's paragraph (chained, in the logs).
        if (missing := not_cached(error, plan.storyboard)) is not None:
            raise missing from error
        raise
    _failed_attempts.pop(runtime.task_run.id, None)
    if record["status"] == "cached":
        get_run_logger().info("Shot %s: unchanged (content hash %s), clip reused", shot.id, shot.content_hash[:12])
    return record


@task(task_run_name="stitch-{plan.name}", cache_policy=NO_CACHE)
def stitch_task(plan: RenderPlan, film_dir: str, renders: dict[str, dict]) -> Finished:
    finished = finish_storyboard(plan, Path(film_dir), renders)
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


class _Reporter:
    """Creates and updates the run's artifacts from background threads, in the flow's context.

    Artifacts are calls to the Prefect API (and a summary decodes a thumbnail per shot): made on the
    loop that hands out shots, they held back the next shot, tenths of a second per storyboard; on
    one thread, the end of a 40-storyboard batch waited 6 s for them (benchmarks/makespan.py).
    Artifacts are a view of the run: one that fails is logged, never fails a shot or a storyboard.
    """

    THREADS = 4

    def __init__(self):
        self._threads = ThreadPoolExecutor(max_workers=self.THREADS, thread_name_prefix="ltx-flows-artifacts")

    def __call__(self, action: Callable, *args) -> None:
        self._threads.submit(contextvars.copy_context().run, self._run, action, *args)

    def submit(self, work: Callable, *args) -> Future:
        """Run `work` on the same threads as the artifacts (before those asked for later); its future."""
        return self._threads.submit(work, *args)

    @staticmethod
    def _run(action: Callable, *args) -> None:
        try:
            action(*args)
        except Exception as error:
            logging.getLogger(__name__).warning("Artifact not updated (%s): %s", action.__name__, error)

    def close(self) -> None:
        """Wait for every artifact asked for so far."""
        self._threads.shutdown(wait=True)


class _ProgressArtifact(logging.Handler):
    """Moves a storyboard's progress artifact with its shots, segments and steps, at most once a second
    (and once more at its end: the last update is never dropped).

    One update is in flight at a time; what comes meanwhile replaces what waits, so a burst of events
    (a storyboard's last shot, its stitch and its end) costs one call to the API, in order, not three.
    """

    def __init__(self, plan: RenderPlan, source: str, reporter: _Reporter):
        super().__init__()
        self.state = progress.StoryboardProgress(plan.name)
        self.throttle = progress.Throttle()
        self.description = report.storyboard_description(plan, "progress", source)
        self.key = report.artifact_key(source, plan.name, "progress")
        self.reporter = reporter
        self.artifact = None  # its id, once created (with the first update)
        self.waiting: tuple[float, str] | None = None  # the newest update not sent yet
        self.failure: str | None = None  # why the storyboard failed, once it has
        self.sending = False
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "storyboard", None) != self.state.name:
            return
        self.state.update(record)
        if self.state.stage not in ("done", "failed") and not self.throttle.ready():
            return
        with self.guard:
            if self.state.stage == "failed":
                # Over, not stuck at 95%: the bar ends full and the description says it failed, and why.
                self.waiting = (100.0, f"{self.description}. FAILED: {self.failure or 'see the run logs'}")
            else:
                self.waiting = (100.0 * self.state.fraction, f"{self.description}. Now: {self.state.describe()}")
            if self.sending:  # the update in flight sends this one after it
                return
            self.sending = True
        self.reporter(self._send)

    def _send(self) -> None:
        while True:
            with self.guard:
                update, self.waiting = self.waiting, None
                if update is None:
                    self.sending = False
                    return
            try:
                percent, description = update
                if self.artifact is None:
                    self.artifact = create_progress_artifact(percent, key=self.key, description=description)
                else:
                    update_progress_artifact(self.artifact, percent, description=description)
            except Exception:
                with self.guard:
                    self.sending = False  # the next event tries again
                raise


@dataclass
class _Storyboard:
    """One storyboard of a batch while its shots render: what is done, what failed, what is still out."""

    file: str
    plan: RenderPlan
    film_dir: Path
    renders: dict[str, dict]  # shot id -> cache record (cached or just rendered)
    pending: list[ShotPlan]  # the shots this run renders
    waiting: int  # of those, the shots not finished yet
    source: str  # the deployment's name or `cli`: the artifact keys' prefix
    lock: ExitStack  # holds the film's lock (lock.py) from planning until the storyboard is finished
    reporter: _Reporter  # makes its artifacts
    progress: _ProgressArtifact | None = None  # attached to the progress events while the storyboard renders
    failures: dict[str, str] = field(default_factory=dict)
    thumbnails: dict[str, Future] = field(default_factory=dict)  # shot id -> its summary thumbnail, being made

    def start_progress(self) -> None:
        self.progress = _ProgressArtifact(self.plan, self.source, self.reporter)
        progress_log.addHandler(self.progress)
        progress.planned(self.plan.name, [(shot.id, len(shot.segments)) for shot in self.plan.shots])
        for shot in self.plan.shots:
            if shot.id in self.renders:
                progress.shot_finished(self.plan.name, shot.id, "cached")
                self.make_thumbnail(shot)

    def make_thumbnail(self, shot: ShotPlan) -> None:
        """Start making the shot's summary thumbnail (a decode) now, so the summary at the storyboard's end,
        after its stitch, only puts it in place: 0.5 s less at the end of a 150-shot storyboard here."""
        self.thumbnails[shot.id] = self.reporter.submit(report.thumbnail, self.film_dir / shot.clip, shot,
                                                        self.plan.output.fps)

    def close(self, ok: bool, reason: str | None = None) -> None:
        """The storyboard is finished (or the batch broke: `reason`): end its progress and release its film."""
        if self.progress is not None:
            if not ok:
                self.progress.failure = reason or "the batch stopped before it finished (see the run logs)"
            progress.finished(self.plan.name, ok=ok)
            progress_log.removeHandler(self.progress)
            self.progress = None
        self.lock.close()

@dataclass(frozen=True)
class _RenderSlots:
    """Where shots render, and how many shots may be out at once.

    A render worker that finishes a shot should find its next one waiting rather than wait for this
    process to hear of it and send one: Dask workers get one queued shot each beyond the one they
    render (so the queue's order still holds to within a shot per worker); threads here get one
    more than there are devices (a clip encodes while the next shot generates).

    Storyboards stitch in this process: one at a time when shots render here too (the renders'
    memory comes first), one per CPU core when they render elsewhere, so that the storyboards that
    finish with the batch's last shots do not stitch one after another after it.
    """

    submit: Callable[[dict], PrefectFuture]  # render_shot_task's parameters -> its run's future
    count: int
    stitchers: int = 1


class _DaskShots:
    """Submits shot task runs to a Dask cluster's render workers the way prefect_dask's task runner does,
    with the flow run's context serialized once instead of once per shot.

    The worker runs the task with Prefect's own engine (`run_task_sync`): one task run per shot, with its
    retries, under this flow run. prefect_dask serializes Prefect's whole context (settings included) and
    walks every parameter for futures on each submission: 0.2-0.3 s of this process's CPU per shot under
    cProfile (benchmarks/makespan.py --profile), on the loop that hands out shots to eight workers.
    Shots never take futures as parameters, so they have no dependencies.
    """

    def __init__(self, client):
        from prefect.context import serialize_context

        self.client = client
        self.context = serialize_context()  # the flow run's: the same for every shot (about 10 kB pickled)

    def __call__(self, parameters: dict) -> PrefectFuture:
        from prefect.context import AssetContext
        from prefect_dask.task_runners import PrefectDaskFuture

        task_run_id = uuid4()
        dependencies = {name: set() for name in parameters}
        assets = AssetContext.from_task_and_inputs(
            task=render_shot_task, task_run_id=task_run_id, task_inputs=dependencies, copy_to_child_ctx=True
        ).serialize()
        future = self.client.submit(_run_shot_on_worker, task_run_id, parameters, dependencies, self.context, assets,
                                    key=f"shot-{task_run_id}", resources=GPU_SLOT, pure=False)
        return PrefectDaskFuture(wrapped_future=future, task_run_id=task_run_id)


def _run_shot_on_worker(task_run_id, parameters: dict, dependencies: dict, context: dict, assets: dict):
    """In a render worker: one shot's task run, through Prefect's engine, in the flow run's context."""
    from prefect.context import SettingsContext, SyncClientContext
    from prefect.task_engine import run_task_sync

    context = {**context, "asset_context": assets}
    settings, client = _worker_prefect(context.pop("settings_context", None))
    # Prefect's engine uses the client of the SyncClientContext it finds (it would make two of its own per task
    # run); that context has no public way in without closing its client on the way out.
    client_token = SyncClientContext.__var__.set(client)
    try:
        with SettingsContext(profile=settings.profile, settings=settings.settings) if settings else nullcontext():
            # Quoted here, not before: Dask rebuilds the tuples in a task's arguments, and a quote is one.
            return run_task_sync(render_shot_task, task_run_id=task_run_id, parameters=_quoted(parameters),
                                 dependencies=dependencies, context=context, return_type="state")
    finally:
        SyncClientContext.__var__.reset(client_token)


# A render worker's Prefect settings and API client, kept from one shot to the next: (the flow's serialized
# settings, the SettingsContext made from them, a SyncClientContext with an open client).
_worker_state: tuple | None = None
_worker_state_lock = threading.Lock()


def _worker_prefect(settings: dict | None):
    """The flow run's settings and an API client for them, made once per render worker and flow run's settings.

    Prefect's engine rebuilds the settings (pydantic-settings reads the environment again) and opens two
    API clients for every task run it hydrates: 0.2-0.3 s of CPU per shot on these loaded cores, while the
    worker's GPU waits (benchmarks/makespan.py: workers idle 0.6-0.9 s between shots before this).
    """
    global _worker_state
    from prefect.context import SettingsContext, SyncClientContext

    with _worker_state_lock:
        if _worker_state is None or _worker_state[0] != settings:
            # A new flow run's settings: a new client (the old one may still serve a shot of that run: it stays open).
            made = SettingsContext(**settings) if settings else None
            with made or nullcontext():  # the client talks to the API these settings name
                client = SyncClientContext()
                client.client.__enter__()
            _worker_state = (settings, made, client)
        return _worker_state[1], _worker_state[2]


def _worker_env() -> dict[str, str]:
    # Local render workers report to this run's Prefect API instead of each starting an ephemeral
    # server of its own: the configured one, or the ephemeral one this process started.
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        url = server.api_url if server.running else None
    return {"PREFECT_API_URL": url} if url else {}


def _dask_slots(client) -> int:
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return sum(int(worker.get("resources", {}).get("GPU", 0)) for worker in workers)


@contextmanager
def _render_slots():
    """The render slots for this run: a configured Dask cluster's GPU workers, one pinned worker per local GPU,
    or threads in this process (one per device plus one, so a clip encodes while the next shot generates)."""
    address = scheduler_address()
    if address:
        with connect_scheduler(address, connect_timeout()) as client:
            count = _dask_slots(client)
            if count == 0:
                get_run_logger().warning("The Dask scheduler at %s has no render workers (GPU=1) yet; shots wait for one", address)
            yield _RenderSlots(_DaskShots(client), 2 * max(count, 1), stitchers=os.cpu_count() or 1)
        return
    gpus = visible_gpus()
    if len(gpus) > 1:
        from distributed import Client

        # One pinned worker per GPU for the whole batch, so each loads its model once.
        with local_gpu_cluster(gpus, env=_worker_env()) as local, Client(local, set_as_default=False) as client:
            yield _RenderSlots(_DaskShots(client), 2 * len(gpus), stitchers=os.cpu_count() or 1)
        return
    # One device: generations take turns on it (see generate.py); the extra thread encodes.
    with ThreadPoolTaskRunner(max_workers=2) as runner:
        yield _RenderSlots(lambda parameters: runner.submit(render_shot_task, _quoted(parameters)), 2)


def _quoted(parameters: dict) -> dict:
    """A task's parameters for Prefect not to look into (the task gets the plain values).

    Prefect otherwise walks every field of every parameter looking for futures, twice per task run, and a
    plan holds all its storyboard's shots: 50 ms a shot at 150 shots, a cost that grows with the square of
    the storyboard (benchmarks/flow_overhead.py). Our tasks never take futures.
    """
    return {name: quote(value) for name, value in parameters.items()}


def _plan_storyboards(
    files: list[Path], out: str, root: str | None, force: bool, source: str, reporter: _Reporter
) -> tuple[list[_Storyboard], dict[str, str]]:
    """Validate and plan every file, and check the shot cache; a file that cannot be planned fails on its own."""
    logger = get_run_logger()
    check_writable(render_folder(out))  # before any model loads
    boards, failed = [], {}
    for file in files:
        lock = ExitStack()
        try:
            plan = plan_storyboard(load_storyboard(file, root), file)
            film_dir = render_folder(out) / plan.name
            lock.enter_context(film_lock(film_dir))  # one writer per film: a second run fails at once
            pending, cached = shots_to_render(plan, film_dir, force)
            if pending:
                check_controls(plan)  # detector weights and IC-LoRAs, before any shot starts on a GPU
        except Exception as error:  # one bad storyboard does not stop the others
            lock.close()
            failed[str(file)] = str(not_cached(error, file) or error)
            logger.error("%s: %s", file, error)
            continue
        logger.info(
            "Planned %s: %d shots, %d frames (%.1fs) with %s; %d to render, %d unchanged", plan.name, len(plan.shots),
            plan.film_frames, plan.film_seconds, plan.model.checkpoint, len(pending), len(cached),
        )
        for shot_id in cached:
            logger.info("Shot %s of %s: unchanged, clip reused", shot_id, plan.name)
        board = _Storyboard(str(file), plan, film_dir, renders=dict(cached), pending=pending, waiting=len(pending),
                            source=source, lock=lock, reporter=reporter)
        board.start_progress()
        boards.append(board)
    return boards, failed


def _render_storyboards(files: list[Path], out: str, root: str | None, force: bool) -> tuple[dict, dict]:
    """Render every storyboard's shots on one set of render slots, and finish each storyboard as its shots finish.

    Returns (succeeded: file -> result, failed: file -> why).
    """
    logger = get_run_logger()
    reporter = _Reporter()
    try:
        boards, failed = _plan_storyboards(files, out, root, force, _run_source(), reporter)
        try:
            succeeded = _render_planned(boards, failed, force)
        finally:
            for board in boards:  # a batch that broke leaves no handler and no lock behind
                board.close(ok=False)
    finally:
        reporter.close()  # every artifact is made before the run ends
    order = [str(file) for file in files]  # storyboards finish in any order; report them in the batch's
    return ({file: succeeded[file] for file in order if file in succeeded},
            {file: failed[file] for file in order if file in failed})


def _render_planned(boards: list["_Storyboard"], failed: dict[str, str], force: bool) -> dict[str, dict]:
    """Render the planned storyboards' pending shots and finish each storyboard; records failures in `failed`."""
    logger = get_run_logger()
    succeeded: dict[str, dict] = {}
    queued = sorted(((board, shot) for board in boards for shot in board.pending), key=_queue_order)
    completed: queue.Queue[PrefectFuture] = queue.Queue()
    out_now: dict[PrefectFuture, tuple[_Storyboard, ShotPlan | None]] = {}  # None: the storyboard's stitch

    with ExitStack() as running:
        slots = running.enter_context(_render_slots()) if queued else None
        encoder = running.enter_context(ThreadPoolTaskRunner(max_workers=slots.stitchers if slots else 1))

        def track(future: PrefectFuture, what: tuple) -> None:
            out_now[future] = what
            future.add_done_callback(completed.put)

        def submit_shots() -> None:
            while queued and sum(shot is not None for _, shot in out_now.values()) < slots.count:
                board, shot = queued.pop(0)
                track(slots.submit({"plan": board.plan, "shot": shot, "film_dir": str(board.film_dir), "force": force}),
                      (board, shot))

        def finish(board: _Storyboard) -> None:
            if board.failures:
                failed[board.file] = _fail_storyboard(board)
            else:
                progress.stitching(board.plan.name)
                track(encoder.submit(stitch_task, _quoted({"plan": board.plan, "film_dir": str(board.film_dir),
                                                           "renders": board.renders})), (board, None))

        for board in boards:
            if board.waiting == 0:  # nothing to render: straight to its (possibly kept) film
                finish(board)
        submit_shots()
        while out_now:
            future = completed.get()
            board, shot = out_now.pop(future)
            if shot is None:
                try:
                    finished = future.result()
                    succeeded[board.file] = _succeed_storyboard(board, finished)
                except Exception as error:
                    failed[board.file] = f"{board.plan.name}: stitching failed: {describe(error)}"
                    board.close(ok=False, reason=failed[board.file])
                    logger.error("Stitching %s failed: %s", board.plan.name, describe(error))
                continue
            try:
                board.renders[shot.id] = future.result()
                board.make_thumbnail(shot)
            except Exception as error:  # one failed shot does not stop the others
                board.failures[shot.id] = describe(error)
                logger.error("Shot %s of %s failed: %s", shot.id, board.plan.name, board.failures[shot.id])
            progress.shot_finished(board.plan.name, shot.id, board.renders[shot.id]["status"] if shot.id in board.renders else "failed")
            board.waiting -= 1
            submit_shots()
            if board.waiting == 0:
                finish(board)
    return succeeded


def _model_key(plan: RenderPlan) -> tuple[str, str, str]:
    return plan.model.family, plan.model.checkpoint, plan.model.preset or ""


def _queue_order(item: tuple[_Storyboard, ShotPlan]) -> tuple:
    """The order shots go to the render slots.

    Shots of one model together (a device keeps one model loaded, generate.py: switching reloads it).
    Within a model, storyboards whose longest shot is longest first, and each storyboard's shots one
    after another, longest first: the shots near the end of the batch are all short (what keeps every
    slot busy to the end, as longest-first does), and storyboards finish, and stitch, one after
    another while others render. Plain longest-first across storyboards left the short shots of most
    storyboards, and so most of their stitches, to the very end (4-10 s of 40 stitches after the last
    shot, benchmarks/makespan.py).
    """
    board, shot = item
    return _model_key(board.plan), -max(pending.frames for pending in board.pending), board.file, -shot.frames


def _storyboard_artifacts(board: _Storyboard, finished: Finished | None) -> None:
    """The storyboard's shot table and summary (thumbnails, prompts, seeds, this run's outcomes, film and review page),
    made by the run's reporter from this moment's outcomes."""
    board.reporter(_make_storyboard_artifacts, board.plan, board.film_dir, board.source,
                   report.outcomes(board.plan, board.renders, board.failures), finished, dict(board.thumbnails))


def _make_storyboard_artifacts(plan: RenderPlan, film_dir: Path, source: str, results, finished: Finished | None,
                               thumbnails: dict[str, Future]) -> None:
    # Made on the reporter's threads before this job was queued: waiting for them never waits for this job's own pool.
    thumbnails = {shot_id: made.result() for shot_id, made in thumbnails.items()}
    create_table_artifact(report.shot_rows(plan, film_dir, results), key=report.artifact_key(source, plan.name, "shots"),
                          description=report.storyboard_description(plan, "shots", source))
    if finished is None:
        markdown = report.storyboard_markdown(plan, film_dir, results, None, thumbnails=thumbnails)
    else:
        markdown = report.storyboard_markdown(plan, film_dir, results, finished.film, finished.info.duration,
                                              finished.review, thumbnails)
    create_markdown_artifact(markdown, key=report.artifact_key(source, plan.name, "summary"),
                             description=report.storyboard_description(plan, "summary", source))


def _fail_storyboard(board: _Storyboard) -> str:
    plan = board.plan
    # An earlier film, manifest and review page no longer describe this storyboard: nothing may claim success.
    invalidate_film(plan, board.film_dir)
    _storyboard_artifacts(board, None)
    in_order = {shot.id: board.failures[shot.id] for shot in plan.shots if shot.id in board.failures}  # not as they ended
    reason = report.storyboard_failure(plan.name, len(plan.shots), in_order)
    board.close(ok=False, reason=reason)
    return reason


def _succeed_storyboard(board: _Storyboard, finished: Finished) -> dict:
    plan = board.plan
    board.renders = {shot.id: board.renders[shot.id] for shot in plan.shots}  # in storyboard order
    _storyboard_artifacts(board, finished)
    board.close(ok=True)
    get_run_logger().info("Film: %s (%.2fs); review page: %s", finished.film, finished.info.duration, finished.review)
    return finished.summary(plan, board.renders)


@flow(name="render-storyboard")
def render_storyboard(storyboard: str, out: str = "renders", root: str | None = None, force: bool = False) -> dict:
    """Render one storyboard file into `<out>/<name>/<name>.mp4` with its manifest.

    Shots whose clips are unchanged are reused unless `force`. A storyboard with a failed
    shot ends Failed, with no film or manifest in its folder; its finished clips stay for the next run.
    """
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
    logger = get_run_logger()
    roots = _allowed_roots()
    confine(root if root is not None else Path.cwd(), roots, "root")  # before any storyboard is opened
    confine(out, roots, "out")
    files, problems = find_storyboards(storyboards, Path(root) if root else None, roots)
    succeeded, failed = _render_storyboards(files, out, root, force)
    failed = {**problems, **failed}
    summary = {"succeeded": succeeded, "failed": failed}
    source = _run_source()
    create_markdown_artifact(
        report.batch_markdown(succeeded, failed, source), key=report.artifact_key(source, "render-batch", "summary"),
        description=f"render-batch ({source} run): each storyboard's film and review page, or why it failed",
    )
    unchanged = sum(map(report.reused_whole, succeeded.values()))
    logger.info("Batch: %d storyboards rendered, %d unchanged (every shot reused), %d failed",
                len(succeeded) - unchanged, unchanged, len(failed))
    if failed:
        # The state carries an exception that holds the summary (a failed state's data must be one:
        # a dict gives "TypeError: Unexpected result for failed state"); the artifact shows it too.
        message = report.batch_failure(failed, total=len(failed) + len(succeeded))
        return Failed(message=message, data=BatchFailed(message, summary))
    return summary

