"""Batches: which storyboard files a list of paths, folders and globs names, where renders go, and
which folders a run may read and write at all.

A deployment's parameters (storyboards, root, out) can be set by anyone who can start a run in the
Prefect UI or API. The worker's own configuration names the folders runs may touch:
`LTX_FLOWS_ALLOWED_ROOTS`, a list of folders separated by `os.pathsep` (`:` on Linux), set in the
worker's environment or the work pool's job variables. Storyboards, `root` and `out` must resolve
(symlinks followed) inside one of them; a run's `root` can only narrow that further.
"""

import glob
import os
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from ..finish.decoded import Decoded
from ..finish.film import finish_storyboard, shots_to_render
from ..finish.versions import FilmKey, batch_summary, film_label
from ..plan.planner import RenderPlan, ShotPlan
from ..plan.versions import film_folder, plan_versions, unique_shots
from ..storyboard.loading import Version, load_storyboard
from ..storyboard.problems import StoryboardError, path_error
from .lock import FilmBusy, film_lock

_SUFFIXES = (".yaml", ".yml")
ALLOWED_ROOTS_VARIABLE = "LTX_FLOWS_ALLOWED_ROOTS"


class BatchFailed(RuntimeError):
    """A batch in which some storyboards failed; `summary` holds {"succeeded": ..., "failed": ...}."""

    def __init__(self, message: str, summary: dict | None = None):
        super().__init__(message)
        self.summary = summary or {"succeeded": {}, "failed": {}}


class OutsideAllowedRoots(ValueError):
    """A run parameter names a path outside the folders this worker allows."""


def allowed_roots(default: Path | None = None) -> list[Path] | None:
    """The folders runs may read and write: `$LTX_FLOWS_ALLOWED_ROOTS`, else `default`; None means anywhere."""
    value = os.environ.get(ALLOWED_ROOTS_VARIABLE)
    if value is None:
        return [default.resolve()] if default is not None else None
    return [Path(part).resolve() for part in value.split(os.pathsep) if part]


def confine(path: Path | str, roots: list[Path] | None, what: str) -> Path:
    """`path`, resolved; raises OutsideAllowedRoots when it is outside every one of `roots` (None: no limit)."""
    full = Path(path).resolve()  # follows symlinks: a link out of an allowed folder is outside
    if roots is not None and not _inside(full, roots):
        raise OutsideAllowedRoots(
            f"{what} {str(path)!r} is outside the folders this worker may use ({os.pathsep.join(map(str, roots)) or 'none'}); "
            f"the worker's {ALLOWED_ROOTS_VARIABLE} names them"
        )
    return full


def find_storyboards(
    specs: list[str], root: Path | None = None, allowed: list[Path] | None = None
) -> tuple[list[Path], dict[str, str]]:
    """The storyboard files that `specs` name, in order and without repeats, and the specs that cannot be rendered.

    A spec is a file, a folder (its *.yaml and *.yml files, not its subfolders) or a glob
    (`**` reaches into subfolders). A spec that names nothing, or a storyboard whose `name` an
    earlier one already uses (both would write the same output folder), is reported with why.
    With `allowed`, files outside those folders are reported and never opened.
    """
    files: list[Path] = []
    problems: dict[str, str] = {}
    for spec in specs:
        path = Path(spec)
        try:
            magic = glob.has_magic(spec)
            if allowed is not None and not magic and not _inside(path, allowed):
                # Said before looking, so a run cannot even learn what exists outside.
                problems[spec] = f"outside the folders this worker may read ({ALLOWED_ROOTS_VARIABLE})"
                continue
            # A file that exists is taken as named, before glob expansion: `take[1].yaml` is a file name, not a
            # pattern. Looked for only where it may be read; lexists, so a symlink loop is named as one below.
            pattern = magic and not ((allowed is None or _inside(path, allowed)) and os.path.lexists(spec))
            if pattern:
                found = [Path(p) for p in sorted(glob.glob(spec, recursive=True)) if Path(p).suffix in _SUFFIXES]
            elif path.is_dir():
                found = sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES and p.is_file())
            else:
                path.stat()  # exists() says False for a symlink loop as for a missing file: stat() says which
                found = [path]
            outside = [file for file in found if allowed is not None and not _inside(file, allowed)]
        except FileNotFoundError:
            problems[spec] = "no such file or folder"
            continue
        except (RuntimeError, OSError) as error:
            problems[spec] = f"cannot be opened: {path_error(error)}"
            continue
        if outside:
            problems[spec] = f"{len(outside)} file(s) outside the folders this worker may read ({ALLOWED_ROOTS_VARIABLE}); skipped"
            found = [file for file in found if file not in outside]
        if not found and spec not in problems:
            problems[spec] = "matches no storyboard files (*.yaml, *.yml)"
        files += [file for file in found if file not in files]

    names: dict[str, Path] = {}
    unique = []
    for file in files:
        try:
            name = load_storyboard(file, root).name
        except StoryboardError:
            unique.append(file)  # its own run reports every problem
            continue
        if name in names:
            problems[str(file)] = f"its name `{name}` is already used by {names[name]}; both would render into the same folder"
            continue
        names[name] = file
        unique.append(file)
    return unique, problems


def _inside(path: Path, roots: list[Path]) -> bool:
    full = path.resolve()
    return any(full.is_relative_to(root) for root in roots)


def render_folder(out: str) -> Path:
    """The folder renders go to. It must be a path every worker sees (a local or mounted shared folder)."""
    if "://" in out:
        raise ValueError(
            f"out={out!r}: renders go to a folder path, not a URL. ffmpeg writes and stitches files in place, so "
            "object storage needs a mount every worker shares (e.g. mountpoint-s3, s3fs or gcsfuse) at the same path; "
            "pass that path."
        )
    return Path(out)


def check_writable(out: Path) -> None:
    """Raise OSError (saying what to do) unless files can be created in `out`; it is created if missing.

    Checked before any model loads, so a read-only or full output folder costs seconds, not a night.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".ltx-flows-write-check-"):
            pass
    except OSError as error:
        raise OSError(f"cannot write into the output folder {out}: {error.strerror or error}; "
                      "pass a writable --out (or fix its permissions)") from None


@dataclass
class PlannedFilm:
    """One storyboard of a batch, planned, its film's lock held: which shots need a render, which are unchanged."""

    file: Path
    plan: RenderPlan
    film_dir: Path
    pending: list[ShotPlan]  # the shots to render
    cached: dict[str, dict]  # shot id -> cache record of its unchanged clip
    lock: ExitStack  # holds this film's lock (also released when the `locks` it was planned with close)


def plan_films(versions: list[Version], file: Path, out: str, force: bool, locks: ExitStack,
               rendered_only: bool = False) -> list[PlannedFilm] | None:
    """Plan every version of a storyboard (one film, or one per variant), take each film's lock (held until `locks`
    closes; FilmBusy if another render holds it) and ask the shot cache which shots need a render. With
    `rendered_only`, None when a film was never rendered into `out` (nothing can be cached there, and nothing is
    created)."""
    films = []
    for plan in plan_versions(versions, file):
        film_dir = render_folder(out) / film_folder(plan)
        if rendered_only and not film_dir.is_dir():
            return None
        lock = ExitStack()
        locks.callback(lock.close)
        lock.enter_context(film_lock(film_dir))  # one writer per film: a second run fails at once
        pending, cached = shots_to_render(plan, film_dir, force)
        films.append(PlannedFilm(file, plan, film_dir, pending, cached, lock))
    return films


def finish_unchanged(loaded: list[tuple[Path, list[Version]]], out: str, say: Callable[[str], None]) -> dict | None:
    """When no shot of any file needs a render, finish every film here (no model, no Prefect) and return
    the batch summary, as the flow would; None when something needs rendering. `say` hears one line per film.

    The shot cache's own checks decide what is unchanged; a film is stitched again only when it
    no longer matches its storyboard, and every manifest is written anew. Each film's lock is held
    from the cache check to its manifest, as in the flow (lock.py).
    """
    succeeded: dict[FilmKey, dict] = {}
    failed: dict[FilmKey, str] = {}
    with ExitStack() as locks:
        finishing = []
        for file, versions in loaded:  # validated once, by the caller
            try:
                films = plan_films(versions, file, out, force=False, locks=locks, rendered_only=True)
            except FilmBusy as error:
                failed[(str(file), None)] = str(error)
                continue
            if films is None or any(film.pending for film in films):
                return None
            finishing += films
        decoded = Decoded()  # films of the same clips (variants) decode them once, as in the flow
        for film in finishing:
            key = (str(film.file), film_label(film.plan.variant, film.plan.deliverable))
            try:
                finished = finish_storyboard(film.plan, film.film_dir, film.cached, decoded)
            except Exception as error:  # e.g. a clip that no longer decodes: said as the flow would say it
                failed[key] = f"{film.plan.name}: {error}"
                continue
            say(f"{film.plan.name}: every shot unchanged, film {'unchanged' if not finished.stitched else 'stitched again'}")
            succeeded[key] = finished.summary(film.plan, film.cached)
    unique = {str(file): unique_shots([film.plan for film in finishing if film.file == file]) for file, _ in loaded}
    return batch_summary([str(file) for file, _ in loaded], succeeded, failed, unique=unique)
