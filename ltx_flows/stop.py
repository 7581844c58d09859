"""Stopping a render on Ctrl-C between denoising steps, with nothing half-written left behind.

Shots render on worker threads, and Python delivers SIGINT to the main thread only: a worker
would finish its whole shot (or long-take segment) before the process could exit. While a
render runs, the CLI's SIGINT handler also sets a flag that generation checks before each
generation and after each denoising step (diffusers' `callback_on_step_end`, through the
`on_step` hook); a set flag raises RenderStopped in the worker, whose clip writer then stops its
ffmpeg and deletes the partial file. ffmpeg itself runs in its own process group (media.py), so
the terminal's Ctrl-C never reaches it directly.
"""

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_requested = threading.Event()
# After a Ctrl-C, how long the process may take to end on its own. The terminal's SIGINT also
# reaches Prefect's ephemeral API server (a child in our process group), and Prefect then retries
# reporting to it for minutes: past this, the remaining ffmpeg children are killed and we exit.
EXIT_GRACE_SECONDS = 10
STOPPED_MESSAGE = "stopped: no film was finished, finished clips are kept for the next run; interrupted"


class RenderStopped(RuntimeError):
    """The render was asked to stop (Ctrl-C)."""


def check_stop(*_ignored) -> None:
    """Raise RenderStopped if a stop was asked for. Takes any arguments, so it serves as a hook."""
    if _requested.is_set():
        raise RenderStopped("stopped on request (Ctrl-C); finished clips are kept, the next run goes on from them")


def stopping(on_step: Callable[[int, int], None] | None = None) -> Callable[[int, int], None]:
    """An `on_step(done, total)` hook for a generation that stops between denoising steps, then passes the
    step on to `on_step` (the progress display), if any."""

    def step(done: int, total: int) -> None:
        check_stop()
        if on_step is not None:
            on_step(done, total)

    return step


@contextmanager
def stop_on_interrupt() -> Iterator[None]:
    """While the block runs, Ctrl-C also asks every render thread to stop at its next step."""
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if _requested.is_set():  # a second Ctrl-C: stop now
            _exit_now()
        _requested.set()
        threading.Thread(target=_exit_later, daemon=True).start()
        if callable(previous):
            previous(signum, frame)  # Python's own handler: KeyboardInterrupt in the main thread
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()


def _exit_later() -> None:
    time.sleep(EXIT_GRACE_SECONDS)
    _exit_now()


def _exit_now() -> None:
    from .media import stop_ffmpeg

    stop_ffmpeg()
    sys.stderr.write(STOPPED_MESSAGE + "\n")
    sys.stderr.flush()
    os._exit(130)
