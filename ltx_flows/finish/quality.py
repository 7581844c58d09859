"""The quality section of a finished render: each shot's check results, its takes and retries (every attempt with
its seed and scores), the take in use, whether it needs review, and a reviewer's note. The manifest, the review
page and the Prefect summary all show it from here.

A shot's facts come from its record (`render/takes.py` and `render/shot.py` write them); the takes of a shot are
listed from the plan and their own records on disk, so the page shows every take that was ever rendered, cached
or not used this run.
"""

from html import escape
from pathlib import Path

from ..layout import FilmFolder
from ..plan.planner import ShotPlan
from ..render.records import read_record
from ..render.takes import verdict_of

NOTE_CHARS = 2000


def read_note(film_dir: Path, shot_id: str) -> str | None:
    """A reviewer's note on the shot (`notes/<shot>.txt`, written by the review server), or None."""
    try:
        text = FilmFolder(film_dir).note(shot_id).read_text(errors="replace").strip()
    except OSError:
        return None
    return text[:NOTE_CHARS] or None


def candidates(shot: ShotPlan, film_dir: Path) -> list[dict]:
    """Every take and retry of the shot, numbered as `ltx-flows pick` numbers them, with what its record says."""
    found = []
    for candidate in [*shot.takes, *shot.retries]:
        record = read_record(film_dir / candidate.clip)
        found.append({
            "take": candidate.take, "seed": candidate.seed, "clip": candidate.clip,
            "kind": "retry" if candidate.take > len(shot.takes) else "take",
            "rendered": record is not None and (film_dir / candidate.clip).is_file(),
            "qc": verdict_of(record, shot.qc) if record and record.get("qc") else None,
        })
    return found


def quality_section(shot: ShotPlan, record: dict, film_dir: Path) -> dict:
    """The shot's manifest keys: checks, the take in use, every candidate, review flags and note."""
    verdict = verdict_of(record, shot.qc) if record.get("qc") else None
    section = {
        "seed": record.get("seed", shot.seed),  # the seed of the clip in the film (a retry's, a take's)
        "qc": verdict,
        "needs_review": record.get("needs_review", verdict is not None and not verdict["passed"]),
        "note": read_note(film_dir, shot.id),
    }
    if shot.takes:
        section.update({"take": record.get("take"), "picked": shot.take is not None,
                        "attempts_tried": record.get("candidates", []), "takes": candidates(shot, film_dir)})
    return section


def _verdict_text(verdict: dict | None) -> str:
    if verdict is None:
        return "not checked"
    if verdict["passed"]:
        return "passed"
    return "failed: " + ", ".join(f"{name} {why}" for name, why in verdict["failed"].items())


def quality_html(shot: ShotPlan, facts: dict) -> str:
    """The review page's part of a shot: check scores, the takes side by side with pick buttons, approve and note.

    The buttons work when the review server (`ltx-flows review`) serves the page; opened as a file they are hidden.
    """
    verdict = facts.get("qc")
    parts = []
    if facts.get("needs_review"):
        parts.append('<p class="warn needs-review">Needs review: no attempt passed its checks.</p>')
    if verdict:
        cells = "".join(
            f'<td class="{"warn" if name in verdict["failed"] else ""}">{escape(name)} {score:.3g}</td>'
            for name, score in verdict["scores"].items())
        notes = "".join(f"<li>{escape(name)}: {escape(note)}</li>" for name, note in verdict["notes"].items())
        parts.append(f'<table class="checks" data-passed="{str(verdict["passed"]).lower()}"><tr><th>checks</th>{cells}'
                     f'</tr></table>{f"<ul>{notes}</ul>" if notes else ""}')
    takes = facts.get("takes") or []
    if takes:
        figures = []
        for take in takes:
            used = take["take"] == facts.get("take")
            video = (f'<video controls preload="metadata" src="{escape(take["clip"])}"></video>' if take["rendered"]
                     else "<p>not rendered</p>")
            figures.append(
                f'<figure class="take{" in-use" if used else ""}" data-take="{take["take"]}" data-seed="{take["seed"]}">'
                f"{video}<figcaption>{escape(take['kind'])} {take['take']} · seed {take['seed']}"
                f"{' · in the film' if used else ''} · {escape(_verdict_text(take['qc']))} · "
                f'<span class="video-status">{"loading…" if take["rendered"] else ""}</span></figcaption>'
                f'<button class="review-action pick" data-shot="{escape(shot.id)}" data-take="{take["take"]}">'
                f"Pick take {take['take']}</button></figure>")
        picked = " (picked)" if facts.get("picked") else " (the first that passed; no pick yet)"
        parts.append(f'<p>Takes{picked}:</p><div class="media takes">{"".join(figures)}</div>')
    note = facts.get("note")
    parts.append(
        f'<div class="review-tools" data-shot="{escape(shot.id)}">'
        f'{f"<blockquote class=note>{escape(note)}</blockquote>" if note else ""}'
        f'<button class="review-action approve" data-shot="{escape(shot.id)}">Approve</button> '
        f'<textarea class="review-action note-text" rows="2" cols="50" placeholder="a note on this shot">'
        f'{escape(note or "")}</textarea>'
        f'<button class="review-action save-note" data-shot="{escape(shot.id)}">Save note</button></div>')
    return "".join(parts)


def checks_line(shot: ShotPlan, record: dict, film_dir: Path) -> str | None:
    """One line of the Prefect summary on the shot's checks and attempts; None for a shot with nothing to say."""
    section = quality_section(shot, record, film_dir)
    bits = []
    for tried in section.get("attempts_tried", []):
        bits.append(f"{tried['kind']} {tried['take']} seed {tried['seed']} ({tried['status']}): "
                    f"{_verdict_text(tried['qc'])}")
    if bits:
        bits.append(f"in the film: take {section['take']} (seed {section['seed']})")
    elif section["qc"] and not section["qc"]["passed"]:
        bits.append(_verdict_text(section["qc"]))
    if section["needs_review"]:
        bits.append("**needs review**")
    if section["note"]:
        bits.append(f"note: {section['note']}")
    return "; ".join(bits) or None
