"""The `ltx-flows` command line: validate, plan, render, schema, presets, download.

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
    out_console.print(_calls_table(render_plan))


def _calls_table(render_plan: RenderPlan) -> Table:
    """Each pipeline call of a shot and its keyword arguments (what `plan --json` lists under `calls`)."""
    vram = render_plan.vram
    caption = (
        f"GPU memory, estimate (bf16, longest shot, {vram.tokens} tokens): ~{vram.resident_gb:g} GB resident, "
        f"~{vram.model_offload_gb:g} GB with cpu_offload, ~{vram.sequential_offload_gb:g} GB with sequential offload"
        if vram else None
    )
    table = Table(title="pipeline calls per shot (besides prompt, frames, conditions and tensors)", caption=caption)
    for column in ("step", "pipeline", "keyword arguments", "LoRA"):
        table.add_column(column)
    for call in render_plan.calls:
        kwargs = ", ".join(f"{key}={value!r}" for key, value in call.kwargs.items())
        table.add_row(call.step, call.pipeline, kwargs, call.lora or "-")
    return table


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
    from .flow import progress_log, render_batch

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
            state = render_batch(
                [str(file) for file in files], str(out), str(root) if root else None, force, cluster, return_state=True
            )
            summary = state.result(raise_on_failure=False)
            if isinstance(summary, BaseException):  # the batch itself broke (e.g. an unreachable cluster)
                raise summary
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


@app.command()
def presets(
    as_json: Annotated[bool, typer.Option("--json", help="Print the presets as JSON.")] = False,
) -> None:
    """List the model presets: generation, checkpoint, upsampler, LoRAs."""
    from .presets import presets_json

    found = presets_json()
    if as_json:
        print(json.dumps(found, indent=2))
        return
    table = Table(title="model presets")
    for column in ("preset", "generation", "checkpoint", "upsampler", "stage-2 LoRA", "IC-LoRAs"):
        table.add_column(column)
    for preset in found:
        loras = "\n".join(f"{kind}: {lora}" for kind, lora in preset["loras"].items()) or "-"
        table.add_row(preset["name"], preset["generation"], preset["checkpoint"], preset["upsampler"] or "-",
                      preset["stage2_lora"] or "-", loras)
    out_console.print(table)


@app.command()
def download(
    files: Annotated[Optional[list[Path]], typer.Argument(help="Storyboard YAML files.", show_default=False)] = None,
    preset: Annotated[Optional[list[str]], typer.Option(help="A preset name (repeatable).")] = None,
    tiny: Annotated[bool, typer.Option("--tiny", help="Write the tiny twins under the real repo ids instead.")] = False,
    root: Root = None,
) -> None:
    """Fill the Hugging Face cache with every weight the storyboards or presets need, before a run.

    Checkpoint, latent upsampler, stage-2 LoRA, IC-LoRAs and detector weights; the cache is
    huggingface_hub's ($HF_HOME / $HF_HUB_CACHE). Reports what it fetched and how large it is.
    """
    from .prefetch import fetch, human_size, install_tiny, preset_needs, storyboard_needs
    from .presets import PRESETS

    if not files and not preset:
        err_console.print("name storyboard files or --preset NAME (one of: " + ", ".join(PRESETS) + ")")
        raise typer.Exit(EXIT_INVALID)
    unknown = [name for name in preset or [] if name not in PRESETS]
    if unknown:
        err_console.print(f"unknown preset {', '.join(unknown)}: expected one of {', '.join(PRESETS)}")
        raise typer.Exit(EXIT_INVALID)
    needs = [need for name in preset or [] for need in preset_needs(name)]
    for _, storyboard in _load_all(files or [], root):
        needs += storyboard_needs(storyboard)
    seen, unique = set(), []
    for need in needs:
        if (need.repo, need.what, tuple(need.files)) not in seen:
            seen.add((need.repo, need.what, tuple(need.files)))
            unique.append(need)
    if tiny:
        from huggingface_hub import constants

        done = install_tiny(unique, Path(constants.HF_HUB_CACHE))
    else:
        done = fetch(unique)
    table = Table(title="tiny twins written to the Hugging Face cache" if tiny else "in the Hugging Face cache")
    for column in ("repo", "what", "files", "size"):
        table.add_column(column)
    for item in done:
        table.add_row(item.repo, item.what, str(item.files), human_size(item.bytes))
    table.add_row("total", "", str(sum(i.files for i in done)), human_size(sum(i.bytes for i in done)))
    out_console.print(table)


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
