"""ffmpeg: the binary we run, the processes it runs in, and the one runner every media module uses.

There is no system ffmpeg or ffprobe: we run the binary that imageio-ffmpeg ships (and probe with PyAV,
see read.py). Each ffmpeg runs in its own session, so a Ctrl-C in the terminal reaches us, not it, and
we stop it ourselves; the processes still running are kept, so a stop can end them (render/stop.py).
"""

import subprocess

import imageio_ffmpeg

from ..lifetime import dying_with_parent

# How much of ffmpeg's stderr an error message quotes.
STDERR_TAIL_LINES = 20


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def stderr_tail(text: str) -> str:
    """The last lines of what ffmpeg said, for an error message."""
    return "\n".join(text.strip().splitlines()[-STDERR_TAIL_LINES:])


def options_to_args(options: dict) -> list[str]:
    """ffmpeg output options ({"c:v": "libx264", "an": None}) as command-line arguments (`-c:v libx264 -an`)."""
    args = []
    for key, value in options.items():
        args.append(f"-{key}")
        if value is not None:
            args.append(str(value))
    return args


class FfmpegProcesses:
    """The ffmpeg processes this process runs, so a stop can end the ones still running."""

    # No lock: a second Ctrl-C kills them from a signal handler, which may run while its own thread is in here.
    def __init__(self):
        self._running: set[subprocess.Popen] = set()

    def start(self, args: list[str], **kwargs) -> subprocess.Popen:
        """Start ffmpeg (`args` begins with its path) in its own session. If we die without stopping it (SIGKILL),
        the kernel kills it (lifetime.py): every caller waits for its ffmpeg on the thread that started it."""
        process = subprocess.Popen(dying_with_parent(args), start_new_session=True, **kwargs)
        self._running.add(process)
        return process

    def ended(self, process: subprocess.Popen) -> None:
        """`process` has exited: forget it."""
        self._running.discard(process)

    def stop(self, process: subprocess.Popen) -> None:
        """Kill `process` if it still runs, wait for it, and forget it."""
        if process.poll() is None:
            process.kill()
        process.wait()
        self.ended(process)

    def kill_all(self) -> None:
        """Kill every ffmpeg still running (their partial files are never renamed into place)."""
        for process in list(self._running):
            if process.poll() is None:
                process.kill()


# The ffmpeg processes of this process: one set, as there is one process to stop.
FFMPEG = FfmpegProcesses()


def stop_ffmpeg() -> None:
    """Kill every ffmpeg this process still runs (their partial files are never renamed into place)."""
    FFMPEG.kill_all()


def run_ffmpeg(args: list[str], out=None, failure: str | None = None, log: bool = False, cwd=None) -> bytes | None:
    """Run ffmpeg with `args` to its end; it is stopped if we are interrupted (Ctrl-C, any error here).

    With `out`, the file it writes: ffmpeg may overwrite it (`-y`), and nothing comes back. Without, what it
    writes to its stdout (`pipe:`) comes back. A failure raises RuntimeError quoting the end of its stderr,
    after `failure` (by default the exit code and the file it was writing). With `log`, what it said on its stderr
    at level info comes back instead (the measurements of filters such as `ebur128`). With `cwd`, ffmpeg runs in
    that folder (filters that name files, such as `ass`, then name them without any path to escape).
    """
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "info" if log else "error",
               *(["-y"] if out is not None else []), *args]
    process = FFMPEG.start(
        command, stdout=subprocess.DEVNULL if out is not None else subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd
    )
    try:
        stdout, stderr = process.communicate()
    finally:
        FFMPEG.stop(process)  # on Ctrl-C (or any error here) ffmpeg does not outlive us
    if process.returncode != 0:
        failure = failure or f"ffmpeg failed (code {process.returncode}) while writing {out}"
        said = stderr_tail(stderr.decode(errors="replace")) or "(no output)"
        raise RuntimeError(f"{failure}; ffmpeg said:\n{said}")
    return stderr if log else stdout
