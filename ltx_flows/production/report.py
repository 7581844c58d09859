"""What a producer reads about a render: the text of the Prefect artifacts.

Prefect-free: artifacts.py hands these strings and rows to Prefect's artifact functions. A shot's picture
is media/thumbnails.py's, like the review page's filmstrips.
"""

import functools
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from ..finish.quality import checks_line
from ..media.thumbnails import thumbnail
from ..plan.planner import RenderPlan

# Table cells are one line: a long value is cut here (the full text is in the logs and manifest).
CELL_CHARS = 160
# A failure's reason is what its reader acts on: our own reasons say what failed and what to do within their
# first line; a foreign error's first line may need this much before its remedy.
REASON_CHARS = 400
# Prefect's V1 UI never wraps a markdown table's cells (the table scrolls sideways in a column ~1000 pixels wide
# at a 1600-pixel window) and its V2 UI wraps them into a column ~600 pixels wide: tables hold only short cells,
# the outcome first, the prompt last and cut here (the full prompt is on the review page and in the manifest),
# and failures' reasons go below the table, where text wraps.
PROMPT_CHARS = 40
REVIEW_URL_VARIABLE = "LTX_FLOWS_REVIEW_URL"
FAILED_CELL = "**failed** (why: below)"


@dataclass(frozen=True)
class ShotOutcome:
    """What this run did with one shot: `rendered` (in `seconds`), `cached` (reused) or `failed` (with `reason`)."""

    status: str
    seconds: float | None = None
    reason: str | None = None
    checks: str | None = None  # the shot's checks, attempts and note (finish/quality.py), when there is anything to say

    def describe(self) -> str:
        if self.status == "rendered":
            return f"rendered in {self.seconds:.1f} s"
        if self.status == "cached":
            return "reused (unchanged)"
        return f"failed: {first_line(self.reason or '', REASON_CHARS)}"


def outcomes(plan: RenderPlan, renders: dict[str, dict], failures: dict[str, str], film_dir: Path) -> dict[str, ShotOutcome]:
    """Each shot's outcome in this run, from the shot cache's records and the failures' reasons."""
    found = {}
    for shot in plan.shots:
        if shot.id in renders:
            record = renders[shot.id]
            status = record["status"]
            found[shot.id] = ShotOutcome(status, record["render_seconds"] if status == "rendered" else None,
                                         checks=checks_line(shot, record, film_dir))
        elif shot.id in failures:
            found[shot.id] = ShotOutcome("failed", reason=failures[shot.id])
    return found


def review_link(film_dir: Path, relative: str) -> str | None:
    """A file of the film's folder on the review server (`ltx-flows review`) at `$LTX_FLOWS_REVIEW_URL`, or None when
    it is not set. A browser will not open the `file://` links of the worker's disk from the Prefect UI."""
    base = os.environ.get(REVIEW_URL_VARIABLE, "").rstrip("/")
    return f"{base}/films/{quote(film_dir.name)}/{quote(relative)}" if base else None


def first_line(text: str, limit: int = CELL_CHARS) -> str:
    """The first non-empty line of `text`, cut to `limit` characters."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def cell(text: object, limit: int = CELL_CHARS) -> str:
    """`text` as one markdown table cell: on one line, pipes escaped, cut to `limit` characters."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat.replace("\\", "\\\\").replace("|", "\\|")


def artifact_key(source: str, storyboard: str, kind: str) -> str:
    """A Prefect artifact key (lowercase letters, digits and dashes) unique to where the run came from.

    `source` is the deployment's name, or `cli` for runs started from the command line, so an
    editor's render never replaces last night's artifacts.
    """
    return re.sub(r"[^a-z0-9-]+", "-", f"{source}-{storyboard}-{kind}".lower()).strip("-")


def batch_run_name(source: str, when: datetime) -> str:
    """`on-demand-2026-12-03-09:15:23`: where the run came from and when, to the second (runs of a day differ)."""
    return f"{source}-{when:%Y-%m-%d-%H:%M:%S}"


def given_run_name(current: str | None) -> str | None:
    """`current`, unless it is missing or one Prefect made up (then the flow names the run itself).

    A run created with a name (`prefect deployment run --flow-run-name`, the UI's custom run) keeps it: that is
    the name `--watch` printed. Prefect names the others itself (`generate_slug(2)`: two words of coolname's,
    e.g. `educational-wolverine`).
    """
    if not current:
        return None
    words = current.split("-")
    return None if len(words) == 2 and all(word in _generated_name_words() for word in words) else current


@functools.cache
def _generated_name_words() -> frozenset[str]:
    from coolname.data import config  # Prefect's dependency, the words of its generated names

    return frozenset(word for part in config.values() if part.get("type") == "words" for word in part["words"])


def storyboard_failure(name: str, shots: int, failures: dict[str, str]) -> str:
    """Why a storyboard failed, in one line: `pour: 3 of 3 shots failed (shots a, b, c: <reason>)`, shots that
    failed alike named once with their reason (its first line: the full text is in the run's logs)."""
    by_reason: dict[str, list[str]] = {}
    for shot_id, why in failures.items():
        by_reason.setdefault(first_line(why, REASON_CHARS), []).append(shot_id)
    reasons = "; ".join(f"{'shots' if len(ids) > 1 else 'shot'} {', '.join(ids)}: {why}"
                        for why, ids in by_reason.items())
    return f"{name}: {len(failures)} of {shots} shots failed ({reasons})"


def batch_failure(failed: dict[str, str], total: int) -> str:
    """The failed batch's state message: `1 of 2 storyboards failed (file: reason; ...)`, each reason's first line."""
    reasons = "; ".join(f"{file}: {first_line(why, REASON_CHARS)}" for file, why in failed.items())
    return f"{len(failed)} of {total} storyboards failed ({reasons})"


def storyboard_markdown(
    plan: RenderPlan,
    film_dir: Path,
    results: dict[str, ShotOutcome],
    film: Path | None,
    film_seconds: float | None = None,
    review: Path | None = None,
    thumbnails: dict[str, str | None] | None = None,
) -> str:
    """The storyboard's summary: where the film and review page are, and per shot a thumbnail, prompt, seed and outcome.

    `thumbnails`: shot id -> `thumbnail`, made beforehand (the flow makes each as its shot finishes); the others are
    made here.
    """
    film_dir = film_dir.resolve()
    failed = [shot_id for shot_id, outcome in results.items() if outcome.status == "failed"]
    lines = [f"# {plan.name}", ""]
    if film is not None:
        served = review_link(film_dir, film.name)
        lines.append(f"**Film**: `{film.resolve()}` ({film_seconds:.2f} s, {plan.film_frames} frames at {plan.output.fps} fps)"
                     + (f" ([open]({served}))  " if served else "  "))
        if review is not None:
            lines.append(f"**Review page**: `{review.resolve()}` ([open]({review_link(film_dir, review.name) or review.resolve().as_uri()}))  ")
    else:
        lines.append(f"**Failed**: {len(failed)} of {len(plan.shots)} shots failed, so no film was made. "
                     "Finished clips are kept and reused by the next run.  ")
    counts = {status: sum(o.status == status for o in results.values()) for status in ("rendered", "cached", "failed")}
    lines += [
        f"Storyboard `{plan.storyboard}`: {counts['rendered']} rendered, {counts['cached']} reused, {counts['failed']} failed.",
        "",
        # The outcome first and the prompt last: a long prompt never pushes what happened off the screen.
        "| shot | this run | seed | frames | frame | prompt |",
        "|---|---|---|---|---|---|",
    ]
    for shot in plan.shots:
        outcome = results.get(shot.id)
        image = None
        if outcome and outcome.status != "failed":
            image = (thumbnails or {}).get(shot.id) or thumbnail(film_dir / shot.clip, shot.frames, plan.output.fps)
        picture = f"![{shot.id}]({image})" if image else "-"
        take = f" ({len(shot.segments)} segments)" if shot.segments else ""
        what = (FAILED_CELL if outcome.status == "failed" else cell(outcome.describe())) if outcome else "not run"
        lines.append(f"| `{cell(shot.id)}`{take} | {what} | {shot.seed} | {shot.frames} | {picture} | "
                     f"{cell(shot.prompt, PROMPT_CHARS)} |")
    reasons = {shot.id: results[shot.id].reason or "" for shot in plan.shots if shot.id in failed}
    checks = [f"- `{shot.id}`: {results[shot.id].checks}" for shot in plan.shots
              if shot.id in results and results[shot.id].checks]
    checks = ["", "**Checks, takes and notes**:", "", *checks] if checks else []
    return "\n".join(lines + checks + _why_failed("shots", reasons)) + "\n"


def _why_failed(what: str, reasons: dict[str, str]) -> list[str]:
    """Below a table: each failure's reason, the first line of it whole (a list item wraps; a table cell may not)."""
    if not reasons:
        return []
    return ["", f"**Why the {what} failed** (the first line of each reason; the run's logs have the rest):", ""] + [
        f"- `{name}`: {first_line(why, REASON_CHARS)}" for name, why in reasons.items()]


def shot_rows(plan: RenderPlan, film_dir: Path, results: dict[str, ShotOutcome]) -> list[dict]:
    """The shot table artifact: one row per shot, with the clip's absolute path."""
    rows = []
    for shot in plan.shots:
        outcome = results.get(shot.id)
        rows.append({
            "shot": shot.id,
            "frames": shot.frames,
            "seconds": round(shot.seconds, 2),
            "seed": shot.seed,
            "this run": ("failed" if outcome.status == "failed" else outcome.describe()) if outcome else "not run",
            "clip": (review_link(film_dir, shot.clip) or str((film_dir / shot.clip).resolve()))
            if outcome and outcome.status != "failed" else "-",
            # Last: a long reason in a table that does not wrap hides no other column.
            "why": first_line(outcome.reason or "", REASON_CHARS) if outcome and outcome.status == "failed" else "-",
        })
    return rows


def storyboard_description(plan: RenderPlan, kind: str, source: str) -> str:
    what = {"summary": "film, review page and every shot's outcome",
            "shots": "one row per shot: this run's outcome and the clip",
            "progress": "shots, long-take segments and denoising steps done"}[kind]
    return f"{plan.name} ({source} run): {what}"


def reused_whole(result: dict) -> bool:
    """Whether this run rendered nothing of a finished storyboard (`render-batch`'s result for it): every shot reused."""
    statuses = list(result.get("shots", {}).values())
    return bool(statuses) and "rendered" not in statuses


def finished_result(result: dict) -> str:
    """What this run did for a finished storyboard: `rendered (1 shot, 2 reused)`, or that it rendered nothing."""
    statuses = list(result.get("shots", {}).values())
    if reused_whole(result):
        return f"unchanged: all {_count(len(statuses), 'shot')} reused, nothing rendered"
    if not statuses:
        return "rendered"
    rendered = statuses.count("rendered")
    reused = len(statuses) - rendered
    return f"rendered ({_count(rendered, 'shot')}" + (f", {reused} reused)" if reused else ")")


def batch_markdown(succeeded: dict[str, dict], failed: dict[str, str], source: str) -> str:
    """The batch summary: one table row per storyboard, whatever its error says, and why each failed below it."""
    unchanged = sum(map(reused_whole, succeeded.values()))
    lines = [f"# Render batch ({source})", "",
             f"{_count(len(succeeded) - unchanged, 'storyboard')} rendered, {unchanged} unchanged (every shot reused), "
             f"{len(failed)} failed.", "",
             "| storyboard | result | film | review page |", "|---|---|---|---|"]
    for file, result in succeeded.items():
        film = Path(result["film"]).resolve()
        review = result.get("review")
        lines.append(f"| `{cell(file)}` | {finished_result(result)} | `{cell(film, 400)}` | "
                     f"{f'`{cell(Path(review).resolve(), 400)}`' if review else '-'} |")
    for file in failed:
        lines.append(f"| `{cell(file)}` | {FAILED_CELL} | - | - |")
    return "\n".join(lines + _why_failed("storyboards", failed)) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
