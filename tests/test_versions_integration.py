"""Integration: a storyboard with variants through render-batch on a real temporary Prefect server, the real tiny
diffusers pipeline and real ffmpeg. Each variant is its own film; a shot equal in several films (one content hash)
renders once, the others copy it; the counts come from the flow's own summary and the generation events of the
progress log (`tests/generations.py`)."""

import json
import textwrap

import pytest

from ltx_flows.media.read import probe

from .generations import watching
from .test_batch_integration import run_batch

pytestmark = pytest.mark.integration

SPOT = """
version: 1
name: spot
model: {checkpoint: tiny, steps: 2}
output: {width: 64, height: 64, fps: 24}
defaults: {seed: 3}
variants:
  matrix: {product: [original, vanilla], lang: [en, de]}
shots:
  - {id: open, prompt: "a can of ${product} ice cream", frames: 9}
  - {id: talk, prompt: "a woman says hello in ${lang}", frames: 9}
"""


def test_variants_render_each_unique_shot_once(prefect_server, tiny_cache, workspace):
    path = workspace / "spot.yaml"
    path.write_text(textwrap.dedent(SPOT).lstrip())
    with watching() as generations:
        state, summary = run_batch([path], workspace)
    assert state.is_completed(), state
    entry = summary["succeeded"][str(path)]
    # 4 films x 2 shots = 8 shots; `open` differs by product (2), `talk` by language (2): 4 unique.
    assert len(generations.shots()) == 4
    assert (entry["generated"], entry["reused"]) == (4, 4)
    variants = ["original-en", "original-de", "vanilla-en", "vanilla-de"]
    assert [film["variant"] for film in entry["films"]] == variants
    for film, variant in zip(entry["films"], variants):
        assert film["path"] == str(workspace / "renders" / "spot" / variant / f"spot_{variant}.mp4")
        assert probe(film["path"]).frames == 18 and (film["width"], film["height"]) == (64, 64)
        manifest = json.loads((workspace / "renders" / "spot" / variant / "manifest.json").read_text())
        assert manifest["film"]["sha256"]
        assert (workspace / "renders" / "spot" / variant / "review.html").is_file()
    statuses = entry["shots"]
    assert sorted(statuses) == sorted(f"{v}/{s}" for v in variants for s in ("open", "talk"))
    assert sum(status == "rendered" for status in statuses.values()) == 4

    # A second storyboard in the batch whose shot equals one already rendered copies it, and a re-run renders nothing.
    other = workspace / "other.yaml"
    other.write_text(textwrap.dedent(SPOT).lstrip().replace("name: spot", "name: other").split("variants:")[0]
                     + "shots:\n  - {id: open, prompt: \"a can of original ice cream\", frames: 9}\n")
    with watching() as generations:
        state, summary = run_batch([path, other], workspace)
    assert state.is_completed(), state
    assert generations.shots() == []
    assert summary["succeeded"][str(other)]["shots"] == {"open": "cached"}
    assert summary["succeeded"][str(path)]["generated"] == 0
