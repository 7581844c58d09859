"""The `ltx-flows` command line: validate, plan, render, schema.

Heavy imports (torch, diffusers, prefect) happen only in `render`, so checking
storyboards stays instant.
"""

import json
import logging
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .plan import RenderPlan, ShotPlan, plan_storyboard
from .storyboard import Storyboard, StoryboardError, load_storyboard, storyboard_json_schema

app = typer.Typer(
    help="Turn storyboard YAML into finished videos with LTX models.", no_args_is_help=True, pretty_exceptions_enable=False
)
out_console = Console()
err_console = Console(stderr=True)

EXIT_INVALID = 2

Files = Annotated[list[Path], typer.Argument(help="Storyboard YAML files.", show_default=False)]
Root = Annotated[
    Optional[Path],
    typer.Option(help="Workspace root: media paths must resolve inside it. Default: the current directory."),
]


def _load_all(files: list[Path], root: Optional[Path], say_ok: bool = False) -> list[tuple[Path, Storyboard]]:
    """Validate every file; print every problem of every file; exit 2 if any is invalid."""
    loaded, failed = [], False
    for file in files:
        try:
            storyboard = load_storyboard(file, root)
        except StoryboardError as error:
            failed = True
            for problem in error.problems:
                err_console.print(problem.format(file), markup=False, highlight=False, soft_wrap=True)
            continue
        loaded.append((file, storyboard))
        if say_ok:
            out_console.print(f"[green]ok[/green] {file}: {len(storyboard.shots)} shots", soft_wrap=True)
    if failed:
        raise typer.Exit(EXIT_INVALID)
    return loaded


@app.command()
def validate(files: Files, root: Root = None) -> None:
    """Check storyboards; print every problem as file:line:col. Exit code 2 if any is invalid."""
    _load_all(files, root, say_ok=True)


@app.command()
def plan(
    file: Annotated[Path, typer.Argument(help="Storyboard YAML file.", show_default=False)],
    root: Root = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Show what will be rendered: frames asked and rendered, seeds, keyframes, content hashes, long-take segments."""
    [(file, storyboard)] = _load_all([file], root)
    render_plan = plan_storyboard(storyboard, file)
    if as_json:
        print(render_plan.model_dump_json(indent=2))
        return
    out_console.print(_plan_table(render_plan))
    for shot in render_plan.shots:
        if shot.segments:
            out_console.print(_segments_table(shot))


def _plan_table(render_plan: RenderPlan) -> Table:
    output = render_plan.output
    table = Table(
        title=f"{render_plan.name}: {output.width}x{output.height} @ {output.fps} fps, "
        f"{render_plan.film_frames} frames ({render_plan.film_seconds:.2f}s), model {render_plan.model.family} "
        f"{render_plan.model.checkpoint}{', two-pass' if render_plan.model.two_pass else ''}, sound: {render_plan.audio}"
    )
    for column in ("shot", "frames (asked -> rendered)", "seconds", "seed", "keyframes", "control", "into next",
                   "content hash"):
        table.add_column(column)
    for shot in render_plan.shots:
        # LTX-2 moves keyframes onto its latent grid: show where each one lands.
        keyframes = ", ".join(
            f"{k.image.name}@{k.frame}" + (f" (at {k.model_frame})" if k.model_frame != k.frame else "")
            for k in shot.keyframes
        ) or "-"
        control = f"{shot.control.kind} {shot.control.source.name}" if shot.control else "-"
        join = f"crossfade {shot.crossfade_frames}f" if shot.transition == "crossfade" else "cut"
        frames = f"{shot.requested_frames} -> {shot.frames}" + (f" in {len(shot.segments)} segments" if shot.segments else "")
        table.add_row(
            shot.id, frames, f"{shot.seconds:.2f}", str(shot.seed),
            keyframes, control, join if shot is not render_plan.shots[-1] else "-", shot.content_hash[:12],
        )
    return table


def _segments_table(shot: ShotPlan) -> Table:
    table = Table(
        title=f"long take {shot.id}: {len(shot.segments)} segments, {shot.overlap} frames shared at each join, "
        f"{shot.frames} frames in all"
    )
    for column in ("segment", "shot frames", "seed", "continues frames", "keyframes (local frame)", "prompt", "content hash"):
        table.add_column(column)
    for segment in shot.segments:
        condition = segment.condition
        tail = f"{condition.first_frame}-{condition.last_frame} @ {condition.strength:g}" if condition else "-"
        keyframes = ", ".join(f"{k.image.name}@{k.frame}" for k in segment.keyframes) or "-"
        table.add_row(
            f"{segment.index + 1}/{len(shot.segments)}", f"{segment.start}-{segment.start + segment.frames - 1} "
            f"({segment.frames})", str(segment.seed), tail, keyframes, segment.prompt, segment.content_hash[:12],
        )
    return table


@app.command()
def render(
    files: Files,
    out: Annotated[Path, typer.Option(help="Output folder; each film goes to OUT/<name>/.")] = Path("renders"),
    root: Root = None,
    force: Annotated[bool, typer.Option("--force", help="Render every shot, even those whose clips are unchanged.")] = False,
    cluster: Annotated[
        Optional[str], typer.Option(help="Dask scheduler address (tcp://host:8786) whose GPU workers render the shots.")
    ] = None,
) -> None:
    """Render storyboards through the Prefect flow `render-batch` (one `render-storyboard` run each).

    Shots whose clips are unchanged since the last render are reused. With no
    PREFECT_API_URL set, Prefect runs a local ephemeral API (no server to start); with one
    set, runs are reported to that server and show in its UI.
    """
    _load_all(files, root)  # every file is checked before any GPU work starts
    # Before Prefect reads its settings: a render sends nothing off the machine (and the
    # telemetry service's first write races the ephemeral server's database).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The ephemeral API's first start creates its database; Prefect's 20 s default is too short
    # for that on a busy machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    _check_before_render(out)  # after the settings above: it may read Prefect's profile
    from .batch import BatchFailed
    from .flow import progress_log, render_batch
    from .stop import stop_on_interrupt

    failed = False
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err_console
    ) as progress:
        bars: dict[str, int] = {}

        class _ProgressHandler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                name = record.storyboard
                if name not in bars:
                    bars[name] = progress.add_task(f"{name} shots", total=record.total)
                progress.update(bars[name], completed=record.done)

        handler = _ProgressHandler()
        progress_log.addHandler(handler)
        progress_log.setLevel(logging.INFO)
        progress_log.propagate = False  # the bar shows it; no need for a log line too
        try:
            try:
                with stop_on_interrupt():
                    state = render_batch(
                        [str(file) for file in files], str(out), str(root) if root else None, force, cluster,
                        return_state=True,
                    )
            except KeyboardInterrupt:
                progress.console.print("[red]stopped[/red]: no film was finished; finished clips are kept for the next run")
                raise typer.Exit(130) from None
            summary = state.result(raise_on_failure=False)
            if isinstance(summary, BatchFailed):
                summary = summary.summary
            elif isinstance(summary, BaseException):  # the batch itself broke (e.g. an unreachable cluster)
                progress.console.print(f"[red]failed[/red] {escape(str(summary))}", highlight=False)
                raise typer.Exit(1)
            for result in summary["succeeded"].values():
                progress.console.print(f"[green]film[/green] {result['film']}", highlight=False)
            for file, why in summary["failed"].items():
                failed = True
                progress.console.print(f"[red]failed[/red] {escape(file)}: {escape(why)}", highlight=False)
        finally:
            progress_log.removeHandler(handler)
            progress_log.propagate = True
    if failed:
        raise typer.Exit(1)


def _check_before_render(out: Path) -> None:
    """What would otherwise fail after the models loaded: an output folder we cannot write, an unreachable API."""
    from .batch import check_writable

    api = os.environ.get("PREFECT_API_URL") or _profile_api_url()
    if api:
        import httpx

        try:
            httpx.get(f"{api.rstrip('/')}/health", timeout=10).raise_for_status()
        except httpx.HTTPError as error:
            err_console.print(
                f"error: cannot reach the Prefect API at {api} ({type(error).__name__}: {error}); start it "
                "(`prefect server start`) or unset PREFECT_API_URL to render with a temporary local one",
                markup=False, highlight=False, soft_wrap=True,
            )
            raise typer.Exit(1) from None
    try:
        check_writable(out)
    except OSError as error:
        err_console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _profile_api_url() -> str | None:
    # PREFECT_API_URL may also come from the active Prefect profile (`prefect config set`).
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@app.command()
def schema(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the field reference as Markdown instead.")] = False,
) -> None:
    """Print the storyboard JSON Schema (generated from the models) for editors."""
    if markdown:
        from .reference import storyboard_reference_markdown

        print(storyboard_reference_markdown(), end="")
        return
    print(json.dumps(storyboard_json_schema(), indent=2))


if __name__ == "__main__":
    app()
