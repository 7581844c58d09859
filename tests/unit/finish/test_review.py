"""The review page, opened in a real headless chromium: what a person sees after a render.

The render itself is stood in for (unit test): clips are written with real ffmpeg from made-up
frames and stitched for real, and the shot cache's records are made up; the page, the manifest
and the browser are real. tests/test_deployment.py opens the page of a real render too.
"""

import re

import numpy as np
from PIL import Image

from ltx_flows.finish.manifest import build_manifest
from ltx_flows.media.write import write_clip
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.finish.review import write_review
from ltx_flows.finish.film import stitch_film
from ltx_flows.layout import FilmFolder
from ltx_flows.storyboard.loading import load_storyboard

BOARD = """
version: 1
name: review-me
model: {family: ltx2, checkpoint: tiny, steps: 2}
output: {width: 128, height: 128, fps: 24, audio: none}
shots:
  - id: pour
    prompt: "coffee pours <slowly> & steams"
    frames: 17
    seed: 7
    control: {kind: canny, source: controls/slide.mp4}
  - id: walk
    prompt: "a long walk"
    frames: 41
    segments: {frames: 17, overlap: 9}
"""


def fake_render(plan, film_dir):
    """Clips of moving colour bars for every shot (and the control video), and the records a render leaves."""
    renders = {}
    for n, shot in enumerate(plan.shots):
        frames = np.zeros((shot.frames, 128, 128, 3), np.uint8)
        for i in range(shot.frames):
            frames[i, :, :, n] = 200
            frames[i, :, (4 * i) % 128 :, (n + 1) % 3] = 255
        write_clip(frames, film_dir / shot.clip, fps=24)
        if shot.control:
            write_clip(255 - frames, film_dir / shot.control.video, fps=24)
        renders[shot.id] = {
            "status": "rendered" if n == 0 else "cached", "attempts": [{"attempt": 1}], "memory": {},
            "render_seconds": 12.5, "rendered_at": "2026-11-20T02:00:00+00:00", "rendered_by": {"host": "test"},
        }
    return renders


def test_review_page_plays_the_film_and_every_shot_in_chromium(write_storyboard, reference_media, workspace, chromium):
    path = write_storyboard(BOARD)
    plan = plan_storyboard(load_storyboard(path), path)
    film_dir = workspace / "renders" / plan.name
    renders = fake_render(plan, film_dir)
    info = stitch_film(plan, film_dir)
    manifest = build_manifest(plan, film_dir, film_dir / "review-me.mp4", info, renders)
    page = write_review(plan, manifest, film_dir)
    assert page == FilmFolder(film_dir).review and not list(film_dir.glob(".*partial"))

    html = page.read_text()
    assert "http://" not in html and "https://" not in html  # no CDN: it works offline
    # After load, with time for the videos to read their metadata: the DOM as a person sees it.
    dom = chromium(page, "--virtual-time-budget=8000", "--dump-dom")
    videos = re.findall(r'<video[^>]*src="([^"]+)"[^>]*data-loaded="(\w+)"', dom)
    # The film, each shot clip and the control video beside the shot it drives, all playable.
    assert videos == [("review-me.mp4", "yes"), ("shots/pour.mp4", "yes"), (plan.shots[0].control.video, "yes"),
                      ("shots/walk.mp4", "yes")], dom[:3000]
    statuses = re.findall(r'class="video-status">([^<]*)<', dom)
    assert statuses == ["128x128, 2.42 s", "128x128, 0.71 s", "128x128, 0.71 s", "128x128, 1.71 s"]
    assert "coffee pours &lt;slowly&gt; &amp; steams" in dom  # the prompt, escaped
    assert "seed 7 · 17 frames (0.71 s) · " in dom and "rendered in 12.5 s" in dom
    assert "reused (rendered 2026-11-20T02:00:00+00:00)" in dom  # a reused shot is not shown with old seconds
    assert "canny control driving pour" in dom
    assert dom.count('class="filmstrip"') == 2
    seams = re.findall(r'<table class="seams">(.*?)</table>', dom)
    assert len(seams) == 1 and seams[0].count("<tr>") == 1 + 3  # header + the 3 seams of 4 segments
    assert "Long take: 4 segments sharing 9 frames at each join." in dom
    assert manifest["film"]["sha256"] in dom and '<div class="retakes" data-shot="walk">' in dom

    screenshot = workspace / "review.png"  # kept in the test's tmp folder for a person to look at
    chromium(page, "--virtual-time-budget=8000", "--window-size=1000,1400", f"--screenshot={screenshot}")
    image = np.asarray(Image.open(screenshot).convert("RGB"))
    assert image.shape[:2] == (1400, 1000)
    # Not blank: the page background, text, and the film's colour bars all show.
    colours = {tuple(c) for c in image[::7, ::7].reshape(-1, 3)}
    assert len(colours) > 50, f"the screenshot has only {len(colours)} colours"


def test_a_clip_of_bytes_the_batch_made_a_filmstrip_of_shows_that_filmstrip(write_storyboard, workspace):
    """finish/decoded.py's `strips`: keyed by the clip's bytes (its record's sha256), frames and fps. A clip whose
    bytes have a filmstrip shows it without a decode; the others are decoded and remembered; no record sha256,
    nothing shared."""
    from ltx_flows.files import file_sha256
    from ltx_flows.finish.review import review_html

    path = write_storyboard("""
        version: 1
        name: strips
        model: {family: ltx2, checkpoint: tiny, steps: 2}
        output: {width: 128, height: 128, fps: 24, audio: none}
        shots:
          - {id: a, prompt: one, frames: 17}
          - {id: b, prompt: two, frames: 9}
    """)
    plan = plan_storyboard(load_storyboard(path), path)
    film_dir = workspace / "renders" / plan.name
    renders = fake_render(plan, film_dir)
    manifest = build_manifest(plan, film_dir, film_dir / "strips.mp4", stitch_film(plan, film_dir), renders)
    sha = {shot.id: file_sha256(film_dir / shot.clip) for shot in plan.shots}
    made = {(sha["a"], 17, 24): '<img class="filmstrip" alt="made before">'}

    html = review_html(plan, manifest, film_dir, {shot_id: {**record, "sha256": sha[shot_id]}
                                                  for shot_id, record in renders.items()}, made)

    assert html.count('alt="made before"') == 1  # shot a: not decoded again
    assert set(made) == {(sha["a"], 17, 24), (sha["b"], 9, 24)}  # shot b: decoded, and remembered
    assert 'src="data:image/jpeg;base64,' in made[(sha["b"], 9, 24)]
    assert made[(sha["b"], 9, 24)] in html
    unknown = review_html(plan, manifest, film_dir, renders, made)  # records without a sha256: every clip decoded
    assert 'alt="made before"' not in unknown and unknown.count('class="filmstrip"') == 2
