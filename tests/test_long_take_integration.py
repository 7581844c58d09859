"""Integration: long takes through the real Prefect flow (temporary server), the real tiny diffusers
pipeline and the real ffmpeg binary.

Generation is never stubbed: the `pipeline_calls` fixture wraps LTXConditionPipeline.__call__ to count
(and, when asked, fail) real calls; every other call runs the real pipeline.
"""

import json

import numpy as np
import pytest
from diffusers import LTXConditionPipeline

from ltx_flows.render.shot import render_shot
from ltx_flows.media.read import probe, read_frames
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.loading import load_storyboard

pytestmark = pytest.mark.integration

FILM = """
version: 1
name: long-take
model: {checkpoint: tiny, steps: 2}
output: {width: 96, height: 64, fps: 24, crf: 18}
defaults: {seed: 3}
shots:
  - id: intro
    prompt: "a runner ties her shoes"
    frames: 17
    transition: {crossfade: 0.25}
  - id: orbit
    prompt: "slow orbit around a runner on a track at dawn"
    frames: 33
    segments:
      frames: 17
      overlap: 9
      prompts: ["segment one", "segment two", "segment three"]
    keyframes:
      - {image: keyframes/a.png, at: end}
"""

# Four segments of 17 frames sharing 9: 17 + 3 x 8 = 41 frames.
TAKE = """
version: 1
name: take
model: {checkpoint: tiny, steps: 2}
output: {width: 96, height: 64, fps: 24}
shots:
  - id: run
    prompt: "a runner"
    frames: 41
    segments:
      frames: 17
      overlap: 9
      prompts: ["segment one", "segment two", "segment three", "segment four"]
"""


@pytest.fixture
def pipeline_calls(monkeypatch):
    """The keyword arguments of every real pipeline call; a call whose prompt is in `.fail` raises instead."""

    class Calls(list):
        fail: set[str] = set()

        @property
        def prompts(self) -> list[str]:
            return [call["prompt"] for call in self]

    calls = Calls()
    real_call = LTXConditionPipeline.__call__

    def counted(pipe, *args, **kwargs):
        if kwargs["prompt"] in calls.fail:
            raise RuntimeError(f"injected failure rendering {kwargs['prompt']!r}")
        calls.append(kwargs)
        return real_call(pipe, *args, **kwargs)

    monkeypatch.setattr(LTXConditionPipeline, "__call__", counted)
    return calls


def test_three_segment_take_renders_through_the_flow(prefect_server, tiny_cache, write_storyboard, workspace, pipeline_calls):
    from ltx_flows.production.flow import render_storyboard

    path = write_storyboard(FILM)
    state = render_storyboard(str(path), out=str(workspace / "renders"), return_state=True)
    assert state.is_completed(), state
    film_dir = workspace / "renders" / "long-take"

    # Exact lengths, counted on decoded frames: 3 x 17 - 2 x 9 = 33 for the take, 17 + 33 - 6 for the film.
    take = read_frames(film_dir / "shots" / "orbit.mp4")
    assert take.shape == (33, 64, 96, 3)
    assert read_frames(film_dir / "long-take.mp4").shape == (17 + 33 - 6, 64, 96, 3)
    assert probe(film_dir / "shots" / "intro.mp4").frames == 17

    # One real pipeline call per segment, each with its own prompt; later segments continue the
    # take's last 9 frames, and the end keyframe lands on the last segment's last frame.
    assert sorted(pipeline_calls.prompts) == sorted(["a runner ties her shoes", "segment one", "segment two", "segment three"])
    calls = {call["prompt"]: call for call in pipeline_calls}
    assert calls["segment one"]["conditions"] is None
    for prompt in ("segment two", "segment three"):
        tail = calls[prompt]["conditions"][0]
        assert (tail.frame_index, len(tail.video), tail.strength) == (0, 9, 1.0)
        assert calls[prompt]["num_frames"] == 17
    assert [c.frame_index for c in calls["segment three"]["conditions"][1:]] == [16]
    assert {call["generator"].initial_seed() for call in pipeline_calls if call["prompt"].startswith("segment")} == {
        s.seed for s in plan_storyboard(load_storyboard(path), path).shot("orbit").segments
    }

    manifest = json.loads((film_dir / "manifest.json").read_text())
    orbit = manifest["shots"][1]
    assert manifest["film"]["frames"] == 44 and orbit["frames"] == 33 and orbit["overlap"] == 9
    assert [(s["start"], s["frames"], s["prompt"]) for s in orbit["segments"]] == [
        (0, 17, "segment one"), (8, 17, "segment two"), (16, 17, "segment three")
    ]
    assert [seam["frame"] for seam in orbit["seams"]] == [8, 16]
    assert all(seam["score"] > 0 and seam["colour_shift"] >= 0 for seam in orbit["seams"])
    assert "segments" not in manifest["shots"][0]
    assert sorted(p.name for p in (film_dir / "segments" / "orbit").glob("*.mp4")) == [
        s["cache"].rsplit("/", 1)[1] for s in orbit["segments"]
    ]
    assert not list(film_dir.rglob("*.partial*")), "temporary files left behind"


def test_a_failed_take_resumes_at_the_first_missing_segment(
    prefect_server, tiny_cache, write_storyboard, workspace, pipeline_calls
):
    from ltx_flows.production.flow import render_storyboard

    path = write_storyboard(TAKE)
    out = workspace / "renders"
    pipeline_calls.fail = {"segment three"}  # every attempt at segment 3 fails, retries included
    state = render_storyboard(str(path), out=str(out), return_state=True)
    assert state.is_failed()
    assert pipeline_calls.prompts == ["segment one", "segment two"]
    assert len(list((out / "take" / "segments" / "run").glob("*.mp4"))) == 2
    assert not (out / "take" / "shots" / "run.mp4").exists()  # no half-written take

    pipeline_calls.fail = set()
    pipeline_calls.clear()
    state = render_storyboard(str(path), out=str(out), return_state=True)
    assert state.is_completed(), state
    assert pipeline_calls.prompts == ["segment three", "segment four"]
    resumed = read_frames(out / "take" / "shots" / "run.mp4")
    assert resumed.shape == (41, 64, 96, 3)

    # The resumed take is the take rendered in one go.
    plan = plan_storyboard(load_storyboard(path), path)
    render_shot(plan, plan.shots[0], workspace / "in-one-go")
    assert np.array_equal(read_frames(workspace / "in-one-go" / "shots" / "run.mp4"), resumed)


def test_editing_one_segment_prompt_rerenders_it_and_the_later_ones_only(tiny_cache, write_storyboard, workspace, pipeline_calls):
    def render(text):
        path = write_storyboard(text)
        plan = plan_storyboard(load_storyboard(path), path)
        return render_shot(plan, plan.shots[0], workspace / "renders")

    render(TAKE)
    assert len(pipeline_calls) == 4
    segments = workspace / "renders" / "segments" / "run"
    before = {p.name: p.stat().st_mtime_ns for p in segments.glob("*.mp4")}

    pipeline_calls.clear()
    render(TAKE.replace('"segment three"', '"segment three, now at night"'))
    assert pipeline_calls.prompts == ["segment three, now at night", "segment four"]
    after = {p.name: p.stat().st_mtime_ns for p in segments.glob("*.mp4")}
    kept = sorted(set(before) & set(after))
    assert [name[:2] for name in kept] == ["00", "01"]  # segments 1 and 2: the same files, untouched
    assert all(before[name] == after[name] for name in kept)
    assert len(after) == 4  # the old segments 3 and 4 were removed, not left to pile up
    assert len(list(segments.glob("*.mp4.json"))) == 4  # with their records

    pipeline_calls.clear()
    render(TAKE.replace('"segment three"', '"segment three, now at night"'))
    assert pipeline_calls == []  # everything cached: the take is reassembled without rendering


def render_take(write_storyboard, workspace, text=TAKE, force=False):
    path = write_storyboard(text)
    plan = plan_storyboard(load_storyboard(path), path)
    clip = render_shot(plan, plan.shots[0], workspace / "renders", force=force)
    return plan, read_frames(clip)


def test_a_take_rendered_in_one_go_never_decodes_its_segments_and_records_each_one(
    tiny_cache, write_storyboard, workspace, pipeline_calls, monkeypatch
):
    from ltx_flows.render import segments as segment_cache
    from ltx_flows.files import file_sha256

    decoded = []
    real_read = segment_cache.read_frames
    monkeypatch.setattr(segment_cache, "read_frames", lambda path: decoded.append(path) or real_read(path))
    plan, take = render_take(write_storyboard, workspace)
    assert len(pipeline_calls) == 4 and decoded == []  # joined from memory: no encode-and-decode-back per segment

    for segment in plan.shots[0].segments:
        cached = workspace / "renders" / segment.cache
        record = json.loads(cached.with_name(cached.name + ".json").read_text())
        assert record["sha256"] == file_sha256(cached) and record["frames"] == segment.frames
        assert record["content_hash"] == segment.content_hash

    pipeline_calls.clear()
    _, again = render_take(write_storyboard, workspace)
    assert pipeline_calls == [] and len(decoded) == 4
    assert np.array_equal(again, take)  # lossless cache: reassembled bit for bit


def test_a_damaged_cached_segment_is_rendered_again_and_the_log_names_it(
    tiny_cache, write_storyboard, workspace, pipeline_calls, caplog
):
    plan, take = render_take(write_storyboard, workspace)
    damaged = workspace / "renders" / plan.shots[0].segments[1].cache
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    damaged.write_bytes(bytes(data))

    pipeline_calls.clear()
    with caplog.at_level("WARNING", logger="ltx_flows.render.segments"):
        _, again = render_take(write_storyboard, workspace)
    assert pipeline_calls.prompts == ["segment two"]
    assert any(plan.shots[0].segments[1].cache in record.getMessage() and "damaged" in record.getMessage()
               for record in caplog.records)
    assert np.array_equal(again, take)


def test_force_renders_every_segment_again(tiny_cache, write_storyboard, workspace, pipeline_calls):
    _, take = render_take(write_storyboard, workspace)
    pipeline_calls.clear()
    _, again = render_take(write_storyboard, workspace, force=True)
    assert pipeline_calls.prompts == ["segment one", "segment two", "segment three", "segment four"]
    assert np.array_equal(again, take)


def test_only_files_ltx_flows_wrote_are_removed_from_a_takes_segment_folder(
    tiny_cache, write_storyboard, workspace, pipeline_calls
):
    render_take(write_storyboard, workspace)
    folder = workspace / "renders" / "segments" / "run"
    foreign = [folder / "notes.txt", folder / "my-take.mp4", folder / "00-not-a-hash.mp4"]
    for path in foreign:
        path.write_text("mine")
    old = sorted(p.name for p in folder.glob("0[23]-*.mp4*"))
    assert len(old) == 4  # segments 3 and 4 and their records

    render_take(write_storyboard, workspace, TAKE.replace('"segment three"', '"segment three, at night"'))
    assert all(path.read_text() == "mine" for path in foreign)
    assert not any((folder / name).exists() for name in old)
