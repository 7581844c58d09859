"""Child processes that end with the render that started them, however the render ends.

A render starts ffmpeg processes and, without PREFECT_API_URL, a temporary Prefect API server (uvicorn,
~250 MB; production/api_server.py). A render that is SIGKILLed (the OOM killer, `kill -9`, a container's
hard stop) runs no cleanup, so each child must notice on its own that its parent is gone:

- On Linux the kernel does it: `prctl(PR_SET_PDEATHSIG)` asks it to signal a process when the thread
  that started it exits. Children are therefore started from threads that outlive them: the CLI's main
  thread for the server; ffmpeg from the thread that waits for it (media/ffmpeg.py). ffmpeg is started through
  util-linux's `setpriv --pdeathsig KILL` (present wherever util-linux is, as on every Debian); the
  server, a Python of ours, asks for it itself (`set_death_signal`).
- The API server also polls its parent's pid (every platform, and a parent thread that ended early).

Not through `preexec_fn`: Python code in a child forked from a process with threads (the render's)
can deadlock before it execs (Python's docs warn of it; a thread-local's destructor did, here).
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import subprocess
import sys

_PR_SET_PDEATHSIG = 1


def set_death_signal(parent: int, signum: int) -> None:
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
