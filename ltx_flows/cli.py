"""The `ltx-flows` command line: validate, plan, render, schema, presets, download.

Heavy imports (torch, diffusers, prefect) happen only in `render`, so checking
storyboards stays instant.
"""

import json
import logging
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .production.batch import find_storyboards
from .plan.planner import RenderPlan, RetakePlan, ShotPlan, plan_storyboard
from .render.stop import STOPPED_MESSAGE
from .storyboard.loading import load_storyboard, read_storyboard_text
from .storyboard.models import Storyboard
from .storyboard.problems import Problem, StoryboardError
from .storyboard.schema import storyboard_json_schema

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode="markdown")
out_console = Console(highlight=False)
# One console for everything on stderr: our progress display and Prefect's log lines (routed here
# in `render`). Markup, emoji codes and highlighting are off by default, so log text such as
# `[0:v:0]` prints as it is; our own lines ask for markup where they use it.
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False)

EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130

Files = Annotated[
    list[str],
    typer.Argument(help="Storyboard YAML files, folders (their *.yaml and *.yml) or globs (`**` reaches into subfolders).",
                   show_default=False),
]
Root = Annotated[
    Optional[Path],
    typer.Option(help="Workspace root: media paths must resolve inside it. Default: the current directory."),
]


def _version(value: bool) -> None:
    if value:
        print(f"ltx-flows {metadata.version('ltx-flows')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", metavar="", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Turn storyboard YAML into finished videos with LTX models.

    Exit codes: 0 ok, 1 a render failed, 2 invalid input, 130 interrupted.

    143: stopped by SIGTERM (`timeout`, systemd, Docker), as by Ctrl-C.
    """


def _source_excerpt(file: Path, problem: Problem, color: bool) -> list[Text]:
    """The problem's source line with a caret under its column (coloured on a terminal)."""
    if not problem.quote_source:
        return []
    try:  # read as loading reads it: a regular file of bounded size only
        lines = read_storyboard_text(file).splitlines()
    except StoryboardError:
        return []
    if not 1 <= problem.line <= len(lines) or not lines[problem.line - 1].strip():
        return []
    gutter = f"{problem.line:>5} | "
    source = Text(gutter + lines[problem.line - 1].expandtabs(1))
    caret = Text(" " * (len(gutter) - 2) + "| " + " " * (problem.column - 1) + "^", style="bold red" if color else "")
    return [source, caret]


def _print_problem(file: Path, problem: Problem) -> None:
    color = err_console.is_terminal
    err_console.print(Text(problem.format(file), style="bold" if color else ""), soft_wrap=True)
    for line in _source_excerpt(file, problem, color):
        err_console.print(line, soft_wrap=True)


def _resolve(specs: list[str], root: Optional[Path]) -> tuple[list[Path], list[tuple[Path, Problem]]]:
    """The storyboard files that specs name (files, folders, globs), and a problem for each spec that names none."""
    files, unmatched = find_storyboards(specs, root)
    return files, [(Path(spec), Problem(line=1, column=1, where="", message=why)) for spec, why in unmatched.items()]


def _check(specs: list[str], root: Optional[Path]) -> tuple[list[tuple[Path, Storyboard]], list[tuple[Path, Problem]]]:
    """Every storyboard the specs name, validated: (the good ones, every problem of the others)."""
    files, problems = _resolve(specs, root)
    loaded = []
    for file in files:
        try:
            loaded.append((file, load_storyboard(file, root)))
        except StoryboardError as error:
            problems += [(file, problem) for problem in error.problems]
    return loaded, problems


def _load_all(specs: list[str], root: Optional[Path]) -> list[tuple[Path, Storyboard]]:
    """Validate every storyboard; print every problem of every file; exit 2 if any is invalid."""
    loaded, problems = _check(specs, root)
    for file, problem in problems:
        _print_problem(file, problem)
    if problems:
        raise typer.Exit(EXIT_INVALID)
    return loaded


def _github_escape(text: str, property_value: bool = False) -> str:
    # GitHub workflow commands: data escapes %, CR and LF; property values also : and ,
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


@app.command()
def validate(
    files: Files,
    root: Root = None,
    output_format: Annotated[
        str, typer.Option("--format", help="`text` for people; `json` (a list of problems) or `github` (workflow "
                                           "annotations) for tools.", case_sensitive=False),
    ] = "text",
) -> None:
    """Check storyboards and print every problem as file:line:col. Exit code 2 if any is invalid."""
    if output_format not in ("text", "json", "github"):
        err_console.print(f"--format {output_format!r}: use text, json or github")
        raise typer.Exit(EXIT_INVALID)
    loaded, problems = _check(files, root)
    if output_format == "json":
        print(json.dumps([
            {"file": str(file), "line": p.line, "column": p.column, "path": p.where, "message": p.message}
            for file, p in problems
        ], indent=2))
    elif output_format == "github":
        for file, p in problems:
            where = f"{p.where}: " if p.where else ""
            print(f"::error file={_github_escape(str(file), True)},line={p.line},col={p.column}::"
                  f"{_github_escape(where + p.message)}")
    else:
        for file, problem in problems:
            _print_problem(file, problem)
        for file, storyboard in loaded:
            out_console.print(f"[green]ok[/green] {escape(str(file))}: {len(storyboard.shots)} shots", soft_wrap=True)
    if problems:
        raise typer.Exit(EXIT_INVALID)


@app.command()
def plan(
    file: Annotated[str, typer.Argument(help="Storyboard YAML file.", show_default=False)],
    root: Root = None,
    as_json: Annotated[bool, typer.Option("--json/--no-json", metavar="", help="Print the plan as JSON.")] = False,
) -> None:
    """Show what will be rendered: frames asked and rendered, seeds, keyframes, content hashes, long-take segments,
    retakes, each pipeline call's arguments and a GPU memory estimate."""
    loaded = _load_all([file], root)
    if len(loaded) != 1:
        err_console.print(f"{file}: names {len(loaded)} storyboards; `plan` shows one at a time")
        raise typer.Exit(EXIT_INVALID)
    [(file, storyboard)] = loaded
    render_plan = plan_storyboard(storyboard, file)
    if as_json:
        print(render_plan.model_dump_json(indent=2))
        return
    width = out_console.width
    parts = _plan_table(render_plan, width)
    for shot in render_plan.shots:
        if shot.segments:
            parts += _segments_table(shot, width)
        if shot.retakes:
            parts += _retakes_table(shot, width)
    parts += _calls_table(render_plan, width)
    for part in parts:
        out_console.print(part)


@dataclass(frozen=True)
class _Column:
    name: str
    whole: bool = False  # ids, numbers and ranges: never wrapped, folded only where nothing else can give


# A column whose text wraps still needs this many characters to read (a prompt, a list of keyframes).
_READABLE = 16


def _field_block(pairs: list[tuple[str, Text]]) -> Table:
    """A `field  value` line each, the value folded where it is longer than the line (never cut)."""
    block = Table.grid(padding=(0, 2))
    block.add_column(no_wrap=True, style="bold")
    block.add_column(overflow="fold")
    for name, value in pairs:
        block.add_row(name, value)
    return block


def _kwargs_text(kwargs: dict) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in kwargs.items())


def _table_or_blocks(title: str, columns: list[_Column], rows: list[list[str]], width: int,
                     caption: str | None = None) -> list:
    """A table, when its whole values and a readable width of the rest fit in `width` columns; else one block per row,
    a `column  value` line each, so nothing a user copies is cut and no column shrinks to a few letters.

    Every cell becomes Text here: user text (prompts, file names) is never read as rich markup."""
    title, caption = Text(title), Text(caption) if caption else None
    rows = [[Text(cell) for cell in row] for row in rows]
    natural = [max([len(column.name), *(cell.cell_len for cell in cells)])
               for column, cells in zip(columns, zip(*rows, strict=True) if rows else [()] * len(columns))]
    widths = [size if column.whole else min(size, _READABLE) for column, size in zip(columns, natural)]
    if sum(widths) + 3 * len(columns) + 1 <= width:  # borders and padding: 3 a column, 1 at the end
        table = Table(title=title, caption=caption)
        for column in columns:
            table.add_column(column.name, no_wrap=column.whole, overflow="fold")
        for row in rows:
            table.add_row(*row)
        return [table]
    blocks: list = [Text.assemble("\n", title, style="table.title")]
    for row in rows:
        blocks += [_field_block([(column.name, cell) for column, cell in zip(columns, row)]), Text("")]
    return blocks + ([caption] if caption else [])


def _calls_table(render_plan: RenderPlan, width: int) -> list:
    """Each pipeline call of a shot and its keyword arguments (what `plan --json` lists under `calls`), and the
    GPU memory estimate."""
    vram = render_plan.vram
    caption = (
        f"GPU memory, estimate (bf16, longest shot, {vram.tokens} tokens): ~{vram.resident_gb:g} GB resident, "
        f"~{vram.model_offload_gb:g} GB with cpu_offload, ~{vram.sequential_offload_gb:g} GB with sequential offload"
        if vram else
        f"GPU memory, estimate: none for checkpoint {render_plan.model.checkpoint} (the estimate needs a preset's "
        "model size: set `model.preset`)"
    )
    rows = [[call.step, call.pipeline, _kwargs_text(call.kwargs), call.lora or "-"] for call in render_plan.calls]
    columns = [_Column("step", whole=True), _Column("pipeline", whole=True), _Column("keyword arguments"),
               _Column("LoRA", whole=True)]
    return _table_or_blocks("pipeline calls per shot (besides prompt, frames, conditions and tensors)", columns,
                            rows, width, caption)


def _plan_table(render_plan: RenderPlan, width: int) -> list:
    output = render_plan.output
    title = (
        f"{render_plan.name}: {output.width}x{output.height} @ {output.fps} fps, "
        f"{render_plan.film_frames} frames ({render_plan.film_seconds:.2f}s), model {render_plan.model.family} "
        f"{render_plan.model.checkpoint}{', two-pass' if render_plan.model.two_pass else ''}, sound: {render_plan.audio}"
    )
    columns = [_Column("shot", whole=True), _Column("frames (asked -> rendered)"), _Column("seconds", whole=True),
               _Column("seed", whole=True), _Column("keyframes"), _Column("control"), _Column("into next"),
               _Column("content hash", whole=True)]
    rows = []
    for shot in render_plan.shots:
        # LTX-2 moves keyframes onto its latent grid: show where each one lands.
        keyframes = ", ".join(
            f"{k.image.name}@{k.frame}" + (f" (at {k.model_frame})" if k.model_frame != k.frame else "")
            for k in shot.keyframes
        ) or "-"
        control = f"{shot.control.kind} {shot.control.source.name}" if shot.control else "-"
        join = f"crossfade {shot.crossfade_frames}f" if shot.transition == "crossfade" else "cut"
        frames = f"{shot.requested_frames} -> {shot.frames}" + (f" in {len(shot.segments)} segments" if shot.segments else "")
        rows.append([
            shot.id, frames, f"{shot.seconds:.2f}", str(shot.seed), keyframes, control,
            join if shot is not render_plan.shots[-1] else "-", shot.content_hash[:12],
        ])
    return _table_or_blocks(title, columns, rows, width)


def _blended_back(r: RetakePlan) -> str:
    """The frames blended back at each edge of a retake's window (a window that runs to the shot's end has none
    after it)."""
    edges = [f"{start}-{end - 1}" for start, end in ((r.blend_start, r.start), (r.end, r.blend_end)) if end > start]
    return ", ".join(edges) or "-"


def _retakes_table(shot: ShotPlan, width: int) -> list:
    columns = [_Column("retake", whole=True), _Column("window (shot frames)"), _Column("generated"),
               _Column("held as conditions"), _Column("blended back"), _Column("seed", whole=True), _Column("sound"),
               _Column("prompt"), _Column("content hash", whole=True)]
    rows = []
    for r in shot.retakes:
        held = ", ".join(
            f"{h.first_frame}-{h.last_frame} at {h.at}" + (f" (latent {h.latent_index})" if h.latent_index is not None else "")
            for h in r.held
        ) or "-"
        rows.append([
            f"{r.index + 1}/{len(shot.retakes)}", f"{r.start}-{r.end - 1} ({r.end - r.start})",
            f"{r.clip_start}-{r.clip_start + r.clip_frames - 1} ({r.clip_frames})", held, _blended_back(r),
            str(r.seed), "regenerated" if r.sound else "kept", r.prompt, r.content_hash[:12],
        ])
    title = f"retakes of {shot.id}, applied in order on top of its render ({shot.frames} frames)"
    return _table_or_blocks(title, columns, rows, width)


def _segments_table(shot: ShotPlan, width: int) -> list:
    title = (
        f"long take {shot.id}: {len(shot.segments)} segments, {shot.overlap} frames shared at each join, "
        f"{shot.frames} frames in all"
    )
    columns = [_Column("segment", whole=True), _Column("shot frames"), _Column("seed", whole=True),
               _Column("continues frames"), _Column("keyframes (local frame)"), _Column("prompt"),
               _Column("content hash", whole=True)]
    rows = []
    for segment in shot.segments:
        condition = segment.condition
        tail = f"{condition.first_frame}-{condition.last_frame} @ {condition.strength:g}" if condition else "-"
        keyframes = ", ".join(f"{k.image.name}@{k.frame}" for k in segment.keyframes) or "-"
        rows.append([
            f"{segment.index + 1}/{len(shot.segments)}", f"{segment.start}-{segment.start + segment.frames - 1} "
            f"({segment.frames})", str(segment.seed), tail, keyframes, segment.prompt, segment.content_hash[:12],
        ])
    return _table_or_blocks(title, columns, rows, width)


@app.command()
def render(
    files: Files,
    out: Annotated[Path, typer.Option(help="Output folder; each film goes to OUT/NAME/ (NAME: the storyboard's `name`).")] = Path("renders"),
    root: Root = None,
    force: Annotated[
        bool, typer.Option("--force/--no-force", metavar="", help="Render every shot, even those whose clips are unchanged.")
    ] = False,
    cluster: Annotated[
        Optional[str],
        typer.Option(help="Dask scheduler address (tcp://host:8786) whose GPU workers render the shots; "
                     "the same as setting LTX_FLOWS_DASK_SCHEDULER."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose/--quiet", metavar="", help="Show Prefect's and the pipeline's log lines above the progress display.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json/--no-json", metavar="", help="Print a JSON summary (films, review pages, failures) on stdout.")
    ] = False,
) -> None:
    """Render storyboards through the Prefect flow `render-batch` (every shot of every file on the render slots).

    Shots whose clips are unchanged since the last render are reused. When nothing needs a
    render, the films are finished (stitched only if they changed) without a model or Prefect.
    With no PREFECT_API_URL set, the render starts a temporary local Prefect API server of its own (nothing
    to start; it ends with the render); with one set, runs are reported to that server and show in its UI.
    """
    loaded = _load_all(files, root)  # every file is checked before any GPU work starts
    if cluster:
        from .production.slots import SCHEDULER_ENV

        os.environ[SCHEDULER_ENV] = cluster
    from .render.stop import stop_on_signals

    summary = None
    try:
        with stop_on_signals() as stop:
            try:
                summary = _finish_or_render(loaded, out, root, force, verbose)
            except typer.Exit:
                raise
            except Exception as error:
                if stop.signum is None and (reason := _environment_fault(error)):
                    err_console.print(reason, soft_wrap=True)
                    raise typer.Exit(EXIT_FAILED) from None
                if stop.signum is None:
                    raise
    except KeyboardInterrupt:  # a Ctrl-C before the stop handlers were in place
        err_console.print(STOPPED_MESSAGE, style="red", soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if stop.signum is not None and (summary is None or summary["failed"]):  # else all finished before the stop
        for result in (summary or {}).get("succeeded", {}).values():
            err_console.print(Text.assemble(("film ", "green"), result["film"]), soft_wrap=True)
        err_console.print(STOPPED_MESSAGE, style="red", soft_wrap=True)
        raise typer.Exit(stop.exit_code)
    _report(summary, as_json)


def _finish_or_render(loaded: list[tuple[Path, Storyboard]], out: Path, root: Optional[Path], force: bool,
                      verbose: bool) -> dict:
    """Finish the films here when nothing needs a render, else render them through Prefect; the batch summary."""
    summary = None if force else _finish_unchanged(loaded, out)
    if summary is not None:
        return summary
    # Before Prefect reads its settings: a render sends nothing off the machine (and the
    # telemetry service's first write races the ephemeral server's database).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The temporary API's first start creates its database; Prefect's 20 s default is too short
    # for that on a busy machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if not os.environ.get("PREFECT_API_URL"):
        _check_prefect_home()  # before Prefect is imported: it creates its home then
    api = _check_api()  # after the settings above: it may read Prefect's profile
    _check_writable(out)
    names = list(dict.fromkeys(storyboard.name for _, storyboard in loaded))  # the names progress events carry
    return _render_batch(names, [str(file) for file, _ in loaded], out, root, force, verbose,
                         temporary_api=api is None)


def _report(summary: dict, as_json: bool) -> None:
    """Print a batch summary (films and review pages, or why each file failed); exit 1 if any failed."""
    if as_json:
        print(json.dumps(summary, indent=2))
    for result in summary["succeeded"].values():
        err_console.print(Text.assemble(("film ", "green"), result["film"], ("  review ", "green"), result.get("review", "-")),
                          soft_wrap=True)
    for file, why in summary["failed"].items():
        err_console.print(Text.assemble(("failed ", "red"), f"{file}: {why}"), soft_wrap=True)
    if summary["failed"]:
        raise typer.Exit(EXIT_FAILED)


def _route_prefect_logs(console: Console, verbose: bool) -> None:
    """Send Prefect's console log lines through `console` (so they print above the progress display, as
    written). Without `verbose` only our own warnings print: Prefect's lines (its ERROR lines repeat each
    failure the CLI's report states once) and the Hugging Face libraries' warnings are left to the run's
    logs (the Prefect UI) and to --verbose."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.console = console
                handler.setLevel(logging.NOTSET if verbose else logging.WARNING)
                if verbose:
                    handler.removeFilter(_not_prefect)
                else:
                    handler.addFilter(_not_prefect)
    if not verbose:
        # Each library sets its logger's level from its variable when it is first imported (in the render, after
        # this), and diffusers and transformers print through handlers of their own.
        for library, variable in (("diffusers", "DIFFUSERS_VERBOSITY"), ("transformers", "TRANSFORMERS_VERBOSITY"),
                                  ("huggingface_hub", "HF_HUB_VERBOSITY")):
            os.environ.setdefault(variable, "error")
            logging.getLogger(library).setLevel(logging.ERROR)  # if it was imported already


def _not_prefect(record: logging.LogRecord) -> bool:
    return record.name != "prefect" and not record.name.startswith("prefect.")


class _EtaColumn(ProgressColumn):
    """The time left of a storyboard, from its own progress model: denoising steps, each shot's decode and
    encode, as timed so far (progress.StoryboardProgress.eta); re-read at every refresh, so it counts down
    while no event comes (a decode)."""

    def render(self, task) -> Text:
        eta = task.fields["progress"].eta(time.time())
        return Text(f"eta {'-:--:--' if eta is None else eta}", style="progress.remaining")


def _render_batch(names: list[str], files: list[str], out: Path, root: Optional[Path], force: bool, verbose: bool,
                  temporary_api: bool) -> dict:
    """Run the batch flow with one progress bar per storyboard (shots, segments, steps, ETA); returns its summary.

    The bars (one per name in `names`) show at once, before Prefect is imported and its API server started, so
    the terminal is never blank. With `temporary_api`, a temporary Prefect API server of our own serves the run
    (lifetime.py). The flow runs on a thread of its own (stop.py says why); this thread waits for it.
    """
    from .lifetime import ApiServerFailed, temporary_api_server
    from .render.progress import StoryboardProgress
    from .render.progress import log as progress_log
    from .render.progress import phase

    def say(what: str) -> None:
        for name in names:
            phase(name, what)

    columns = (
        TextColumn("{task.fields[name]}", markup=False), BarColumn(), TaskProgressColumn(),
        TimeElapsedColumn(), _EtaColumn(), TextColumn("{task.description}", markup=False),
    )
    try:
        with Progress(*columns, console=err_console) as display, ExitStack() as context:
            bars: dict[str, tuple[int, StoryboardProgress]] = {}

            class _ProgressHandler(logging.Handler):
                def emit(self, record: logging.LogRecord) -> None:
                    name = record.storyboard
                    state = bars[name][1] if name in bars else StoryboardProgress(name)
                    state.update(record)
                    if name not in bars:  # shown with its first event's words, never blank
                        bars[name] = (display.add_task(state.describe(), total=100, name=name, progress=state), state)
                    display.update(bars[name][0], completed=100 * state.fraction, description=state.describe())

            handler = _ProgressHandler()
            progress_log.addHandler(handler)
            try:
                say("loading Prefect")
                from .production.batch import BatchFailed
                from .production.flow import render_batch

                _route_prefect_logs(err_console, verbose)
                if temporary_api:
                    say("starting Prefect (a temporary local API server)")
                    timeout = float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
                    try:
                        context.enter_context(temporary_api_server(startup_timeout=timeout))
                    except ApiServerFailed:
                        say("failed")
                        raise
                state = _on_own_thread(
                    lambda: render_batch(files, str(out), str(root) if root else None, force, return_state=True)
                )
                for name, (_, board) in bars.items():
                    if board.stage == "waiting":  # failed before its plan: no event says so
                        phase(name, "failed")
            finally:
                progress_log.removeHandler(handler)
    except ApiServerFailed as error:  # said once the display has closed, so it is the last line
        err_console.print(f"error: the temporary Prefect API server did not start ({error}); set PREFECT_API_URL "
                          "to a running server (`prefect server start`), or fix the cause", soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    summary = state.result(raise_on_failure=False)
    if isinstance(summary, BatchFailed):  # some storyboards failed: the state carries the whole summary
        return summary.summary
    if isinstance(summary, BaseException):  # the batch itself broke (e.g. an unreachable cluster)
        raise summary
    return summary


def _on_own_thread(call):
    """`call()` on a new thread (with this thread's context: Prefect's settings), waited for here; its result,
    or its exception raised here. Signal handlers keep running in this (main) thread meanwhile."""
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-batch") as thread:
        return thread.submit(contextvars.copy_context().run, call).result()


@app.command()
def presets(
    as_json: Annotated[bool, typer.Option("--json/--no-json", metavar="", help="Print the presets as JSON.")] = False,
) -> None:
    """List the model presets: generation, checkpoint, upsampler, LoRAs, recipe."""
    from .storyboard.presets import presets_json

    found = presets_json()
    if as_json:
        print(json.dumps(found, indent=2))
        return
    for part in _presets_blocks(found):
        out_console.print(part)


def _presets_blocks(found: list[dict]) -> list:
    """One block per preset, a `field  value` line each: hub ids are longer than any table column at 80-120
    columns, and a name or id a user copies must never be cut (a value too long for the line folds)."""
    parts: list = [Text("model presets (`model: {preset: NAME}`)", style="table.title")]
    for preset in found:
        recipe = preset["recipe"]
        rows = {
            "preset": preset["name"],
            "generation": f"{preset['generation']} ({preset['family']})",
            "what": preset["description"],
            "checkpoint": preset["checkpoint"],
            "upsampler": preset["upsampler"] or "-",
            "stage-2 LoRA": preset["stage2_lora"] or "-",
            "IC-LoRAs": "\n".join(f"{kind}: {lora}" for kind, lora in preset["loras"].items()) or "-",
            "recipe": "\n".join([
                f"{preset['steps']} steps{' (distilled schedule)' if preset['sigmas'] else ''}, guidance "
                f"{preset['guidance_scale']:g}, {preset['width']}x{preset['height']}",
                *(f"{call}: " + _kwargs_text(recipe[call])
                  for call in ("first", "upsample", "refine") if recipe[call]),
                *([f"two-pass first pass at {recipe['first_pass_scale']:.3g} of the size"]
                  if recipe["upsample"] or recipe["refine"] else []),
            ]),
        }
        parts += [Text(""), _field_block([(field_name, Text(value)) for field_name, value in rows.items()])]
    return parts


@app.command()
def download(
    files: Annotated[
        Optional[list[str]],
        typer.Argument(help="Storyboard YAML files, folders or globs.", show_default=False),
    ] = None,
    preset: Annotated[Optional[list[str]], typer.Option(help="A preset name (repeatable).")] = None,
    tiny: Annotated[
        bool, typer.Option("--tiny/--no-tiny", metavar="", help="Write the tiny twins under the real repo ids instead.")
    ] = False,
    root: Root = None,
) -> None:
    """Fill the Hugging Face cache with every weight the storyboards or presets need, before a run.

    Checkpoint, latent upsampler, stage-2 LoRA, IC-LoRAs and detector weights; the cache is
    huggingface_hub's ($HF_HOME / $HF_HUB_CACHE). Reports what it fetched and how large it is.
    """
    from .models.prefetch import fetch, human_size, install_tiny, preset_needs, storyboard_needs
    from .storyboard.presets import PRESETS

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
        failed = []
    else:
        # Its retry warnings would repeat what the one line per failed repo says.
        logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
        done, failed = fetch(unique)
    table = Table(title="tiny twins written to the Hugging Face cache" if tiny else "in the Hugging Face cache")
    for column in ("repo", "what", "files", "size"):
        table.add_column(column)
    for item in done:
        table.add_row(item.repo, item.what, str(item.files), human_size(item.bytes))
    table.add_row("total", "", str(sum(i.files for i in done)), human_size(sum(i.bytes for i in done)))
    if done or not failed:
        out_console.print(table)
    for item in failed:
        err_console.print(Text.assemble(("failed ", "red"), f"{item.repo} ({item.what}): {item.why}"), soft_wrap=True)
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _finish_unchanged(loaded: list[tuple[Path, Storyboard]], out: Path) -> dict | None:
    """When no shot of any file needs a render, finish every film here (no model, no Prefect) and return
    the batch summary, as the flow would; None when something needs rendering.

    The shot cache's own checks decide what is unchanged; a film is stitched again only when it
    no longer matches its storyboard, and every manifest is written anew. Each film's lock is held
    from the cache check to its manifest, as in the flow (lock.py).
    """
    from .production.batch import render_folder
    from .finish.film import finish_storyboard, shots_to_render
    from .production.lock import FilmBusy, film_lock

    summary: dict = {"succeeded": {}, "failed": {}}
    with ExitStack() as locks:
        finishing = []
        for file, storyboard in loaded:  # validated once, by `render`
            render_plan = plan_storyboard(storyboard, file)
            film_dir = render_folder(str(out)) / render_plan.name
            if not film_dir.is_dir():  # never rendered here: nothing can be cached, and nothing is created
                return None
            try:
                locks.enter_context(film_lock(film_dir))
            except FilmBusy as error:
                summary["failed"][str(file)] = str(error)
                continue
            pending, cached = shots_to_render(render_plan, film_dir, force=False)
            if pending:
                return None
            finishing.append((file, render_plan, film_dir, cached))
        for file, render_plan, film_dir, cached in finishing:
            try:
                finished = finish_storyboard(render_plan, film_dir, cached)
            except Exception as error:  # e.g. a clip that no longer decodes: said as the flow would say it
                summary["failed"][str(file)] = f"{render_plan.name}: {error}"
                continue
            kept = "unchanged" if not finished.stitched else "stitched again"
            err_console.print(f"{render_plan.name}: every shot unchanged, film {kept}", soft_wrap=True)
            summary["succeeded"][str(file)] = finished.summary(render_plan, cached)
    return summary


def _check_writable(out: Path) -> None:
    """An output folder we cannot write fails here, in one line, before any model loads."""
    from .production.batch import check_writable

    try:
        check_writable(out)
    except OSError as error:
        err_console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None


def _check_prefect_home() -> None:
    """A PREFECT_HOME that cannot be written fails here, in one line, instead of a temporary API server that
    cannot create its database (two minutes of retries and thousands of log lines)."""
    import tempfile

    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as error:
        err_console.print(
            f"error: cannot write into PREFECT_HOME {home} ({error.strerror or error}), where Prefect keeps the "
            "temporary API server's database; point PREFECT_HOME to a folder you can write, or set PREFECT_API_URL "
            "to a running server", soft_wrap=True,
        )
        raise typer.Exit(EXIT_FAILED) from None


def _environment_fault(error: BaseException) -> str | None:
    """One line for a render that could not start for want of memory (a MemoryError, or a library that could
    not be mapped: what a low `ulimit -v` gives), saying the limit and how to raise it; None for other errors."""
    import errno
    import resource

    from .failures import describe

    text = f"{type(error).__name__}: {error}"
    if not (isinstance(error, MemoryError) or getattr(error, "errno", None) == errno.ENOMEM
            or any(sign in text for sign in ("MemoryError", "failed to map segment", "Cannot allocate memory"))):
        return None
    first_line = describe(error)[:300]
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return f"error: out of memory ({first_line}); free memory, or render on a machine with more"
    return (f"error: out of memory under this process's address-space limit of {limit / 2**30:.1f} GiB "
            f"(`ulimit -v` {limit // 1024}) ({first_line}); raise it (`ulimit -v unlimited`; systemd: LimitAS=infinity), "
            "torch and a model map tens of GB")


def _check_api() -> str | None:
    """An unreachable Prefect API fails here, in one line saying what to do, before any model loads. Returns
    the API's URL, None when none is set (the render then starts a temporary one)."""
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
            raise typer.Exit(EXIT_FAILED) from None
    return api or None


def _profile_api_url() -> str | None:
    # PREFECT_API_URL may also come from the active Prefect profile (`prefect config set`).
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@app.command()
def schema(
    markdown: Annotated[
        bool, typer.Option("--markdown/--json", metavar="", help="Print the field reference as Markdown instead of the JSON Schema.")
    ] = False,
) -> None:
    """Print the storyboard JSON Schema (generated from the models) for editors."""
    if markdown:
        from .storyboard.reference import storyboard_reference_markdown

        print(storyboard_reference_markdown(), end="")
        return
    print(json.dumps(storyboard_json_schema(), indent=2))


if __name__ == "__main__":
    app()
