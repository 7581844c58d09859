"""`ltx-flows enhance FILE [--write]`: the enhanced prompt of every shot that asks for one (`enhance_prompt`), made
by the film's model as a render makes it (and cached in the same place, so the render reuses it); `--write` puts
them into the storyboard as the shots' prompts and turns their enhancement off, so an editor can freeze them."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..plan.versions import film_folder, plan_versions
from ..storyboard.editing import EditError, set_shot_fields
from ..storyboard.loading import load_versions
from ..storyboard.problems import StoryboardError

EXIT_INVALID = 2


def enhance(
    file: Annotated[Path, typer.Argument(help="Storyboard YAML file.", show_default=False)],
    write: Annotated[bool, typer.Option("--write/--no-write", metavar="",
                                        help="Write the enhanced prompts into FILE (comments and layout kept) and set "
                                             "those shots' `enhance_prompt: false`.")] = False,
    out: Annotated[Path, typer.Option(help="Output folder whose render cache holds enhanced prompts (OUT/NAME/enhanced/).")] = Path("renders"),
    root: Annotated[Optional[Path], typer.Option(help="Workspace root (default: the current directory).")] = None,
) -> None:
    """Print each enhanced shot's prompt as the model's enhancer rewrites it (loading the model if not cached)."""
    # Here, not at the top: importing the CLI loads no torch (render.enhance loads the model code).
    from ..models.checkpoints import not_cached
    from ..render.enhance import enhanced_text

    try:
        versions = load_versions(file, root)
    except StoryboardError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    if write and len(versions) > 1:
        typer.echo(f"error: {file} has variants: each may enhance its prompts differently, and writing one variant's "
                   "text would replace the `${{var}}` templates of every other; run without --write", err=True)
        raise typer.Exit(EXIT_INVALID)
    edits: dict[str, dict] = {}
    for plan in plan_versions(versions, file):
        for shot in plan.shots:
            if shot.enhance is None or shot.id in edits:
                continue
            try:
                text = enhanced_text(plan, shot.enhance, out / film_folder(plan), shot.id)
            except OSError as error:  # a model missing from the cache: what to run, not the hub's paragraph
                if (missing := not_cached(error, file)) is None:
                    raise
                typer.echo(f"error: {missing}", err=True)
                raise typer.Exit(1) from None
            label = f"{plan.variant}/{shot.id}" if plan.variant else shot.id
            typer.echo(f"{label}: {text}")
            edits[shot.id] = {"prompt": text, "enhance_prompt": False}
    if not edits:
        typer.echo(f"{file}: no shot asks for `enhance_prompt`")
        return
    if write:
        try:
            set_shot_fields(file, edits, root, what="writing the enhanced prompts")
        except EditError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(EXIT_INVALID) from None
        typer.echo(f"{file}: {len(edits)} prompt{'s' if len(edits) != 1 else ''} written, their enhancement off")
