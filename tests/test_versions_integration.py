"""Integration: a storyboard with variants through render-batch on a real temporary Prefect server, the real tiny
diffusers pipeline and real ffmpeg. Each variant is its own film; a shot equal in several films (one content hash)
renders once, the others copy it; the counts come from the flow's own summary and the generation events of the
progress log (`tests/generations.py`)."""

import json
import textwrap

import av
import numpy as np
import pytest
from PIL import Image

from ltx_flows.media.overlays import SafeArea
from ltx_flows.media.read import probe
from ltx_flows.production.batch import finish_unchanged
from ltx_flows.storyboard.loading import load_versions

from .generations import watching
from .test_batch_integration import run_batch

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPOT = """
version: 1
name: spot
model: {checkpoint: tiny, steps: 2}
output: {width: 512, height: 288, fps: 24}
defaults: {seed: 3}
variants:
  matrix: {product: [original, vanilla], lang: [en, de]}
deliverables:
  - {name: wide, framing: render, width: 512, height: 288}
  - {name: story, framing: crop, width: 162, height: 288, profile: social-vertical,
     captions: {box_color: "#00ff00", box_opacity: 1}}
overlays:
  logo: {image: logo.png, position: top-right, margin: 4}
  legal: {text: "Terms apply", size: 10}
shots:
  - {id: open, prompt: "a can of ${product} ice cream", frames: 9, focus: {x: 0.3}}
  - {id: talk, prompt: "a woman says hello in ${lang}", frames: 9, caption: "Hello ${lang}"}
"""
VARIANTS = ["original-en", "original-de", "vanilla-en", "vanilla-de"]


def logo_pixels(path, width: int, height: int) -> np.ndarray:
    """The first frame's pixels where the logo (16x8, top-right, margin 4) sits in a title-safe area of 0.9."""
    left, top, right, bottom = SafeArea(width=width, height=height, fraction=0.9).box
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    return frame[top + 4 + 2:top + 4 + 6, right - 4 - 16 + 3:right - 4 - 3].reshape(-1, 3)


def test_variants_and_deliverables_render_each_unique_shot_once(prefect_server, tiny_cache, workspace):
    Image.new("RGBA", (16, 8), (255, 0, 0, 255)).save(workspace / "logo.png")
    path = workspace / "spot.yaml"
    path.write_text(textwrap.dedent(SPOT).lstrip())
    with watching() as generations:
        state, summary = run_batch([path], workspace)
    assert state.is_completed(), state
    entry = summary["succeeded"][str(path)]
    # Per variant two films of two shots (the film at 512x288 that the story is cropped from, and `wide`, the same
    # size): 16 shots. `open` differs by product, `talk` by language: 4 unique, each generated once.
    assert len(generations.shots()) == 4
    assert (entry["generated"], entry["reused"]) == (4, 12)
    assert sum(status == "rendered" for status in entry["shots"].values()) == 4 == entry["unique_shots"]
    films = entry["films"]
    assert [(f["variant"], f["deliverable"]) for f in films] == [(v, d) for v in VARIANTS for d in ("story", "wide")]
    for film in films:
        variant, deliverable = film["variant"], film["deliverable"]
        assert film["path"] == str(workspace / "renders" / "spot" / variant / f"spot_{variant}_{deliverable}.mp4")
        size = (162, 288) if deliverable == "story" else (512, 288)
        info = probe(film["path"])
        assert (film["width"], film["height"]) == (info.width, info.height) == size and info.frames == 18
        red = logo_pixels(film["path"], *size).mean(axis=0)
        assert red[0] > 180 and red[1] < 80 and red[2] < 80, (film, red)
    manifest = json.loads((workspace / "renders" / "spot" / "original-en" / "manifest.json").read_text())
    [story] = manifest["deliveries"]
    assert story["check"]["ok"] and story["check"]["audio_rate"] is None and story["profile"] == "social-vertical"
    # The story burns in the variant's caption (the `talk` shot: film frames 9-17) over its own picture; green box.
    assert story["captions"] == "story-captions.ass"
    assert "Hello en" in (workspace / "renders" / "spot" / "original-en" / "overlays" / "story-captions.ass").read_text()
    with av.open(story["path"]) as container:
        shown = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    green = [int(((f[..., 1] > 200) & (f[..., 0] < 60) & (f[..., 2] < 60)).sum()) for f in shown]
    assert green[13] > 60 and sum(green[:8]) * 4 < green[13], green

    # Another storyboard of the batch whose shot equals one already rendered copies it: nothing renders again.
    other = workspace / "other.yaml"
    other.write_text("version: 1\nname: other\nmodel: {checkpoint: tiny, steps: 2}\noutput: {width: 512, height: 288}\n"
                     "defaults: {seed: 3}\nshots: [{id: open, prompt: a can of original ice cream, frames: 9}]\n")
    with watching() as generations:
        state, summary = run_batch([path, other], workspace)
    assert state.is_completed(), state
    assert generations.shots() == []
    assert summary["succeeded"][str(other)]["shots"] == {"open": "cached"}
    assert summary["succeeded"][str(path)]["generated"] == 0

    # An unchanged re-run from the command line finishes every film without a model or Prefect (the fast path).
    said = []
    summary = finish_unchanged([(path, load_versions(path))], str(workspace / "renders"), say=said.append)
    entry = summary["succeeded"][str(path)]
    assert (entry["generated"], entry["reused"], entry["unique_shots"]) == (0, 16, 4)
    assert [film["path"] for film in entry["films"]] == [film["path"] for film in films]
    assert len(said) == 8 and all("film unchanged" in line for line in said)
