"""Integration: retakes on the real tiny pipelines (LTX-Video, and LTX-2 with sound), real ffmpeg, the real Prefect
flow (temporary server), the real shot cache, and the command line's fast path in a real process.

Generation is never stubbed: the pipelines' `__call__` is wrapped to record the real calls' conditions (each call
then runs the real pipeline). One render sequence per family runs once per module; the tests read what it left.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from diffusers import LTX2ConditionPipeline, LTXConditionPipeline

from ltx_flows.layout import audio_latents_path
from ltx_flows.render.shot import render_shot_cached
from ltx_flows.media.audio import read_audio
from ltx_flows.media.read import probe, read_frames
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.render.retake import base_clip
from ltx_flows.storyboard.loading import load_storyboard

from .generations import watching
from .test_fast_path import CLI_AND_IMPORTS

pytestmark = pytest.mark.integration

BOARD = """
version: 1
name: gift
model: {{family: {family}, checkpoint: tiny, steps: 2}}
output: {{width: 96, height: 64, fps: 24{audio}}}
shots:
  - id: reveal
    prompt: "hands lift the lid of a gift box"
    frames: 49
    retakes:
{retakes}
"""
ONE = '      - {from: 20, to: 28, prompt: "the lid catches the light"}'
TWO = ONE + "\n      - {from: 40, to: end, seed: 5}"


def _recorder(pipeline_class, monkeypatch):
    calls = []
    real = pipeline_class.__call__

    def recorded(pipe, *args, **kwargs):
        calls.append(kwargs)
        return real(pipe, *args, **kwargs)

    monkeypatch.setattr(pipeline_class, "__call__", recorded)
    return calls


def _render(folder: Path, text: str, film_dir: Path, on_step=None):
    path = folder / "board.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    plan = plan_storyboard(load_storyboard(path, folder), path)
    with watching() as generations:
        record = render_shot_cached(plan, plan.shots[0], film_dir, force=False, failed_attempts=[], on_step=on_step)
    return plan, record, generations.events


@pytest.fixture(scope="module")
def ltxv(prefect_server, tiny_cache, tmp_path_factory):
    """Render the shot with one retake through the flow, run again unchanged (in process, then from the command
    line), add a second retake, then remove both: what each step did."""
    from ltx_flows.production.flow import render_storyboard

    folder = tmp_path_factory.mktemp("retake-ltxv")
    film_dir = folder / "renders" / "gift"
    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = _recorder(LTXConditionPipeline, monkeypatch)
        monkeypatch.chdir(folder)  # the workspace root
        one = BOARD.format(family="ltxv", audio="", retakes=ONE)
        (folder / "board.yaml").write_text(textwrap.dedent(one).lstrip())
        plan = plan_storyboard(load_storyboard(folder / "board.yaml", folder), folder / "board.yaml")
        with watching() as generations:
            state = render_storyboard(str(folder / "board.yaml"), out=str(folder / "renders"), return_state=True)
        first_events = generations.events
        first = json.loads((film_dir / "shots" / "reveal.mp4.json").read_text())
        flow_manifest = json.loads((film_dir / "manifest.json").read_text())
        first_calls = list(calls)
        _, again, again_events = _render(folder, one, film_dir)
        cli = subprocess.run([sys.executable, "-c", CLI_AND_IMPORTS, "render", "board.yaml", "--out", "renders"], cwd=folder,
                             capture_output=True, text=True, timeout=300)
        manifest = json.loads((film_dir / "manifest.json").read_text())
        film_frames = probe(film_dir / "gift.mp4").frames if cli.returncode == 0 else None
        review = (film_dir / "review.html").read_text() if cli.returncode == 0 else ""
        shot_after_one = read_frames(film_dir / "shots" / "reveal.mp4")
        stage_one = read_frames(film_dir / plan.shots[0].retakes[0].cache)
        base = read_frames(film_dir / base_clip(plan.shots[0]))
        base_bytes = (film_dir / base_clip(plan.shots[0])).read_bytes()
        plan_two, second, second_events = _render(folder, BOARD.format(family="ltxv", audio="", retakes=TWO), film_dir)
        shot_after_two = read_frames(film_dir / "shots" / "reveal.mp4")
        # Every retake removed: the command line's fast path brings the shot's own render back, no model.
        (folder / "board.yaml").write_text(textwrap.dedent(BOARD.format(family="ltxv", audio="", retakes="      []")).lstrip())
        plan_none = plan_storyboard(load_storyboard(folder / "board.yaml", folder), folder / "board.yaml")
        removed = subprocess.run([sys.executable, "-c", CLI_AND_IMPORTS, "render", "board.yaml", "--out", "renders"], cwd=folder,
                                 capture_output=True, text=True, timeout=300)
        restored = json.loads((film_dir / "shots" / "reveal.mp4.json").read_text())
    return SimpleNamespace(**locals())


@pytest.mark.slow  # the shared fixture: 15-20 s alone here, 32-62 s with a Prefect server start under load
def test_the_window_changes_and_frames_well_outside_it_do_not(ltxv):
    retake = ltxv.plan.shots[0].retakes[0]
    assert ltxv.state.is_completed(), ltxv.state
    assert ltxv.flow_manifest["shots"][0]["status"] == "rendered"
    assert ltxv.first["content_hash"] == ltxv.plan.shots[0].content_hash
    assert ltxv.shot_after_one.shape == ltxv.base.shape == (49, 64, 96, 3)
    outside = np.r_[0 : retake.blend_start, retake.blend_end : 49]
    # The retake's stage is lossless: every frame outside the window and its blends is exactly the shot's own.
    assert np.array_equal(ltxv.stage_one[outside], ltxv.base[outside])
    window = slice(retake.start, retake.end)
    changed = np.abs(ltxv.stage_one[window].astype(int) - ltxv.base[window]).mean()
    # The shot clip is that stage encoded once more: a re-encode's difference, far below the window's change.
    reencode = np.abs(ltxv.shot_after_one[outside].astype(int) - ltxv.base[outside]).mean()
    assert changed > 10 and changed > 3 * reencode, (changed, reencode)


@pytest.mark.slow  # the shared fixture: 15-20 s alone here, 32-62 s with a Prefect server start under load
def test_the_retake_call_held_the_frames_around_the_window(ltxv):
    retake = ltxv.plan.shots[0].retakes[0]
    assert [c["prompt"] for c in ltxv.first_calls] == ["hands lift the lid of a gift box", "the lid catches the light"]
    call = ltxv.first_calls[1]
    assert call["num_frames"] == retake.clip_frames and call["generator"].initial_seed() == retake.seed
    held = call["conditions"]
    assert [(c.frame_index, len(c.video)) for c in held] == [(h.at, h.last_frame - h.first_frame + 1) for h in retake.held]
    assert retake.held[0].last_frame < retake.blend_start and retake.held[1].first_frame >= retake.blend_end
    for condition, frames in zip(held, retake.held):
        given = np.stack([np.asarray(image) for image in condition.video])
        assert np.array_equal(given, ltxv.base[frames.first_frame : frames.last_frame + 1])  # the shot's own frames
    assert ltxv.first_events[1]["held"] == [{"at": h.at, "frames": h.last_frame - h.first_frame + 1} for h in retake.held]


@pytest.mark.slow  # the shared fixture: 15-20 s alone here, 32-62 s with a Prefect server start under load
def test_an_unchanged_rerun_renders_nothing_and_the_command_line_imports_no_model(ltxv):
    assert ltxv.again["status"] == "cached" and ltxv.again_events == []
    assert ltxv.cli.returncode == 0, ltxv.cli.stdout + ltxv.cli.stderr
    assert "IMPORTED=\n" in ltxv.cli.stdout  # no torch, no diffusers, no Prefect, no Dask
    retakes = ltxv.manifest["shots"][0]["retakes"]
    retake = ltxv.plan.shots[0].retakes[0]
    assert [(r["start"], r["end"], r["seed"], r["prompt"], r["content_hash"], r["clip"]) for r in retakes] == [
        (20, 28, retake.seed, "the lid catches the light", retake.content_hash, retake.cache)]
    assert ltxv.manifest["shots"][0]["base_hash"] == ltxv.plan.shots[0].base_hash
    assert ltxv.film_frames == 49
    assert f'<a href="{retake.cache}">after this retake</a>' in ltxv.review  # the review page lists it


@pytest.mark.slow  # the shared fixture: 15-20 s alone here, 32-62 s with a Prefect server start under load
def test_adding_a_retake_renders_only_its_window_and_removing_them_brings_the_shot_back_without_a_model(ltxv):
    second = ltxv.plan_two.shots[0].retakes[1]
    assert ltxv.second["status"] == "rendered"
    assert [e["frames"] for e in ltxv.second_events] == [second.clip_frames]  # one generation: the new window
    first = ltxv.plan.shots[0].retakes[0]
    # Frames the second retake did not touch are the first retake's (a re-encode aside).
    untouched = slice(0, second.blend_start)
    assert np.abs(ltxv.shot_after_two[untouched].astype(int) - ltxv.shot_after_one[untouched]).mean() < 4
    assert ltxv.shot_after_two.shape[0] == 49 and first.end <= second.blend_start

    assert ltxv.removed.returncode == 0, ltxv.removed.stdout + ltxv.removed.stderr
    assert "IMPORTED=\n" in ltxv.removed.stdout  # no torch, no diffusers, no Prefect, no Dask: nothing rendered
    assert ltxv.restored["restored_from"] == base_clip(ltxv.plan_none.shots[0])
    assert ltxv.restored["content_hash"] == ltxv.plan_none.shots[0].content_hash == ltxv.plan.shots[0].base_hash
    assert (ltxv.film_dir / "shots" / "reveal.mp4").read_bytes() == ltxv.base_bytes  # the render, byte for byte
    # Stages of versions no longer asked for are cleaned up when a shot with retakes renders; the base stays.
    assert (ltxv.film_dir / base_clip(ltxv.plan_none.shots[0])).is_file()


@pytest.fixture(scope="module")
def ltx2(tiny_cache, tmp_path_factory):
    """An LTX-2 shot with generated sound and one retake."""
    folder = tmp_path_factory.mktemp("retake-ltx2")
    film_dir = folder / "renders" / "gift"
    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = _recorder(LTX2ConditionPipeline, monkeypatch)
        steps = []
        plan, record, events = _render(folder, BOARD.format(family="ltx2", audio=", audio: generate", retakes=ONE),
                                       film_dir, on_step=lambda done, total: steps.append((done, total)))
    shot = plan.shots[0]
    return SimpleNamespace(
        plan=plan, shot=shot, record=record, events=events, calls=calls, steps=steps,
        base_audio=read_audio(film_dir / base_clip(shot)), shot_audio=read_audio(film_dir / shot.clip),
        base_latents=np.load(audio_latents_path(film_dir / base_clip(shot))),
        stage_latents=np.load(audio_latents_path(film_dir / shot.retakes[0].cache)),
        info=probe(film_dir / shot.clip),
    )


def test_ltx2_retake_holds_the_sound_around_the_window_and_keeps_it_outside(ltx2):
    retake = ltx2.shot.retakes[0]
    assert ltx2.record["status"] == "rendered" and ltx2.info.frames == 49
    assert abs(ltx2.info.audio_duration - 49 / 24) < 1 / 24  # the sound lasts as long as the picture
    # The retake's call held frames at latent indices and most of its audio tokens.
    call = ltx2.calls[1]
    assert [(c.index, len(c.frames)) for c in call["conditions"]] == [
        (h.latent_index, h.last_frame - h.first_frame + 1) for h in retake.held]
    event = ltx2.events[1]
    assert 0 < event["audio_held"] < len(ltx2.base_latents)
    # One step count for the shot's two generations (its own render, then the retake): it never goes back.
    fractions = [done / total for done, total in ltx2.steps]
    assert len(fractions) == 4 and fractions == sorted(fractions) and fractions[-1] == 1.0 and fractions[1] == 0.5

    # Audio tokens (25 a second) outside the window and its blends are the shot's own; inside they are new.
    per_frame = 25 / 24
    first, last = round(retake.blend_start * per_frame), round(retake.blend_end * per_frame)
    assert ltx2.stage_latents.shape == ltx2.base_latents.shape
    assert np.array_equal(ltx2.stage_latents[:first], ltx2.base_latents[:first])
    assert np.array_equal(ltx2.stage_latents[last:], ltx2.base_latents[last:])
    assert not np.allclose(ltx2.stage_latents[first:last], ltx2.base_latents[first:last])

    # The decoded track outside the window is the shot's (two AAC encodes aside); inside it is the new sound.
    rate = ltx2.base_audio.rate
    outside = np.r_[0 : int(retake.blend_start / 24 * rate), int(retake.blend_end / 24 * rate) : int(49 / 24 * rate)]
    inside = slice(int(retake.start / 24 * rate), int(retake.end / 24 * rate))
    base, final = ltx2.base_audio.samples, ltx2.shot_audio.samples
    kept = np.abs(final[:, outside] - base[:, outside]).mean()
    replaced = np.abs(final[:, inside] - base[:, inside]).mean()
    assert kept < 0.25 * np.abs(base[:, outside]).mean() and replaced > 2 * kept, (kept, replaced)


TAKE = """
version: 1
name: take
model: {{checkpoint: tiny, steps: 2}}
output: {{width: 96, height: 64, fps: 24}}
shots:
  - id: run
    prompt: "a runner on a track at dawn"
    frames: 33
    segments: {{frames: 17, overlap: 9}}
    retakes:
{retakes}
"""


def test_a_retake_across_a_long_takes_joins_renders_one_window_over_the_kept_take(tiny_cache, tmp_path):
    """A long take (three segments, joins at frames 8-16 and 16-24), then a retake over both joins: the segments are
    not rendered again, one generation makes the window, and every frame outside it and its blends is the take's."""
    film_dir = tmp_path / "renders" / "take"
    plan, first, first_events = _render(tmp_path, TAKE.format(retakes="      []"), film_dir)
    take = read_frames(film_dir / plan.shots[0].clip)
    plan, record, events = _render(tmp_path, TAKE.format(retakes='      - {from: 10, to: 22, prompt: "she looks up"}'),
                                   film_dir)
    retake = plan.shots[0].retakes[0]

    assert first["status"] == record["status"] == "rendered" and len(first_events) == 3  # three segments
    assert [event["frames"] for event in events] == [retake.clip_frames]  # the window only: the take was kept
    base, stage = read_frames(film_dir / base_clip(plan.shots[0])), read_frames(film_dir / retake.cache)
    shot = read_frames(film_dir / plan.shots[0].clip)
    assert base.shape == stage.shape == shot.shape == (33, 64, 96, 3)
    assert np.abs(base.astype(int) - take).mean() < 4  # the kept take is the render (lossless RGB of its frames)
    outside = np.r_[0 : retake.blend_start, retake.blend_end : 33]
    assert len(outside) > 0 and np.array_equal(stage[outside], base[outside])
    window = slice(retake.start, retake.end)
    assert np.abs(stage[window].astype(int) - base[window]).mean() > 10
