"""The run's Prefect artifacts, made on background threads: each storyboard's progress bar, shot table and
summary (report.py writes their text)."""

import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from ..finish.film import Finished
from ..plan.planner import RenderPlan
from ..render import progress
from . import report


class Reporter:
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


class ProgressArtifact(logging.Handler):
    """Moves a storyboard's progress artifact with its shots, segments and steps, at most once a second
    (and once more at its end: the last update is never dropped).

    One update is in flight at a time; what comes meanwhile replaces what waits, so a burst of events
    (a storyboard's last shot, its stitch and its end) costs one call to the API, in order, not three.
    """

    def __init__(self, plan: RenderPlan, source: str, reporter: Reporter):
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


def storyboard_artifacts(plan: RenderPlan, film_dir: Path, source: str, results, finished: Finished | None,
                         thumbnails: dict[str, Future]) -> None:
    """A storyboard's shot table and summary (thumbnails, prompts, seeds, this run's outcomes, film and review page)."""
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


def batch_artifact(succeeded: dict, failed: dict, source: str) -> None:
    """The batch's summary: each storyboard's film and review page, or why it failed."""
    create_markdown_artifact(
        report.batch_markdown(succeeded, failed, source), key=report.artifact_key(source, "render-batch", "summary"),
        description=f"render-batch ({source} run): each storyboard's film and review page, or why it failed",
    )
