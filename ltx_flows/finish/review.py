"""The review page: `renders/<name>/review.html`, one self-contained page to look at a render.

Static HTML with inline CSS and images and a few lines of inline script (no server, no CDN):
it plays the film and every shot clip from their files beside it (relative paths, so the
folder can be moved or shared), and shows per shot its prompt, seed, frames, time, a
filmstrip, the control video beside the shot it drives, a long take's seam scores, and the
manifest's facts. Written after the film, atomically, just before the manifest.
"""

import json
import os
from concurrent.futures import ThreadPoolExecutor
from html import escape
from pathlib import Path

from ..files import write_text_atomic
from ..layout import FilmFolder
from ..media.thumbnails import data_uri, filmstrip
from .looks import cast_sheet, shot_cast
from ..plan.planner import RenderPlan, ShotPlan
from ..render.retake import base_clip
from ..render.seams import SOUND_SEAM_OK
from .quality import quality_html
from .voice_section import caption_track, voice_note
from .enhanced import enhance_html

FILMSTRIP_FRAMES = 5
# A seam scoring above this moves noticeably more than the rest of its take (see seams.seam_scores).
SEAM_WARNING = 3.0

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1.5em; color: #1d1d1f; background: #fafafa; }
h1 { margin: 0 0 .2em; } h2 { margin: 1.5em 0 .4em; border-bottom: 1px solid #ddd; }
.facts { color: #555; margin: 0 0 1em; }
video { background: #000; max-width: 100%; display: block; }
.film video { width: 100%; max-height: 480px; }
.shot { background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 1em; margin: 1em 0; }
.shot h3 { margin: 0 0 .3em; font-family: ui-monospace, monospace; }
.media { display: flex; gap: 1em; flex-wrap: wrap; align-items: flex-start; }
.media figure { margin: 0; } .media video { width: 320px; } figcaption { color: #555; font-size: 13px; }
.prompt { font-size: 16px; margin: .3em 0; }
.filmstrip { display: block; margin: .5em 0; max-width: 100%; }
table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid #ddd; padding: .2em .6em; text-align: left; }
.warn { color: #b3261e; font-weight: bold; } .status-rendered { color: #1a7f37; } .status-cached { color: #555; }
.review-action { display: none; } body.served .review-action { display: inline-block; } .take.in-use video { outline: 3px solid #1a7f37; }
details { margin: .5em 0; } pre { background: #f3f3f3; padding: .6em; overflow-x: auto; font-size: 12px; }
"""

# Each video says whether it could be played (its size and length once loaded, or the error), so
# a reviewer sees at once a clip that is missing or undecodable, and a test can read it from the DOM.
_SCRIPT = """
for (const video of document.querySelectorAll("video")) {
  const status = video.parentElement.querySelector(".video-status");
  video.addEventListener("loadedmetadata", () => {
    video.dataset.loaded = "yes";
    status.textContent = `${video.videoWidth}x${video.videoHeight}, ${video.duration.toFixed(2)} s`;
  });
  video.addEventListener("error", () => {
    video.dataset.loaded = "error";
    status.textContent = "cannot be played: " + video.getAttribute("src");
    status.classList.add("warn");
  });
}
"""


def _video(src: str, caption: str, css_class: str, track: str = "") -> str:
    return (f'<figure class="{css_class}"><video controls preload="auto" src="{escape(src)}">{track}</video>'
            f'<figcaption>{escape(caption)} · <span class="video-status">loading…</span></figcaption></figure>')


def _filmstrip(clip: Path, frames: int, fps: int) -> str:
    try:
        uri = data_uri(filmstrip(clip, frames, count=FILMSTRIP_FRAMES, fps=fps))
    except Exception:  # an unreadable clip shows its video's error instead
        return ""
    return f'<img class="filmstrip" alt="filmstrip" src="{uri}">'


def _filmstrips(plan: RenderPlan, film_dir: Path, renders: dict[str, dict], made: dict) -> list[str]:
    """Each shot's filmstrip, in order: from `made` when a clip of the same bytes (its record's sha256) has one."""
    fps = plan.output.fps
    keys = [(renders.get(shot.id, {}).get("sha256"), shot.frames, fps) for shot in plan.shots]
    missing = [(shot, key) for shot, key in zip(plan.shots, keys) if key[0] is None or key not in made]
    # Decoding releases the GIL: one thread per core makes a long film's filmstrips (most of the page's time).
    with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 8)) as threads:
        strips = list(threads.map(lambda item: _filmstrip(film_dir / item[0].clip, item[0].frames, fps), missing))
    fresh = {}
    for (shot, key), strip in zip(missing, strips):
        fresh[shot.id] = strip
        if key[0] is not None and strip:  # an unreadable clip is not remembered: the next film tries it again
            made[key] = strip
    return [fresh[shot.id] if shot.id in fresh else made[key] for shot, key in zip(plan.shots, keys)]


def _sound_cell(sound: dict | None) -> str:
    if not sound:
        return "<td>-</td>"
    return f'<td class="{"warn" if sound["score"] > SOUND_SEAM_OK else ""}">{sound["score"]:.2f}</td>'


def _seams(seams: list[dict]) -> str:
    rows = "".join(
        f'<tr><td>{i + 1}</td><td>{seam.get("frame", "-")}</td>'
        f'<td class="{"warn" if seam["score"] > SEAM_WARNING else ""}">{seam["score"]:.2f}</td>'
        f'<td>{seam["colour_shift"]:.1f}</td>{_sound_cell(seam.get("sound"))}</tr>'
        for i, seam in enumerate(seams)
    )
    return ("<table class=\"seams\"><tr><th>seam</th><th>frame</th><th>score (1 = like the rest of the take)</th>"
            f"<th>colour shift (grey levels)</th><th>sound (1 = like the rest; above 3, listen)</th></tr>{rows}</table>")


def review_html(plan: RenderPlan, manifest: dict, film_dir: Path, renders: dict[str, dict] | None = None,
                made: dict[tuple[str, int, float], str] | None = None) -> str:
    """The page for a finished render, from its plan (prompts) and its manifest (everything else).

    `renders` (shot id -> its clip's record, with the clip's sha256) and `made` (finish/decoded.py's `strips`):
    a clip with the bytes of one whose filmstrip this batch made already shows that filmstrip, not decoded again.
    """
    film = manifest["film"]
    shots = {shot["id"]: shot for shot in manifest["shots"]}
    strips = _filmstrips(plan, film_dir, renders or {}, made if made is not None else {})
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(plan.name)} · review</title>",
        f"<style>{_STYLE}</style></head><body>",
        f'<h1 id="title">{escape(plan.name)}</h1>',
        f'<p class="facts">Rendered {escape(manifest["created"])} from <code>{escape(manifest["storyboard"]["path"])}</code>'
        f' · {film["width"]}x{film["height"]} at {film["fps"]:g} fps · {film["frames"]} frames ({film["seconds"]:.2f} s)'
        f' · model {escape(plan.model.family)} <code>{escape(plan.model.checkpoint)}</code> · sound: {escape(plan.audio)}</p>',
        '<section class="film" id="film"><h2>Film</h2>',
        _video(film["path"], film["path"], "film-video", track=caption_track(manifest, film_dir)),
        "</section>",
        cast_sheet(plan),
        '<section id="shots"><h2>Shots</h2>',
    ]
    for shot, strip in zip(plan.shots, strips):
        parts += _shot(plan, shot, shots[shot.id], strip)
    parts += [
        "</section>",
        '<section id="manifest"><h2>Manifest</h2>',
        f'<p class="facts">Film sha256 <code>{escape(film["sha256"])}</code> · storyboard sha256 '
        f'<code>{escape(manifest["storyboard"]["sha256"])}</code></p>',
        "<table>" + "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>"
                            for k, v in manifest["libraries"].items()) + "</table>",
        f"<details><summary>manifest.json</summary><pre>{escape(json.dumps(manifest, indent=2))}</pre></details>",
        "</section>",
        f"<script>{_SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _shot(plan: RenderPlan, shot: ShotPlan, facts: dict, strip: str) -> list[str]:
    """A shot's article: its prompt and facts (`facts`: the manifest's), filmstrip, videos, seams and retakes."""
    status = facts["status"]
    when = (f"rendered in {facts['render_seconds']:.1f} s" if status == "rendered"
            else f"reused (rendered {facts['rendered_at']})")
    media = [_video(shot.clip, f"shot {shot.id}", "shot-video")]
    if facts.get("control"):
        control = facts["control"]
        media.append(_video(control["video"], f"{control['kind']} control driving {shot.id}", "control-video"))
    join = ("the last shot" if shot is plan.shots[-1]
            else f"crossfade of {shot.crossfade_frames} frames into the next shot" if shot.transition == "crossfade"
            else "cut to the next shot")
    parts = [
        f'<article class="shot" id="shot-{escape(shot.id)}">',
        f"<h3>{escape(shot.id)}</h3>",
        f'<p class="prompt">{escape(shot.prompt)}</p>',
        enhance_html(facts),
        shot_cast(shot),
        f'<p class="facts">seed {facts["seed"]} · {shot.frames} frames ({shot.seconds:.2f} s) · '
        f'<span class="status-{status}">{escape(when)}</span> · {escape(join)}</p>',
        strip,
        f'<div class="media">{"".join(media)}</div>',
        voice_note(shot),
    ]
    if facts.get("segments"):
        seams = facts.get("seams") or []
        parts += [f"<p>Long take: {len(facts['segments'])} segments sharing {facts['overlap']} frames at each join.</p>",
                  _seams(seams) if seams else ""]
    parts.append(quality_html(shot, facts))
    return parts + ['<div class="retakes" data-shot="' + escape(shot.id) + '">' + _retakes(shot) + "</div>", "</article>"]


def _retakes(shot: ShotPlan) -> str:
    """Each retake's window, and the shot as it was before them (kept in the retakes cache) to compare with."""
    retakes = "".join(
        f"<li>frames {r.start}-{r.end - 1}: {escape(r.prompt)} (seed {r.seed}"
        f"{', sound regenerated' if r.sound else ''}) · <a href=\"{escape(r.cache)}\">after this retake</a></li>"
        for r in shot.retakes
    )
    if retakes:
        retakes = f'<p>Retakes, in order, on top of <a href="{escape(base_clip(shot))}">the shot as rendered</a>:</p><ol>{retakes}</ol>'
    return retakes


def write_review(plan: RenderPlan, manifest: dict, film_dir: Path, renders: dict[str, dict] | None = None,
                 made: dict[tuple[str, int, float], str] | None = None) -> Path:
    """Write `review.html` atomically beside the film; returns its path (`renders`, `made`: see review_html)."""
    path = FilmFolder(film_dir).review
    write_text_atomic(review_html(plan, manifest, film_dir, renders, made), path)
    return path
