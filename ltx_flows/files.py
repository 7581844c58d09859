"""Files: the one atomic writer and the one hash helper every stage uses.

Every file the project writes goes to a hidden temporary name in the same folder and is renamed into
place, so a crash or a kill never leaves a half-written clip, film, record or manifest that looks
finished. Partial names carry the writer's pid and a random token, so two writers never share one.
"""

import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from filelock import FileLock

log = logging.getLogger(__name__)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def json_sha256(data) -> str:
    """The hash of JSON-able data, independent of key order: content hashes and cache keys."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def partial_path(path: Path, keep_suffix: bool = False) -> Path:
    """A hidden, unique name beside `path` to write to before the rename.

    `keep_suffix` keeps the extension last (`.clip.<pid>-<token>.partial.mp4`) for files ffmpeg writes,
    which picks the container from the name.
    """
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    if keep_suffix:
        return path.with_name(f".{path.stem}.{token}.partial{path.suffix}")
    return path.with_name(f".{path.name}.{token}.partial")


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(partial)` and rename the partial file to `path`; on any failure the partial file goes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    try:
        write(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_text_atomic(text: str, path: Path) -> None:
    write_atomic(path, lambda partial: partial.write_text(text, encoding="utf-8"))


def write_json_atomic(data: dict, path: Path) -> None:
    write_text_atomic(json.dumps(data, indent=2) + "\n", path)


def write_array_atomic(array: np.ndarray, path: Path) -> None:
    """Write an array as .npy (exactly as given: dtype and shape)."""

    def write(partial: Path) -> None:
        with open(partial, "wb") as file:  # a file object: np.save would append .npy to a path
            np.save(file, array, allow_pickle=False)

    write_atomic(path, write)


def copy_atomic(source: Path, path: Path) -> None:
    write_atomic(path, lambda partial: shutil.copyfile(source, partial))


def build_folder_once(target: Path, build: Callable[[Path], None], done: Path) -> Path:
    """Return `target`, first calling `build(folder)` to make it unless `done` (a path it writes) exists.

    One builder at a time (a file lock), and the build goes to a temporary folder renamed into place, so a
    failed or killed build never leaves a half-written folder under the final name.
    """
    if done.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        # A process that waited finds the finished folder and returns it.
        if done.exists():
            return target
        tmp = target.parent / f".tmp-{target.name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("Building %s", target)
        start = time.perf_counter()
        try:
            build(tmp)
            shutil.rmtree(target, ignore_errors=True)  # an incomplete folder from an older layout
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        log.info("Built %s in %.1f s", target, time.perf_counter() - start)
    return target
