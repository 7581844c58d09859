"""Stopping a render on Ctrl-C or SIGTERM between denoising steps, with nothing half-written left behind.

SIGTERM is what `timeout`, systemd, Docker and Kubernetes send to stop a process, so it stops a render
exactly as the terminal's Ctrl-C (SIGINT) does; only the exit code differs (128 + the signal: 130, 143).

Shots render on worker threads, and Python runs signal handlers in the main thread only: a worker
would finish its whole shot (or long-take segment) before the process could exit. While a
render runs, the CLI's handler sets a flag that generation checks before each generation and after
each denoising step (diffusers' `callback_on_step_end`, through the `on_step` hook); a set flag
raises RenderStopped in the worker, whose clip writer then stops its ffmpeg and deletes the
partial file. ffmpeg itself runs in its own process group (media/ffmpeg.py), so the terminal's Ctrl-C
never reaches it directly. The CLI runs the flow on a thread of its own, so that Prefect's engine
(which installs its own SIGTERM handler when a flow runs in the main thread, and would end the run
as crashed) leaves SIGTERM to us.
"""

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_requested = threading.Event()
# After a stop request, how long the process may take to end on its own (the workers stop at their
# next step, and Prefect records the run's end): past this, the remaining ffmpeg children are killed
# and we exit.
EXIT_GRACE_SECONDS = 10
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOPPED_MESSAGE = "stopped: the films not finished are left for the next run, their finished clips kept; interrupted"


class RenderStopped(RuntimeError):
    """The render was asked to stop (Ctrl-C or SIGTERM)."""


def check_stop(*_ignored) -> None:
    """Raise RenderStopped if a stop was asked for. Takes any arguments, so it serves as a hook."""
    if _requested.is_set():
        raise RenderStopped("stopped on request (Ctrl-C or SIGTERM); finished clips are kept, the next run goes on from them")


def stopping(on_step: Callable[[int, int], None] | None = None) -> Callable[[int, int], None]:
    """An `on_step(done, total)` hook for a generation that stops between denoising steps, then passes the
    step on to `on_step` (the progress display), if any."""

    def step(done: int, total: int) -> None:
        check_stop()
        if on_step is not None:
            on_step(done, total)

    return step


@dataclass
class StopRequest:
    """What stopped the render, if anything: the signal, and the exit code it calls for (128 + its number)."""

    signum: int | None = None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """While the block runs, SIGINT and SIGTERM ask every render thread to stop at its next step, and the
    process to exit within EXIT_GRACE_SECONDS; a second signal exits at once. Yields what was asked.

    The handlers raise nothing: the main thread goes on waiting for the render, which ends on its own
    once its workers have stopped; the caller then looks at the request. Call from the main thread.
    """
    request = StopRequest()
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

    def handler(signum, frame):
        if _requested.is_set():  # a second signal: stop now
            _exit_now(128 + signum)
        request.signum = signum
        _requested.set()
        threading.Thread(target=_exit_later, args=(request.exit_code,), daemon=True).start()

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    try:
        yield request
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)
        _requested.clear()


def _exit_later(code: int) -> None:
    time.sleep(EXIT_GRACE_SECONDS)
    _exit_now(code)


def _exit_now(code: int) -> None:
    from ..media.ffmpeg import stop_ffmpeg

    stop_ffmpeg()
    sys.stderr.write(STOPPED_MESSAGE + "\n")
    sys.stderr.flush()
    os._exit(code)  # our children that are still running (the API server) die with us (lifetime.py)
