"""One writer per film: a lock on `<out>/<name>` held for a whole storyboard run.

Two renders of one storyboard into one output folder would race on its clips, its film and its
manifest. The second one fails at once with a message naming the folder rather than waiting: a
nightly run that finds the film busy should say so, not queue behind a render of unknown length
(the nightly deployment's own `concurrency_limit: 1` already queues whole batches).

The lock is an OS file lock (`filelock`) on `<out>/.<name>.lock`: the kernel releases it when
its process dies, SIGKILL included, so a killed render never leaves the film locked. It works
on local disks and on network file systems whose locks work across machines (NFSv4, most
cluster file systems); on one whose locks do not, run each storyboard from one machine.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ..layout import FilmFolder

# What ltx-flows' atomic writes leave behind when their process is killed: a partial file named by
# `media._partial_path` (or the manifest's), and the files derived from its name (the raw sound muxed
# into a clip, a concat list, a smart stitch's windows and sound): only these are ever cleaned up.
_LEFTOVER = re.compile(r"^\..+\.\d+-[0-9a-f]{8}\.partial(\.[a-z0-9]+)*$")


class FilmBusy(RuntimeError):
    """Another render holds the film's lock."""


def lock_path(film_dir: Path) -> Path:
    # Beside the film's folder, not in it: deleting the folder does not drop a lock someone holds.
    return film_dir.with_name(f".{film_dir.name}.lock")


@contextmanager
def film_lock(film_dir: Path) -> Iterator[None]:
    """Hold `film_dir`'s lock for the block, or raise FilmBusy at once if another render holds it.

    Once held, temporary files that a killed writer left in the folder are removed: nobody else
    can be writing them.
    """
    film_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path(film_dir), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise FilmBusy(
            f"{film_dir} is being rendered by another run (lock {lock_path(film_dir)} is held); wait for it to "
            "finish, or render into another --out"
        ) from None
    try:
        _remove_leftovers(film_dir)
        yield
    finally:
        lock.release()


def _remove_leftovers(film_dir: Path) -> None:
    if not film_dir.is_dir():
        return
    # A long take's segments are cached in segments/<shot>/ (render/segments.py), a shot's retake stages in
    # retakes/<shot>/ (render/retake.py): killed writes leave partials there too.
    for folder in FilmFolder(film_dir).clip_folders():
        if folder.is_dir():
            for path in folder.iterdir():
                if _LEFTOVER.match(path.name) and path.is_file():
                    path.unlink(missing_ok=True)
