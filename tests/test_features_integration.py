"""Integration: LTX-2 with sound, two-pass rendering, music beds and controls through the real Prefect flow,
against a real temporary Prefect server, the real tiny diffusers pipelines and the real ffmpeg binary."""

import json

import av
import numpy as np
import pytest

from . import loads
from ltx_flows.models import loading
from ltx_flows.render import generate
from ltx_flows.models.annotators import ANNOTATORS_ENV
from ltx_flows.media.read import probe, read_frames
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.loading import load_storyboard

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]


def render(path, workspace):
    from ltx_flows.production.flow import render_storyboard

    return render_storyboard(str(path), out=str(workspace / "renders"), return_state=True)


def sound_rms(path) -> float:
    with av.open(str(path)) as container:
        samples = np.concatenate([frame.to_ndarray().ravel() for frame in container.decode(audio=0)])
    return float(np.sqrt(np.mean(samples**2)))


def test_ltx2_film_with_sound_through_the_flow(prefect_server, tiny_cache, write_storyboard, workspace):
    path = write_storyboard(
        """
        version: 1
        name: talkie
        model: {family: ltx2, checkpoint: tiny, steps: 2}
        output: {width: 96, height: 64, fps: 24}
        shots:
          - id: hello
            prompt: "a man says hello"
            frames: 17
            keyframes: [{image: keyframes/a.png, at: end}]
            transition: {crossfade: 0.25}
          - id: pause
            prompt: "he waits"
            frames: 25
            mute: true
          - id: bye
            prompt: "he says goodbye"
            frames: 17
        """
    )
    state = render(path, workspace)
    assert state.is_completed(), state

    film_dir = workspace / "renders" / "talkie"
    film = probe(film_dir / "talkie.mp4")
    assert film.frames == 17 + 25 + 17 - 6
    assert film.has_audio and abs(film.audio_duration - film.duration) <= 1 / 24
    for shot_id, frames in [("hello", 17), ("pause", 25), ("bye", 17)]:
        clip = probe(film_dir / "shots" / f"{shot_id}.mp4")
        assert clip.frames == frames and clip.audio_duration == pytest.approx(frames / 24, abs=1e-6)
    # Generated sound where the model made it, silence under the muted shot.
    assert sound_rms(film_dir / "shots" / "hello.mp4") > 1e-3
    assert sound_rms(film_dir / "shots" / "pause.mp4") < 1e-4
    manifest = json.loads((film_dir / "manifest.json").read_text())
    assert manifest["audio"]["mode"] == "generate"
    assert manifest["film"]["audio_seconds"] == pytest.approx(film.duration, abs=1 / 24)


def test_two_pass_shot_with_a_music_bed_through_the_flow(prefect_server, tiny_cache, write_storyboard, workspace,
                                                         reference_media):
    path = write_storyboard(
        f"""
        version: 1
        name: spot
        model: {{family: ltxv, checkpoint: tiny, steps: 2, two_pass: true}}
        output: {{width: 128, height: 64, fps: 24, audio: {reference_media["bed"]}}}
        shots:
          - {{id: a, prompt: "a glass of cold brew", frames: 25}}
          - {{id: b, prompt: "a bottle on a table", frames: 17}}
        """
    )
    # The flow's tasks run in this process and share its pipelines: watch the upsampler they will use.
    plan = plan_storyboard(load_storyboard(path), path)
    upsampler = loading.load_upsampler(plan.model, plan.upsampler, loading.load_pipeline(plan.model)).latent_upsampler
    calls = []
    hook = upsampler.register_forward_hook(lambda module, args, output: calls.append(tuple(output.shape[-2:])))
    try:
        state = render(path, workspace)
    finally:
        hook.remove()
    assert state.is_completed(), state
    assert calls == [(2, 4), (2, 4)]  # each shot's half-size latents (1 x 2) upsampled to 2 x 4

    film_dir = workspace / "renders" / "spot"
    film = probe(film_dir / "spot.mp4")
    assert (film.frames, film.width, film.height) == (42, 128, 64)
    assert film.has_audio and film.audio_duration == pytest.approx(42 / 24, abs=1e-6)
    assert not probe(film_dir / "shots" / "a.mp4").has_audio  # the bed goes under the film, not the clips
    assert sound_rms(film_dir / "spot.mp4") > 0.01


def test_canny_controlled_shot_through_the_flow(prefect_server, tiny_cache, write_storyboard, workspace, reference_media):
    board = """
    version: 1
    name: slide
    model: {{family: ltx2, checkpoint: tiny, steps: 2}}
    output: {{width: 128, height: 64, fps: 24}}
    shots:
      - id: box
        prompt: "a white box slides to the right"
        frames: 17
        {control}
    """
    path = write_storyboard(board.format(control=f"control: {{kind: canny, source: {reference_media['clip']}, strength: 0.9}}"))
    state = render(path, workspace)
    assert state.is_completed(), state

    film_dir = workspace / "renders" / "slide"
    control = probe(film_dir / "controls" / "box-canny.mp4")
    assert (control.frames, control.width, control.height) == (17, 128, 64)
    assert probe(film_dir / "slide.mp4").frames == 17
    controlled = read_frames(film_dir / "shots" / "box.mp4")
    manifest = json.loads((film_dir / "manifest.json").read_text())
    assert manifest["shots"][0]["control"]["video"] == "controls/box-canny.mp4"

    # The same shot without its control renders differently: the control conditioned the generation.
    path = write_storyboard(board.format(control=""))
    assert render(path, workspace).is_completed()
    plain = read_frames(film_dir / "shots" / "box.mp4")
    assert np.abs(controlled.astype(int) - plain).mean() > 1


def test_missing_detector_weights_fail_the_flow_before_any_model_loads(
    prefect_server, tiny_cache, write_storyboard, workspace, reference_media, tmp_path, monkeypatch
):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    monkeypatch.setenv(ANNOTATORS_ENV, str(empty))
    path = write_storyboard(
        f"""
        version: 1
        name: deep
        model: {{family: ltx2, checkpoint: tiny, steps: 2}}
        output: {{width: 128, height: 64}}
        shots:
          - {{id: a, prompt: x, frames: 9}}
          - {{id: b, prompt: y, frames: 9, control: {{kind: depth, source: {reference_media["still"]}}}}}
        """
    )
    with loads.counting() as models_loaded:
        state = render(path, workspace)
    assert state.is_failed()
    assert f"dpt_hybrid-midas-501f0c75.pt in {empty}" in state.message
    assert models_loaded.loads == 0
    assert not (workspace / "renders" / "deep" / "shots").exists()


def test_canny_control_across_two_segments_of_a_long_take(
    prefect_server, tiny_cache, write_storyboard, workspace, reference_media, monkeypatch
):
    """Each segment of a controlled long take follows its own slice of the shot's control video."""
    slices = []
    real_control_frames = generate.control_frames

    def recording_control_frames(video, start, count):
        frames = real_control_frames(video, start, count)
        slices.append((start, count, frames))
        return frames

    monkeypatch.setattr(generate, "control_frames", recording_control_frames)  # records, still the real function
    path = write_storyboard(
        f"""
        version: 1
        name: slide-take
        model: {{family: ltx2, checkpoint: tiny, steps: 2}}
        output: {{width: 128, height: 64, fps: 24, audio: none}}
        shots:
          - id: box
            prompt: "a white box slides to the right"
            frames: 25
            segments: {{frames: 17, overlap: 9}}
            control: {{kind: canny, source: {reference_media['clip']}}}
        """
    )
    plan = plan_storyboard(load_storyboard(path), path)
    assert [(s.start, s.frames) for s in plan.shots[0].segments] == [(0, 17), (8, 17)]
    state = render(path, workspace)
    assert state.is_completed(), state

    film_dir = workspace / "renders" / "slide-take"
    control = read_frames(film_dir / "controls" / "box-canny.mp4")
    assert control.shape == (25, 64, 128, 3)  # the control video covers the whole take
    assert [(start, count) for start, count, _ in slices] == [(0, 17), (8, 17)]
    for start, count, frames in slices:
        assert np.abs(frames.astype(int) - control[start : start + count]).mean() < 2  # the matching slice
    assert probe(film_dir / "shots" / "box.mp4").frames == 25
    assert probe(film_dir / "slide-take.mp4").frames == 25
