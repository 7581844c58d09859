"""Integration: the real Prefect flow against a real temporary Prefect server, the real tiny
diffusers pipeline (built offline, loaded with from_pretrained) and the real ffmpeg binary."""

import json

import av
import numpy as np
import pytest

from . import loads
from ltx_flows.models.loading import load_pipeline
from ltx_flows.render.generate import generate_shot
from ltx_flows.media.read import probe, read_frames

pytestmark = pytest.mark.integration

BOARD = """
version: 1
name: two-shots
model: {checkpoint: tiny, steps: 2}
output: {width: 96, height: 64, fps: 24, crf: 18}
defaults: {seed: 5}
shots:
  - id: first
    prompt: "a red ball rolls across a table"
    frames: 17
    keyframes:
      - {image: keyframes/a.png, at: 8, strength: 0.9}
    transition: {crossfade: 0.25}
  - id: second
    prompt: "the ball falls off the table"
    frames: 25
"""


def test_two_shot_storyboard_renders_through_the_flow(prefect_server, tiny_cache, write_storyboard, workspace):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from ltx_flows.production.flow import render_storyboard

    path = write_storyboard(BOARD)
    with loads.counting() as models_loaded:
        state = render_storyboard(str(path), out=str(workspace / "renders"), return_state=True)
    assert state.is_completed(), state
    result = state.result()

    film = workspace / "renders" / "two-shots" / "two-shots.mp4"
    assert result["film"] == str(film)
    info = probe(film)
    assert (info.frames, info.width, info.height, info.fps) == (17 + 25 - 6, 96, 64, 24)
    frames = read_frames(film)
    assert frames.shape == (36, 64, 96, 3)  # decoded, not just container metadata
    assert frames.std() > 1  # the tiny model renders noise, but not a blank film

    for shot_id, count in [("first", 17), ("second", 25)]:
        clip = film.parent / "shots" / f"{shot_id}.mp4"
        assert probe(clip).frames == count
    with av.open(str(film)) as container:
        assert container.streams.video[0].codec_context.name == "h264"

    manifest = json.loads((film.parent / "manifest.json").read_text())
    assert manifest["film"]["frames"] == 36 and manifest["film"]["fps"] == 24
    assert [s["id"] for s in manifest["shots"]] == ["first", "second"]
    assert manifest["film"]["sha256"] and manifest["libraries"]["diffusers"]
    assert not list(film.parent.rglob("*.partial*")), "temporary files left behind"

    # One pipeline load for both shots (and none at all if an earlier test in this process loaded it).
    assert models_loaded.loads <= 1

    async def task_run_names():
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
            )
            return sorted(run.name for run in runs)

    import asyncio

    assert asyncio.run(task_run_names()) == ["shot-two-shots-first", "shot-two-shots-second", "stitch-two-shots"]


def test_same_storyboard_and_seed_give_the_same_frames(prefect_server, tiny_cache, write_storyboard, workspace):
    from ltx_flows.plan.planner import plan_storyboard
    from ltx_flows.storyboard.loading import load_storyboard

    path = write_storyboard(BOARD)
    plan = plan_storyboard(load_storyboard(path), path)
    pipe = load_pipeline(plan.model)
    first = generate_shot(pipe, plan.shots[0], plan.model, plan.output).frames
    again = generate_shot(pipe, plan.shots[0], plan.model, plan.output).frames
    other = generate_shot(pipe, plan.shots[1], plan.model, plan.output).frames
    assert first.shape == (17, 64, 96, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert not np.array_equal(first[:9], other[:9])
