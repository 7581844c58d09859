"""`ltx-flows pick FILE SHOT TAKE`: write a take's seed into the storyboard (comments and layout kept)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..plan.takes import pick_take
from ..storyboard.editing import EditError
from ..storyboard.problems import StoryboardError

EXIT_INVALID = 2


def pick(
    file: Annotated[Path, typer.Argument(help="Storyboard YAML file.", show_default=False)],
    shot: Annotated[str, typer.Argument(help="The shot's id.", show_default=False)],
    take: Annotated[int, typer.Argument(help="The take, numbered from 1 as the review page shows it.", show_default=False)],
    root: Annotated[Optional[Path], typer.Option(help="Workspace root (default: the current directory).")] = None,
) -> None:
    """Pick a take: set the shot's `seed` to that take's. The next render re-makes the film from the cached take,
    generating nothing."""
    try:
        seed = pick_take(file, shot, take, root)
    except (ValueError, EditError, StoryboardError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(f"{file}: shot {shot} now uses take {take} (seed {seed}); `ltx-flows render {file}` re-makes the film "
               "from its cached clip")
