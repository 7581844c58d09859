"""Integration: a shot that fails its checks for real is rendered again with a new seed, through the real flow.

The real tiny LTX-Video pipeline renders, real ffmpeg encodes, the real Prefect flow (temporary server) runs, and
nothing in production code is told to fail: the test first renders the shot's first seed and its retry seed
(plan/takes.py derives it) and measures both with the real checks, then sets a threshold between the two scores,
so the first attempt fails and the retry passes.
"""

import json
import textwrap
from pathlib import Path

import pytest

from ltx_flows.media.read import read_frames
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.plan.takes import retry_seeds
from ltx_flows.render.takes import render_chosen
from ltx_flows.storyboard.loading import load_storyboard

from .generations import watching

pytestmark = pytest.mark.integration

BOARD = """
version: 1
name: gate
model: {{family: ltxv, checkpoint: tiny, steps: 2}}
output: {{width: 96, height: 64, fps: 24}}
defaults: {{seed: {seed}}}
{qc}
shots:
  - id: dusk
    prompt: "a lighthouse at dusk"
    frames: 9
{seed_line}
"""


def _board(folder: Path, name: str, base: int, qc: str = "", seed: int | None = None) -> Path:
    path = folder / name
    seed_line = f"    seed: {seed}" if seed is not None else ""
    path.write_text(textwrap.dedent(BOARD.format(seed=base, qc=qc, seed_line=seed_line)).lstrip())
    return path


def _scores(folder: Path, base: int, seed: int) -> dict:
    """The checks' scores of the shot rendered with `seed` (checked with every check on, nothing failing)."""
    path = _board(folder, f"probe-{seed}.yaml", base, seed=seed)
    plan = plan_storyboard(load_storyboard(path, folder), path)
    return render_chosen(plan, plan.shots[0], folder / "probe", force=False, failed_attempts=[])["qc"]["scores"]


def test_a_failing_shot_renders_again_with_a_new_seed_and_the_film_uses_it(prefect_server, tiny_cache, tmp_path,
                                                                          monkeypatch):
    from ltx_flows.production.flow import render_storyboard

    monkeypatch.chdir(tmp_path)
    # Find a seed whose first render scores higher than its retry on some check (each check fails above its
    # threshold), and put that check's threshold between the two.
    for base in range(6):
        path = _board(tmp_path, "board.yaml", base)
        first = plan_storyboard(load_storyboard(path, tmp_path), path).shots[0].seed
        second = retry_seeds(first, 1)[0]
        one, two = _scores(tmp_path, base, first), _scores(tmp_path, base, second)
        check = next((name for name in one if one[name] > two[name] + 1e-3), None)
        if check:
            break
    assert check, "no base seed among 6 gave a first render scoring above its retry"
    threshold = (one[check] + two[check]) / 2
    path = _board(tmp_path, "board.yaml", base, qc=f"qc: {{retries: 2, {check}: {threshold!r}}}")

    with watching() as generations:
        state = render_storyboard(str(path), out=str(tmp_path / "renders"), return_state=True)
    assert state.is_completed(), state
    film_dir = tmp_path / "renders" / "gate"
    manifest = json.loads((film_dir / "manifest.json").read_text())
    [shot] = manifest["shots"]
    # Two attempts, the first failing the check for real and the second passing; no third.
    tried = shot["attempts_tried"]
    assert [(t["seed"], t["qc"]["passed"]) for t in tried] == [(first, False), (second, True)], tried
    assert check in tried[0]["qc"]["failed"]
    assert tried[0]["qc"]["scores"][check] == pytest.approx(one[check])
    assert len(generations.events) == 2
    assert shot["seed"] == second and shot["take"] == 2 and not shot["needs_review"]
    # The film carries the retry's picture: the shot clip is the retry's clip, byte for byte.
    assert (film_dir / "shots" / "dusk.mp4").read_bytes() == (film_dir / tried[1]["clip"]).read_bytes()
    assert read_frames(film_dir / "gate.mp4").shape[0] == 9
    review = (film_dir / "review.html").read_text()
    assert f"seed {second}" in review and "retry 2" in review
