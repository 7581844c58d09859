"""A temporary Prefect API server for a render, as our child process, that dies with the render.

Prefect starts its own temporary server (`SubprocessASGIServer`) as a plain child that outlives a killed
render; the CLI starts this one instead and points Prefect at it (PREFECT_API_URL, then Prefect's public
`refresh_global_settings_context`), so nothing of Prefect is patched. It asks the kernel to end it with
its parent and also polls its parent's pid (lifetime.py says why both).
`python -m ltx_flows.production.api_server PARENT_PID` is that server: the app Prefect's temporary server
serves, run the same way (ephemeral: no UI, no background services; its database in PREFECT_HOME).
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..lifetime import set_death_signal

# How often the server checks that its parent lives, and how long it may take to stop once it does not.
_PARENT_POLL_SECONDS = 1.0
_SHUTDOWN_GRACE_SECONDS = 5.0


class PrefectUnavailable(RuntimeError):
    """A render cannot report to Prefect: its message says what to do."""


def check_prefect_home() -> None:
    """Raise PrefectUnavailable for a PREFECT_HOME that cannot be written, instead of a temporary API server that
    cannot create its database (two minutes of retries and thousands of log lines)."""
    import tempfile

    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as error:
        raise PrefectUnavailable(
            f"cannot write into PREFECT_HOME {home} ({error.strerror or error}), where Prefect keeps the "
            "temporary API server's database; point PREFECT_HOME to a folder you can write, or set PREFECT_API_URL "
            "to a running server"
        ) from None


def check_api() -> str | None:
    """The Prefect API's URL, None when none is set (the render then starts a temporary one); PrefectUnavailable
    when it does not answer."""
    api = os.environ.get("PREFECT_API_URL") or _profile_api_url()
    if api:
        import httpx

        try:
            httpx.get(f"{api.rstrip('/')}/health", timeout=10).raise_for_status()
        except httpx.HTTPError as error:
            raise PrefectUnavailable(
                f"cannot reach the Prefect API at {api} ({type(error).__name__}: {error}); start it "
                "(`prefect server start`) or unset PREFECT_API_URL to render with a temporary local one"
            ) from None
    return api or None


def _profile_api_url() -> str | None:
    # PREFECT_API_URL may also come from the active Prefect profile (`prefect config set`).
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


class ApiServerFailed(RuntimeError):
    """The temporary Prefect API server did not start."""


@contextmanager
def temporary_api_server(startup_timeout: float) -> Iterator[str]:
    """Run a temporary Prefect API server as our child while the block runs, Prefect pointed at it; yields its
    API URL.

    It is in its own session (the terminal's Ctrl-C is ours to handle, and the server must keep
    recording the stop), dies with this thread or process (lifetime.py), and is stopped on leaving the block.
    """
    import httpx

    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ltx_flows.production.api_server", str(os.getpid())], env=env, stdin=subprocess.DEVNULL,
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
    set_death_signal(parent, signal.SIGTERM)
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
