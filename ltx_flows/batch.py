"""Batches: which storyboard files a list of paths, folders and globs names, and where renders go."""

import glob
from pathlib import Path

from .storyboard import StoryboardError, load_storyboard

_SUFFIXES = (".yaml", ".yml")


def find_storyboards(specs: list[str], root: Path | None = None) -> tuple[list[Path], dict[str, str]]:
    """The storyboard files that `specs` name, in order and without repeats, and the specs that cannot be rendered.

    A spec is a file, a folder (its *.yaml and *.yml files, not its subfolders) or a glob
    (`**` reaches into subfolders). A spec that names nothing, or a storyboard whose `name` an
    earlier one already uses (both would write the same output folder), is reported with why.
    """
    files: list[Path] = []
    problems: dict[str, str] = {}
    for spec in specs:
        path = Path(spec)
        if glob.has_magic(spec):
            found = [Path(p) for p in sorted(glob.glob(spec, recursive=True)) if Path(p).suffix in _SUFFIXES]
        elif path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in _SUFFIXES and p.is_file())
        elif path.exists():
            found = [path]
        else:
            problems[spec] = "no such file or folder"
            continue
        if not found:
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


def render_folder(out: str) -> Path:
    """The folder renders go to. It must be a path every worker sees (a local or mounted shared folder)."""
    if "://" in out:
        raise ValueError(
            f"out={out!r}: renders go to a folder path, not a URL. ffmpeg writes and stitches files in place, so "
            "object storage needs a mount every worker shares (e.g. mountpoint-s3, s3fs or gcsfuse) at the same path; "
            "pass that path."
        )
    return Path(out)
