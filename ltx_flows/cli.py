"""The `ltx-flows` command line: validate, plan, render, schema, presets, download.

Heavy imports (torch, diffusers, prefect) happen only in `render`, so checking
storyboards stays instant.
"""

import json
import logging
import os
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from . import tables
from .plan.versions import film_folder, plan_versions, versions_plan
from .production.batch import check_writable, find_storyboards, finish_unchanged
from .render.stop import STOPPED_MESSAGE
from .storyboard.loading import Version, load_versions, read_storyboard_text
from .storyboard.problems import Problem, StoryboardError
from .storyboard.schema import storyboard_json_schema
from .storyboard.approvals import lapsed_approvals
from .commands import approve, enhance, pick, review
from .storyboard.voice import voice_notice

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


def _check(specs: list[str], root: Optional[Path]) -> tuple[list[tuple[Path, list[Version]]], list[tuple[Path, Problem]]]:
    """Every storyboard the specs name, validated: (the good ones, every problem of the others)."""
    files, problems = _resolve(specs, root)
    loaded = []
    for file in files:
        try:
            loaded.append((file, load_versions(file, root)))
        except StoryboardError as error:
            problems += [(file, problem) for problem in error.problems]
    return loaded, problems


def _load_all(specs: list[str], root: Optional[Path]) -> list[tuple[Path, list[Version]]]:
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
        for file, versions in loaded:
            films = f", {len(versions)} variants" if versions[0].variant else ""
            out_console.print(f"[green]ok[/green] {escape(str(file))}: {len(versions[0].storyboard.shots)} shots{films}"
                              f"{voice_notice(versions[0].storyboard)}",
                              soft_wrap=True)
            for line in lapsed_approvals(file, versions[0].storyboard):  # not an error: the shot renders again
                err_console.print(f"note: {line}", soft_wrap=True)
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
    [(file, versions)] = loaded
    plans = plan_versions(versions, file)
    if as_json:
        print((plans[0] if len(plans) == 1 else versions_plan(plans, versions[0].storyboard.name)).model_dump_json(indent=2))
        return
    width = out_console.width
    parts = tables.versions_table(plans, width) if len(plans) > 1 or plans[0].deliveries else []
    for render_plan in plans:  # (one without `variants:`)
        parts += tables.plan_table(render_plan, width)
        parts += tables.enhance_table(render_plan, Path("renders") / film_folder(render_plan), width)
        for shot in render_plan.shots:
            parts += tables.segments_table(shot, width) if shot.segments else []
            parts += tables.retakes_table(shot, width) if shot.retakes else []
    parts += tables.calls_table(plans[0], width)
    for part in parts:
        out_console.print(part)


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


def _finish_or_render(loaded: list[tuple[Path, list[Version]]], out: Path, root: Optional[Path], force: bool,
                      verbose: bool) -> dict:
    """Finish the films here when nothing needs a render, else render them through Prefect; the batch summary."""
    summary = None if force else finish_unchanged(loaded, str(out), say=partial(err_console.print, soft_wrap=True))
    if summary is not None:
        return summary
    # Before Prefect reads its settings: a render sends nothing off the machine (and the
    # telemetry service's first write races the ephemeral server's database).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The temporary API's first start creates its database; Prefect's 20 s default is too short
    # for that on a busy machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # Core modules' log lines (model loads, timings) go to the run's logs too, as a work pool's prefect.yaml sets it,
    # and one made outside a run is no warning. Read when Prefect sets up logging, as it is imported.
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "ltx_flows")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    from .production.api_server import PrefectUnavailable, check_api, check_prefect_home

    try:
        if not os.environ.get("PREFECT_API_URL"):
            check_prefect_home()  # before Prefect is imported: it creates its home then
        api = check_api()  # after the settings above: it may read Prefect's profile
    except PrefectUnavailable as error:  # one line saying what to do, before any model loads
        err_console.print(f"error: {error}", soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    _check_writable(out)
    names = list(dict.fromkeys(plan.name for file, versions in loaded for plan in plan_versions(versions, file)))
    return _render_batch(names, [str(file) for file, _ in loaded], out, root, force, verbose,
                         temporary_api=api is None)


def _render_batch(names: list[str], files: list[str], out: Path, root: Optional[Path], force: bool, verbose: bool,
                  temporary_api: bool) -> dict:
    """Run the batch flow behind the progress display (production/terminal.py); its summary."""
    from .production.api_server import ApiServerFailed
    from .production.terminal import render_with_progress

    try:
        return render_with_progress(names, files, out, root, force, verbose, temporary_api, err_console)
    except ApiServerFailed as error:  # said once the display has closed, so it is the last line
        err_console.print(f"error: the temporary Prefect API server did not start ({error}); set PREFECT_API_URL "
                          "to a running server (`prefect server start`), or fix the cause", soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None


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
    for part in tables.presets_blocks(found):
        out_console.print(part)


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
    for _, versions in _load_all(files or [], root):
        needs += [need for version in versions for need in storyboard_needs(version.storyboard)]
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


def _check_writable(out: Path) -> None:
    """An output folder we cannot write fails here, in one line, before any model loads."""
    try:
        check_writable(out)
    except OSError as error:
        err_console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
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


# Commands in their own modules (ltx_flows/commands/).
app.command()(pick.pick)
app.command()(approve.approve)
app.command()(enhance.enhance)
app.command()(review.review)


if __name__ == "__main__":
    app()

