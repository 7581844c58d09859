"""Unit tests (real ffmpeg and Pillow, no stubs): a film's deliverables are encoded from it with their overlays,
listed with their profile check, and kept on a re-run only while the film and everything they are made from are
unchanged (finish/deliveries.py)."""

import textwrap

from PIL import Image

from ltx_flows.finish.deliveries import current_deliveries, make_deliveries
from ltx_flows.media.ffmpeg import run_ffmpeg
from ltx_flows.plan.versions import plan_versions
from ltx_flows.storyboard.loading import load_versions

BOARD = """
version: 1
name: spot
output: {width: 128, height: 64, fps: 24}
deliverables: [{name: story, width: 36, height: 64, max_seconds: 0.5}, {name: clean, width: 128, height: 64, overlays: false}]
overlays: {logo: {image: logo.png, opacity: OPACITY}}
shots: [{id: a, prompt: x, frames: 17, focus: {x: 0.1}}]
"""


def plan_of(workspace, opacity: float):
    path = workspace / "spot.yaml"
    path.write_text(textwrap.dedent(BOARD).replace("OPACITY", str(opacity)))
    [plan] = plan_versions(load_versions(path), path)
    return plan


def test_deliverables_are_made_listed_and_kept_while_unchanged(workspace):
    Image.new("RGBA", (6, 4), (255, 0, 0, 255)).save(workspace / "logo.png")
    film_dir = workspace / "renders" / "spot"
    film = film_dir / "spot.mp4"
    film_dir.mkdir(parents=True)
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=128x64:rate=24:duration=1", "-pix_fmt", "yuv420p", str(film)], film)
    plan = plan_of(workspace, 1.0)
    entry, clean = make_deliveries(plan, film_dir, film)
    assert clean["overlays"] == [] and entry["overlays"] == ["story-logo.png"]  # `overlays: false`: a clean file
    assert entry["path"] == str(film_dir / "spot_story.mp4") and entry["check"]["ok"]
    assert (entry["check"]["width"], entry["check"]["height"], entry["check"]["duration"]) == (36, 64, 0.5)
    assert (film_dir / "overlays" / "story-logo.png").is_file()
    made = (film_dir / "spot_story.mp4").stat().st_mtime_ns

    kept = {"deliveries": [entry, clean]}
    assert current_deliveries(plan, film_dir, film, stitched=False, manifest=kept) == [entry, clean]
    assert (film_dir / "spot_story.mp4").stat().st_mtime_ns == made  # kept, not encoded again
    # A changed overlay (or a film stitched again) encodes it again.
    again, _ = current_deliveries(plan_of(workspace, 0.5), film_dir, film, stitched=False, manifest=kept)
    assert again["inputs"] != entry["inputs"] and again["sha256"] != entry["sha256"]


def test_burned_captions_follow_the_film_caption_track(workspace):
    from ltx_flows.finish.voice_section import write_film_captions

    film_dir = workspace / "renders" / "spot"
    film = film_dir / "spot.mp4"
    film_dir.mkdir(parents=True)
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=128x64:rate=24:duration=1", "-pix_fmt", "yuv420p", str(film)], film)
    board = (BOARD.replace("overlays: {logo: {image: logo.png, opacity: OPACITY}}\n", "")
             .replace("max_seconds: 0.5}", "max_seconds: 0.5, captions: {position: top}}")
             .replace("focus: {x: 0.1}}", "focus: {x: 0.1}, caption: CAPTION}"))
    path = workspace / "spot.yaml"
    path.write_text(textwrap.dedent(board))
    [plan] = plan_versions(load_versions(path), path)
    write_film_captions(plan, film)
    story, clean = make_deliveries(plan, film_dir, film)
    assert story["captions"] == "story-captions.ass" and "captions" not in clean and story["check"]["ok"]
    script = (film_dir / "overlays" / "story-captions.ass").read_text()
    assert "PlayResX: 36" in script and "CAPTION" in script
    # A changed line in the film's track re-encodes the deliverable that burns it in, and only that one.
    kept = {"deliveries": [story, clean]}
    film.with_suffix(".srt").write_text(film.with_suffix(".srt").read_text().replace("CAPTION", "CHANGED"))
    again, clean_again = current_deliveries(plan, film_dir, film, stitched=False, manifest=kept)
    assert again["inputs"] != story["inputs"] and clean_again["inputs"] == clean["inputs"]
    assert "CHANGED" in (film_dir / "overlays" / "story-captions.ass").read_text()


def test_a_film_with_a_loudness_target_has_each_delivered_file_measured(workspace):
    import pytest

    from ltx_flows.media.loudness import normalize_loudness

    bed = workspace / "bed.wav"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=330:sample_rate=48000:duration=1", str(bed)], bed)
    film_dir = workspace / "renders" / "spot"
    film = film_dir / "spot.mp4"
    film_dir.mkdir(parents=True)
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc=size=128x64:rate=24:duration=1", "-i", str(bed), "-af", "volume=-12dB",
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-ar", "48000", str(film)], film)
    board = (BOARD.replace("overlays: {logo: {image: logo.png, opacity: OPACITY}}\n", "")
             .replace("fps: 24}", "fps: 24, audio: bed.wav, loudness: -16}"))
    path = workspace / "spot.yaml"
    path.write_text(textwrap.dedent(board))
    [plan] = plan_versions(load_versions(path), path)
    with pytest.raises(RuntimeError, match="does not meet profile web-h264: the sound measures"):
        make_deliveries(plan, film_dir, film)  # the film as mixed, far below -16 LUFS
    normalize_loudness(film, -16.0, -1.0)  # as stitching does
    story, clean = make_deliveries(plan, film_dir, film)
    loudness = clean["check"]["loudness"]
    assert clean["check"]["ok"] and (loudness["target"], loudness["true_peak_ceiling"]) == (-16.0, -1.0)
    assert abs(loudness["integrated"] + 16) <= 1 and loudness["true_peak"] <= -1 and "range" in loudness
