"""The render's terminal display: one progress bar per storyboard while the batch flow runs, and Prefect's log
lines routed above it.

The bars show at once, before Prefect is imported and its API server started, so the terminal is never
blank: Prefect and the flow are imported here only once the display is up.
"""

import contextvars
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from ..render import progress
from .api_server import ApiServerFailed, temporary_api_server


class _EtaColumn(ProgressColumn):
    """The time left of a storyboard, from its own progress model: denoising steps, each shot's decode and
    encode, as timed so far (progress.StoryboardProgress.eta); re-read at every refresh, so it counts down
    while no event comes (a decode)."""

    def render(self, task) -> Text:
        eta = task.fields["progress"].eta(time.time())
        return Text(f"eta {'-:--:--' if eta is None else eta}", style="progress.remaining")


class _Bars(logging.Handler):
    """Moves each storyboard's bar with its progress events; a bar shows with its first event's words, never blank."""

    def __init__(self, display: Progress):
        super().__init__()
        self.display = display
        self.bars: dict[str, tuple[int, progress.StoryboardProgress]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        name = record.storyboard
        state = self.bars[name][1] if name in self.bars else progress.StoryboardProgress(name)
        state.update(record)
        if name not in self.bars:
            self.bars[name] = (self.display.add_task(state.describe(), total=100, name=name, progress=state), state)
        # Drawn now, not at the next tick of rich's 10-a-second refresh: on a fast model a whole shot (its steps,
        # decode and encode) can pass between two ticks, and the bar would never have said where it was.
        self.display.update(self.bars[name][0], completed=100 * state.fraction, description=state.describe(),
                            refresh=True)


def render_with_progress(names: list[str], files: list[str], out: Path, root: Path | None, force: bool,
                         verbose: bool, temporary_api: bool, console: Console) -> dict:
    """Run the batch flow with one progress bar per storyboard (shots, segments, steps, ETA) on `console`; returns
    its summary.

    The bars are one per name in `names`. With `temporary_api`, a temporary Prefect API server of our own serves
    the run (api_server.py; ApiServerFailed if it does not start). The flow runs on a thread of its own (stop.py
    says why); this thread waits for it.
    """

    def say(what: str) -> None:
        for name in names:
            progress.phase(name, what)

    columns = (
        TextColumn("{task.fields[name]}", markup=False), BarColumn(), TaskProgressColumn(),
        TimeElapsedColumn(), _EtaColumn(), TextColumn("{task.description}", markup=False),
    )
    with Progress(*columns, console=console) as display, ExitStack() as context:
        handler = _Bars(display)
        progress.log.addHandler(handler)
        try:
            say("loading Prefect")
            from .batch import BatchFailed
            from .flow import render_batch

            route_prefect_logs(console, verbose)
            if temporary_api:
                say("starting Prefect (a temporary local API server)")
                timeout = float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
                try:
                    context.enter_context(temporary_api_server(startup_timeout=timeout))
                except ApiServerFailed:
                    say("failed")
                    raise
            state = _on_own_thread(
                lambda: render_batch(files, str(out), str(root) if root else None, force, return_state=True)
            )
            for name, (_, board) in handler.bars.items():
                if board.stage == "waiting":  # failed before its plan: no event says so
                    progress.phase(name, "failed")
        finally:
            progress.log.removeHandler(handler)
    summary = state.result(raise_on_failure=False)
    if isinstance(summary, BatchFailed):  # some storyboards failed: the state carries the whole summary
        return summary.summary
    if isinstance(summary, BaseException):  # the batch itself broke (e.g. an unreachable cluster)
        raise summary
    return summary


def _on_own_thread(call):
    """`call()` on a new thread (with this thread's context: Prefect's settings), waited for here; its result,
    or its exception raised here. Signal handlers keep running in this (main) thread meanwhile."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-batch") as thread:
        return thread.submit(contextvars.copy_context().run, call).result()


def route_prefect_logs(console: Console, verbose: bool) -> None:
    """Send Prefect's console log lines through `console` (so they print above the progress display, as
    written). Without `verbose` only our own warnings print: Prefect's lines (its ERROR lines repeat each
    failure the CLI's report states once) and the Hugging Face libraries' warnings are left to the run's
    logs (the Prefect UI) and to --verbose."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.console = console
                handler.setLevel(logging.NOTSET if verbose else logging.WARNING)
                if verbose:
                    handler.removeFilter(_not_prefect)
                else:
                    handler.addFilter(_not_prefect)
    if not verbose:
        # Each library sets its logger's level from its variable when it is first imported (in the render, after
        # this), and diffusers and transformers print through handlers of their own.
        for library, variable in (("diffusers", "DIFFUSERS_VERBOSITY"), ("transformers", "TRANSFORMERS_VERBOSITY"),
                                  ("huggingface_hub", "HF_HUB_VERBOSITY")):
            os.environ.setdefault(variable, "error")
            logging.getLogger(library).setLevel(logging.ERROR)  # if it was imported already


def _not_prefect(record: logging.LogRecord) -> bool:
    return record.name != "prefect" and not record.name.startswith("prefect.")
