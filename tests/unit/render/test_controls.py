"""Controls: reference media -> control videos, with real opencv, real controlnet-aux detector classes and
real ffmpeg. The depth and pose tests load controlnet-aux's MiDaS and OpenPose classes from a folder of
random-weight files the test writes: they check loading, resizing, timing and caching, not the maps."""

import numpy as np
import pytest

from ltx_flows.models import annotators
from ltx_flows.render import controls
from ltx_flows.models.annotators import ANNOTATORS_ENV, build_tiny_annotators
from ltx_flows.render.controls import check_controls, control_frames, ensure_control_video, source_indices
from ltx_flows.media.read import probe, read_frames
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.loading import load_storyboard

pytestmark = pytest.mark.integration

BOARD = """
version: 1
name: ctl
model: {{family: ltx2, checkpoint: tiny}}
output: {{width: 128, height: 64, fps: 24}}
shots:
  - id: a
    prompt: x
    frames: {frames}
    control: {{kind: {kind}, source: {source}}}
"""


def plan_for(write_storyboard, kind, source, frames=17):
    path = write_storyboard(BOARD.format(kind=kind, source=source, frames=frames))
    return plan_storyboard(load_storyboard(path), path)


def test_source_time_rule_plays_at_its_own_rate_cuts_and_holds():
    # A 12 fps source under a 24 fps shot: each source frame shows twice.
    assert source_indices(9, 24, 12, 12.0) == [0, 0, 1, 1, 2, 2, 3, 3, 4]
    # A 2-frame source holds its last frame; a longer one is cut at the shot's end.
    assert source_indices(5, 24, 2, 24.0) == [0, 1, 1, 1, 1]
    assert source_indices(3, 24, 100, 48.0) == [0, 2, 4]
    # An image is held for the whole shot.
    assert source_indices(4, 24, 1, None) == [0, 0, 0, 0]


def test_canny_control_video_has_the_shots_frames_and_size_and_is_cached(
    write_storyboard, reference_media, workspace, tiny_cache, monkeypatch
):
    # A cache of its own: the session's may already hold these controls, computed by another test.
    monkeypatch.setenv("LTX_FLOWS_CACHE", str(workspace / "cache"))
    plan = plan_for(write_storyboard, "canny", reference_media["clip"])
    shot = plan.shots[0]
    film_dir = workspace / "renders" / plan.name

    video = ensure_control_video(plan, shot, film_dir)

    assert video == film_dir / "controls" / "a-canny.mp4"
    info = probe(video)
    assert (info.frames, info.width, info.height, info.fps) == (17, 128, 64, 24)
    frames = read_frames(video)
    # Edges of the sliding box: present, and moving with the source at its 12 fps (each shown for 2 frames).
    assert frames.max() > 200 and frames.mean() < 60
    assert np.abs(frames[0].astype(int) - frames[1]).mean() < 1 < np.abs(frames[1].astype(int) - frames[2]).mean()

    # Unchanged: reused from the cache, no detector needed.
    monkeypatch.setattr(controls, "load_detector", lambda *args: pytest.fail("recomputed an unchanged control"))
    video.unlink()
    assert ensure_control_video(plan, shot, film_dir) == video and probe(video).frames == 17
    # Another frame count is another control video.
    longer = plan_for(write_storyboard, "canny", reference_media["clip"], frames=25)
    with pytest.raises(pytest.fail.Exception, match="recomputed"):
        ensure_control_video(longer, longer.shots[0], film_dir)


def test_a_segment_takes_its_slice_of_the_control_video(write_storyboard, reference_media, workspace, tiny_cache):
    plan = plan_for(write_storyboard, "canny", reference_media["clip"], frames=25)
    video = ensure_control_video(plan, plan.shots[0], workspace / "renders")
    whole = read_frames(video)
    np.testing.assert_array_equal(control_frames(video, 8, 17), whole[8:25])
    with pytest.raises(ValueError, match="has 25 frames; frames 16..32"):
        control_frames(video, 16, 17)


def test_a_missing_weight_file_is_named_with_its_folder_before_anything_loads(
    write_storyboard, reference_media, tmp_path, monkeypatch
):
    folder = tmp_path / "annotators"
    folder.mkdir()
    (folder / "body_pose_model.pth").write_bytes(b"not used")
    monkeypatch.setenv(ANNOTATORS_ENV, str(folder))
    monkeypatch.setattr(annotators, "_detectors", {})
    plan = plan_for(write_storyboard, "pose", reference_media["still"])
    with pytest.raises(FileNotFoundError) as error:
        check_controls(plan)
    message = str(error.value)
    assert "hand_pose_model.pth, facenet.pth" in message and str(folder) in message
    assert "body_pose_model.pth" not in message
    assert annotators._detectors == {}  # nothing was loaded


@pytest.mark.slow
@pytest.mark.parametrize("kind, detector_class", [("depth", "MidasDetector"), ("pose", "OpenposeDetector")])
def test_depth_and_pose_run_controlnet_aux_detectors_loaded_from_a_local_folder(
    write_storyboard, reference_media, workspace, tiny_cache, tmp_path_factory, monkeypatch, kind, detector_class
):
    """Random weights: this checks the loading, resizing, timing and caching path, not the depth or pose maps."""
    folder = tmp_path_factory.getbasetemp() / "annotators"
    if not folder.is_dir():
        build_tiny_annotators(folder)
    monkeypatch.setenv(ANNOTATORS_ENV, str(folder))
    # A still: detected once (these detectors take seconds a frame on CPU) and held for the shot.
    plan = plan_for(write_storyboard, kind, reference_media["still"])
    check_controls(plan)

    video = ensure_control_video(plan, plan.shots[0], workspace / "renders")

    assert type(annotators.load_detector(kind, str(folder), "cpu")).__name__ == detector_class
    info = probe(video)
    assert (info.frames, info.width, info.height) == (17, 128, 64)
    frames = read_frames(video)
    assert np.abs(frames.astype(int) - frames[:1]).mean() < 1  # up to H.264 noise
    if kind == "depth":
        assert frames.std() > 10  # a depth map is normalised to span 0..255
