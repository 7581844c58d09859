"""Child processes that end with the render that started them, however the render ends.

A render starts ffmpeg processes and, without PREFECT_API_URL, a temporary Prefect API server (uvicorn,
~250 MB). A render that is SIGKILLed (the OOM killer, `kill -9`, a container's hard stop) runs no
cleanup, so each child must notice on its own that its parent is gone:

- On Linux the kernel does it: `prctl(PR_SET_PDEATHSIG)` asks it to signal a process when the thread
  that started it exits. Children are therefore started from threads that outlive them: the CLI's main
  thread for the server; ffmpeg from the thread that waits for it (media.py). ffmpeg is started through
  util-linux's `setpriv --pdeathsig KILL` (present wherever util-linux is, as on every Debian); the
  server, a Python of ours, asks for it itself.
- The API server also polls its parent's pid (every platform, and a parent thread that ended early).

Not through `preexec_fn`: Python code in a child forked from a process with threads (the render's)
can deadlock before it execs (Python's docs warn of it; a thread-local's destructor did, here).

Prefect starts its own temporary server (`SubprocessASGIServer`) as a plain child, with neither; the
CLI starts this one instead and points Prefect at it (PREFECT_API_URL, then Prefect's public
`refresh_global_settings_context`), so nothing of Prefect is patched.
`python -m ltx_flows.lifetime PARENT_PID` is that server: the app Prefect's temporary server serves,
run the same way (ephemeral: no UI, no background services; its database in PREFECT_HOME).
"""

from __future__ import annotations

import collections
import ctypes
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_PR_SET_PDEATHSIG = 1
# How often the server checks that its parent lives, and how long it may take to stop once it does not.
_PARENT_POLL_SECONDS = 1.0
_SHUTDOWN_GRACE_SECONDS = 5.0


def _set_death_signal(parent: int, signum: int) -> None:
    """In a child: `signum` when the thread that started us exits; exit now if `parent` is gone already."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


@functools.cache
def _setpriv() -> str | None:
    # --pdeathsig came with util-linux 2.33 (2018): an older setpriv would refuse it, and ffmpeg never run.
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if setpriv is None:
        return None
    works = subprocess.run([setpriv, "--pdeathsig", "KILL", "--", "true"], capture_output=True).returncode == 0
    return setpriv if works else None


def dying_with_parent(args: list[str]) -> list[str]:
    """`args`, run so that the process gets SIGKILL when the calling thread (or process) exits: through
    `setpriv --pdeathsig KILL` where there is one, else as they are. The calling thread must outlive it."""
    setpriv = _setpriv()
    return [setpriv, "--pdeathsig", "KILL", "--", *args] if setpriv else args


class ApiServerFailed(RuntimeError):
    """The temporary Prefect API server did not start."""


@contextmanager
def temporary_api_server(startup_timeout: float) -> Iterator[str]:
    """Run a temporary Prefect API server as our child while the block runs, Prefect pointed at it; yields its
    API URL.

    It is in its own session (the terminal's Ctrl-C is ours to handle, and the server must keep
    recording the stop), dies with this thread or process (see above), and is stopped on leaving the block.
    """
    import httpx

    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ltx_flows.lifetime", str(os.getpid())], env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
    )
    # The server's last lines, to say why it failed; read in the background so it never blocks on a full pipe.
    stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
    drain = threading.Thread(target=lambda: stderr_tail.extend(line.rstrip() for line in process.stderr), daemon=True)
    drain.start()
    try:
        port = process.stdout.readline().strip()
        url = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None or not port.isdigit():
                drain.join(timeout=5)
                raise ApiServerFailed(f"exited with code {process.wait()}: {_reason(list(stderr_tail))}")
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ApiServerFailed(f"did not answer within {startup_timeout:g} s "
                                      "(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")
            time.sleep(0.1)
        with _prefect_pointed_at(url):
            yield url
    finally:
        _stop(process)


@contextmanager
def _prefect_pointed_at(url: str) -> Iterator[None]:
    """Prefect's API is `url` for every thread while the block runs (Prefect's own log and event workers run on
    threads of their own); on leaving, what they still queue is sent before the server stops, or they would
    retry a stopped server at exit."""
    from prefect.context import refresh_global_settings_context

    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    refresh_global_settings_context()
    try:
        yield
    finally:
        _drain_prefect_workers()
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before
        refresh_global_settings_context()


def _drain_prefect_workers() -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)  # what APILogHandler.flush does off the event loop; bounded
    EventsWorker.drain_all(timeout=5)


def _reason(lines: list[str]) -> str:
    # The last line that names an error (a traceback ends with it; uvicorn then adds "Application startup failed").
    for line in reversed(lines):
        if "Error" in line or "error:" in line.lower():
            return line.strip()
    return lines[-1].strip() if lines else "(no output)"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=_SHUTDOWN_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


def _watch_parent(parent: int) -> None:
    """In the server: once the parent is gone, stop as uvicorn stops on SIGTERM, or at once if that hangs."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(_SHUTDOWN_GRACE_SECONDS)
    os._exit(1)


def _serve(parent: int) -> None:
    _set_death_signal(parent, signal.SIGTERM)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    import uvicorn

    # Our own socket on a free port, so no other process can take the port between choosing and binding.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config("prefect.server.api.server:create_app", factory=True, log_level="error", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
