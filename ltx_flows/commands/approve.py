"""`ltx-flows approve FILE SHOT`: pin the shot's clip by its hash (storyboard/approvals.py)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..production.lock import FilmBusy, film_lock
from ..storyboard.approvals import approvals_path, approve_shot
from ..storyboard.loading import load_storyboard
from ..storyboard.problems import StoryboardError

EXIT_INVALID = 2


def approve(
    file: Annotated[Path, typer.Argument(help="Storyboard YAML file.", show_default=False)],
    shot: Annotated[str, typer.Argument(help="The shot's id.", show_default=False)],
    out: Annotated[Path, typer.Option(help="The renders folder the film was rendered into.")] = Path("renders"),
    root: Annotated[Optional[Path], typer.Option(help="Workspace root (default: the current directory).")] = None,
) -> None:
    """Approve a shot: its clip is never rendered again (not by `--force`, not by a changed model setting) until the
    shot's own entry in the storyboard changes."""
    try:
        film_dir = out / load_storyboard(file, root).name
        with film_lock(film_dir):  # not while a render replaces the clip being pinned
            entry = approve_shot(file, shot, film_dir, root)
    except (ValueError, StoryboardError, FilmBusy) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(f"{file}: shot {shot} approved (clip sha256 {entry['sha256'][:16]}…), pinned in {approvals_path(file)}")
