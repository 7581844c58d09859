"""The fault suite: what an unattended nightly render meets, done for real.

Files corrupted in place, renders killed with SIGKILL at several points and stopped with Ctrl-C,
two renders of one film at once, a full disk, a failed batch, parameters pointing outside the
worker's folders. Every film is checked by decoding it (with the decoder told to fail on any
damage), never by its container's metadata. Real Prefect (a temporary server, or the CLI's
ephemeral API), the real tiny pipeline, real ffmpeg; no stubs. The checks here use only PyAV and
the files on disk, so each test also runs against older ltx-flows code.
"""

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from ltx_flows.models.loading import load_pipeline
from ltx_flows.render.generate import generate_shot

from .conftest import REPO
from .generations import watching
from .test_terminal import LONG_TAKE as TERMINAL_LONG_TAKE

pytestmark = pytest.mark.integration

CUTS = """
version: 1
name: film
model: {checkpoint: tiny, steps: 2}
output: {width: 96, height: 64, fps: 24}
shots:
  - {id: a, prompt: "a red ball", frames: 25}
  - {id: b, prompt: "a blue ball", frames: 25}
"""
CROSSFADE = CUTS.replace('frames: 25}\n  - {id: b', 'frames: 25, transition: {crossfade: 0.25}}\n  - {id: b')


def decoded_frames(path: Path) -> int:
    """Frames that decode with the decoder failing on any damage (what a viewer would see), or raise."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"err_detect": "explode"}
        return sum(1 for _ in container.decode(stream))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_film(film_dir: Path, frames: int) -> dict:
    """The film decodes cleanly to `frames` frames and its manifest vouches for exactly this file."""
    manifest = json.loads((film_dir / "manifest.json").read_text())
    film = film_dir / "film.mp4"
    assert decoded_frames(film) == frames == manifest["film"]["frames"]
    assert manifest["film"]["sha256"] == sha256(film)
    return manifest


def corrupt_in_place(path: Path) -> None:
    """Flip bytes in the second half of the file, keeping its size (a bad disk block, a torn copy)."""
    data = bytearray(path.read_bytes())
    for offset in range(len(data) // 2, len(data) - 64, 211):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


# --- in process, on the test session's Prefect server ------------------------------------------------


@pytest.mark.parametrize("board, frames", [(CUTS, 50), (CROSSFADE, 44)], ids=["cuts", "crossfade"])
def test_a_clip_corrupted_in_place_is_named_and_rendered_again(
    prefect_server, tiny_cache, write_storyboard, workspace, board, frames
):
    from ltx_flows.production.flow import render_storyboard

    path = write_storyboard(board)
    out = workspace / "renders"
    assert render_storyboard(str(path), out=str(out), return_state=True).is_completed()
    warnings = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())
    logging.getLogger("ltx_flows").addHandler(handler)
    clip = out / "film" / "shots" / "a.mp4"
    size = clip.stat().st_size
    corrupt_in_place(clip)
    assert clip.stat().st_size == size  # the record's byte count still matches

    try:
        state = render_storyboard(str(path), out=str(out), return_state=True)
    finally:
        logging.getLogger("ltx_flows").removeHandler(handler)
    assert state.is_completed(), state.message
    manifest = check_film(out / "film", frames)
    assert [s["status"] for s in manifest["shots"]] == ["rendered", "cached"]
    assert any(f"{clip} does not match its record" in message for message in warnings), warnings


def test_a_film_that_does_not_decode_is_never_reported_done(prefect_server, tiny_cache, write_storyboard, workspace):
    """Even when a clip's record vouches for a damaged clip (here: rewritten to match it), the film is checked
    by decoding: the run fails, and no film or manifest claims success."""
    from ltx_flows.production.flow import render_storyboard

    path = write_storyboard(CUTS)
    out = workspace / "renders"
    assert render_storyboard(str(path), out=str(out), return_state=True).is_completed()
    clip = out / "film" / "shots" / "a.mp4"
    corrupt_in_place(clip)
    record_path = clip.with_name("a.mp4.json")
    record = json.loads(record_path.read_text())
    record_path.write_text(json.dumps({**record, "sha256": sha256(clip)}))
    # The film made before the damage is intact and would be kept (finish.py): without it, this run
    # must stitch one from the damaged clip.
    (out / "film" / "film.mp4").unlink()

    state = render_storyboard(str(path), out=str(out), return_state=True)
    assert state.is_failed() and f"stitched {out / 'film' / 'film.mp4'} does not decode" in state.message
    assert f"damaged clips: {clip}" in state.message
    assert not (out / "film" / "film.mp4").exists() and not (out / "film" / "manifest.json").exists()
    assert not list((out / "film").rglob("*.partial*"))


def test_stitching_refuses_a_clip_that_does_not_decode(tmp_path):
    """A stream copy carries damaged packets through and the header still counts every frame:
    the film is counted by decoding and never renamed into place."""
    from ltx_flows.media.write import write_clip
    from ltx_flows.media.joins import Join
    from ltx_flows.media.stitch import stitch

    rng = np.random.default_rng(0)
    clips = [write_clip(rng.integers(0, 256, (25, 64, 96, 3), dtype=np.uint8), tmp_path / f"{i}.mp4", fps=24)
             for i in range(2)]
    corrupt_in_place(clips[1])
    with pytest.raises(Exception, match="does not decode"):
        stitch(clips, [Join("cut")], tmp_path / "film.mp4", fps=24)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.mp4", "1.mp4"]


def test_the_film_and_manifest_are_gone_before_a_shot_is_rendered_again(
    prefect_server, tiny_cache, write_storyboard, workspace, monkeypatch
):
    """A stop at any moment of a re-render (Ctrl-C, SIGKILL) must not leave the old film and manifest
    claiming clips that are being replaced: when the first changed shot starts, they are gone."""
    from ltx_flows.production.flow import render_storyboard

    path = write_storyboard(CUTS)
    out = workspace / "renders"
    assert render_storyboard(str(path), out=str(out), return_state=True).is_completed()
    path.write_text(path.read_text().replace("a blue ball", "a green ball"))
    seen = []
    with watching(lambda generation: seen.append((generation["shot"], (out / "film" / "manifest.json").exists(),
                                                   (out / "film" / "film.mp4").exists()))):
        assert render_storyboard(str(path), out=str(out), return_state=True).is_completed()
    assert seen == [("b", False, False)]
    check_film(out / "film", 50)


def test_a_second_writer_of_a_film_fails_at_once(prefect_server, tiny_cache, write_storyboard, workspace):
    from ltx_flows.production.flow import render_storyboard
    from ltx_flows.production.lock import film_lock

    path = write_storyboard(CUTS)
    out = workspace / "renders"
    with film_lock(out / "film"):  # another render holds the film
        start = time.perf_counter()
        state = render_storyboard(str(path), out=str(out), return_state=True)
    assert state.is_failed() and "is being rendered by another run" in state.message
    assert time.perf_counter() - start < 60
    assert not (out / "film" / "shots").exists()  # it touched nothing
    assert render_storyboard(str(path), out=str(out), return_state=True).is_completed()


def test_a_failed_batch_state_resolves_to_an_exception_not_a_type_error(
    prefect_server, tiny_cache, write_storyboard, workspace
):
    """Prefect resolves a failed state's data into an exception (a process worker does this for every run):
    a dict there ended each failed nightly with "TypeError: Unexpected result for failed state"."""
    from ltx_flows.production.batch import BatchFailed
    from ltx_flows.production.flow import render_batch

    good = write_storyboard(CUTS, "good.yaml")
    bad = write_storyboard(CUTS.replace("name: film", "name: bad").replace("frames: 25}", "frames: 0}"), "bad.yaml")
    state = render_batch([str(good), str(bad)], out=str(workspace / "renders"), return_state=True)
    assert state.is_failed() and state.message.startswith("1 of 2 storyboards failed (")
    with pytest.raises(BatchFailed) as caught:
        state.result()
    assert list(caught.value.summary["failed"]) == [str(bad)]
    assert caught.value.summary["succeeded"][str(good)]["film"].endswith("film.mp4")


def test_run_parameters_cannot_leave_the_workers_folders(
    prefect_server, tiny_cache, write_storyboard, workspace, monkeypatch, tmp_path_factory
):
    """A deployment's storyboards, root and out are confined to LTX_FLOWS_ALLOWED_ROOTS."""
    from ltx_flows.production.flow import render_batch, render_storyboard

    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.yaml").write_text(CUTS.replace("name: film", "name: secret"))
    inside = write_storyboard(CUTS)
    monkeypatch.setenv("LTX_FLOWS_ALLOWED_ROOTS", str(workspace))

    for args in (
        {"storyboard": str(outside / "secret.yaml"), "out": str(workspace / "renders")},
        {"storyboard": str(inside), "out": str(outside / "renders")},
        {"storyboard": str(inside), "out": str(workspace / "renders"), "root": "/"},
    ):
        state = render_storyboard(**args, return_state=True)
        assert state.is_failed() and "outside the folders this worker may use" in state.message, args
    (workspace / "escape").symlink_to(outside)  # a link out of an allowed folder is outside too
    state = render_batch([str(workspace / "escape" / "*.yaml"), str(outside)], out=str(workspace / "renders"),
                         return_state=True)
    summary = state.result(raise_on_failure=False).summary
    assert not summary["succeeded"] and set(summary["failed"]) == {str(workspace / "escape" / "*.yaml"), str(outside)}
    assert not (outside / "renders").exists() and not (workspace / "renders" / "secret").exists()


def test_a_stop_request_ends_a_generation_between_denoising_steps(tiny_cache, write_storyboard, workspace):
    """Ctrl-C sets the stop flag; the next `on_step` (diffusers' callback_on_step_end) raises, so a shot or
    segment stops after the step in progress instead of running to its end."""
    from ltx_flows.render import stop
    from ltx_flows.plan.planner import plan_storyboard
    from ltx_flows.storyboard.loading import load_storyboard

    path = write_storyboard(CUTS.replace("steps: 2", "steps: 4"))
    plan = plan_storyboard(load_storyboard(path), path)
    pipe = load_pipeline(plan.model)
    steps = []
    generate_shot(pipe, plan.shots[0], plan.model, plan.output, on_step=lambda done, total: steps.append((done, total)))
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]

    steps.clear()

    def stop_after_two(done, total):  # the progress display's hook, behind the stop check
        steps.append(done)
        if done == 2:
            stop._requested.set()  # what the CLI's SIGINT handler does

    try:
        with pytest.raises(stop.RenderStopped):
            generate_shot(pipe, plan.shots[0], plan.model, plan.output, on_step=stop.stopping(stop_after_two))
    finally:
        stop._requested.clear()
    assert steps == [1, 2]


def test_two_writers_of_one_clip_path_use_their_own_partial_files(tmp_path):
    from ltx_flows.media.write import ClipWriter

    frames = np.random.default_rng(0).integers(0, 256, (9, 64, 96, 3), dtype=np.uint8)
    path = tmp_path / "clip.mp4"
    with ClipWriter(path, 96, 64, 24) as first, ClipWriter(path, 96, 64, 24) as second:
        first.write(frames)
        second.write(frames[::-1])
    assert decoded_frames(path) == 9
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_ffmpeg_runs_in_its_own_process_group(tmp_path):
    """A terminal's Ctrl-C goes to its foreground process group: ffmpeg must not be in ours."""
    from ltx_flows.media.write import ClipWriter

    with ClipWriter(tmp_path / "clip.mp4", 96, 64, 24) as writer:
        assert os.getpgid(writer._process.pid) != os.getpgid(0)
        writer.write(np.zeros((9, 64, 96, 3), np.uint8))


# --- through the CLI, as the nightly job runs it ---------------------------------------------------


def cli_env(tmp_path: Path, tiny_cache: Path, api_url: str) -> dict:
    # The session's server: a killed run's Prefect is not what these tests look at (test_cli covers the ephemeral one).
    return {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "LTX_FLOWS_CACHE": str(tiny_cache),
            "PREFECT_API_URL": api_url}


def start_render(tmp_path: Path, env: dict, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ltx_flows.cli", "render", "board.yaml", "--out", "renders", *args],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def render(tmp_path: Path, env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ltx_flows.cli", "render", "board.yaml", "--out", "renders", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )


def kill_when(process: subprocess.Popen, ready, timeout: float = 300) -> bool:
    """SIGKILL the render's whole process group (ffmpeg included) once `ready()`; False if it ended first."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.005)
    process.wait(timeout=60)
    return False


def consistent_after_a_stop(film_dir: Path) -> None:
    """Whatever a stop left: a manifest only beside the film it describes, and no clip record that lies."""
    if (film_dir / "manifest.json").exists():
        manifest = json.loads((film_dir / "manifest.json").read_text())
        assert manifest["film"]["sha256"] == sha256(film_dir / "film.mp4")
        for shot in manifest["shots"]:
            assert (film_dir / shot["clip"]).exists()
    for record in film_dir.glob("shots/*.json"):
        data = json.loads(record.read_text())
        clip = record.with_suffix("")
        assert clip.exists() and "sha256" in data and data["sha256"] == sha256(clip)


@pytest.mark.slow
def test_sigkill_at_any_point_then_the_next_run_makes_the_right_film(tmp_path, tiny_cache, prefect_api_url):
    """Kill a real `ltx-flows render` (and its ffmpeg) at several points of a re-render; after each,
    the folder is consistent and the next run makes the film the storyboard describes."""
    env = cli_env(tmp_path, tiny_cache, prefect_api_url)
    board = tmp_path / "board.yaml"
    board.write_text(CROSSFADE)
    assert render(tmp_path, env).returncode == 0
    film_dir = tmp_path / "renders" / "film"
    shots = film_dir / "shots"
    points = {
        "first clip deleted": lambda: not (shots / "a.mp4").exists(),
        "clip partial being written": lambda: any(shots.glob(".*partial*")),
        "second clip written": lambda: (shots / "b.mp4.json").exists() and not (film_dir / "film.mp4").exists(),
        "film partial being written": lambda: any(film_dir.glob(".film*partial*")),
    }
    killed = []
    for prompt, (point, ready) in zip(("one", "two", "three", "four"), points.items()):
        # Both shots change, so the run re-renders a, then b, then stitches.
        board.write_text(CROSSFADE.replace("a red ball", f"a red ball {prompt}").replace("a blue ball", f"a blue ball {prompt}"))
        if point == "second clip written":
            (shots / "b.mp4.json").unlink(missing_ok=True)
        if kill_when(start_render(tmp_path, env), ready):
            killed.append(point)
        consistent_after_a_stop(film_dir)
        result = render(tmp_path, env)
        assert result.returncode == 0, result.stderr[-3000:]
        manifest = check_film(film_dir, 44)
        assert manifest["shots"][0]["content_hash"] != "" and not list(film_dir.rglob("*.partial*"))
    assert len(killed) >= 2, f"the renders finished before most kill points: killed at {killed}"


@pytest.mark.slow
def test_two_renders_of_one_film_at_once(tmp_path, tiny_cache, prefect_api_url):
    env = cli_env(tmp_path, tiny_cache, prefect_api_url)
    (tmp_path / "board.yaml").write_text(CUTS)
    first, second = start_render(tmp_path, env), start_render(tmp_path, env)
    results = [(p.wait(timeout=600), *p.communicate()) for p in (first, second)]
    codes = sorted(code for code, _, _ in results)
    assert codes[0] == 0, results
    if codes[1] != 0:  # the runs overlapped: the second one said why and touched nothing
        assert any("is being rendered by another run" in err for code, _, err in results if code), results
    check_film(tmp_path / "renders" / "film", 50)
    assert not list((tmp_path / "renders").rglob("*.partial*"))


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_next_run_finishes(tmp_path, tiny_cache, prefect_api_url):
    """Ctrl-C from a terminal (SIGINT to the whole foreground process group) during a re-render."""
    env = cli_env(tmp_path, tiny_cache, prefect_api_url)
    board = tmp_path / "board.yaml"
    board.write_text(CUTS)
    assert render(tmp_path, env).returncode == 0
    film_dir = tmp_path / "renders" / "film"
    board.write_text(CUTS.replace("a red ball", "a red ball again"))
    process = start_render(tmp_path, env)
    deadline = time.monotonic() + 300
    while process.poll() is None and (film_dir / "shots" / "a.mp4").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGINT)
    start = time.monotonic()
    _, stderr = process.communicate(timeout=120)
    assert time.monotonic() - start < 60
    assert "ffmpeg exited early" not in stderr
    assert "stopped" in stderr and process.returncode == 130
    consistent_after_a_stop(film_dir)
    result = render(tmp_path, env)
    assert result.returncode == 0, result.stderr[-3000:]
    check_film(film_dir, 50)


@pytest.mark.slow
def test_a_full_disk_fails_the_film_and_reports_no_success(tmp_path, tiny_cache, prefect_api_url):
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root and CAP_SYS_ADMIN): {made.stderr.strip()}")
    try:
        env = cli_env(tmp_path, tiny_cache, prefect_api_url)
        (tmp_path / "board.yaml").write_text(CUTS.replace("96, height: 64", "256, height: 256"))
        result = render(tmp_path, env, "--out", str(mount))
        assert result.returncode == 1, result.stderr[-3000:]
        assert not (mount / "film" / "manifest.json").exists() and not (mount / "film" / "film.mp4").exists()
        assert not list(mount.rglob("*.partial*"))
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_unusable_out_and_unreachable_api_are_one_line_before_any_model_loads(tmp_path):
    (tmp_path / "board.yaml").write_text(CUTS)
    (tmp_path / "a-file").write_text("")
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "ltx_flows.cli", "render", "board.yaml", "--out", "a-file/renders"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot write into the output folder a-file/renders")

    with __import__("socket").socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    result = subprocess.run(
        [sys.executable, "-m", "ltx_flows.cli", "render", "board.yaml"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert f"cannot reach the Prefect API at http://127.0.0.1:{port}/api" in line and "prefect server start" in line
    assert time.perf_counter() - start < 120
    assert not (tmp_path / "renders").exists()


def test_leftovers_of_every_partial_name_are_removed_and_nothing_else(tmp_path):
    """A render killed mid-stitch leaves the files derived from its partial's name (a smart stitch's windows
    and sound, a concat list, a clip's raw sound); the next writer of the film removes exactly those."""
    from ltx_flows.production.lock import film_lock
    from ltx_flows.files import partial_path, write_array_atomic

    film_dir = tmp_path / "film"
    (film_dir / "shots").mkdir(parents=True)
    (film_dir / "segments" / "walk").mkdir(parents=True)
    partial = partial_path(keep_suffix=True, path=film_dir / "film.mp4")
    clip_partial = partial_path(keep_suffix=True, path=film_dir / "shots" / "a.mp4")
    segment_partial = partial_path(keep_suffix=True, path=film_dir / "segments" / "walk" / "00-0123456789abcdef.mp4")
    # The name an atomic array write (a segment's sound) gives its partial file, as a killed writer leaves it.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("os.replace", lambda *_: None)
        write_array_atomic(np.zeros(2, dtype=np.float32), film_dir / "segments" / "walk" / "00-0123456789abcdef.sound.npy")
    [array_partial] = (film_dir / "segments" / "walk").glob("*.partial")
    leftovers = [partial, clip_partial, clip_partial.with_name(clip_partial.name + ".f32le"), segment_partial,
                 array_partial] + [
        partial.with_name(f".{partial.stem}.{suffix}") for suffix in ("window0.mp4", "window12.mp4", "sound.m4a",
                                                                      "video.mp4", "concat.txt")
    ]
    kept = [film_dir / "notes.partial.txt", film_dir / ".film.partial.mp4", film_dir / "shots" / "a.mp4",
            film_dir / "segments" / "walk" / "notes.txt"]
    for path in leftovers + kept:
        path.write_bytes(b"x")
    with film_lock(film_dir):
        pass
    assert [path for path in leftovers if path.exists()] == []
    assert all(path.exists() for path in kept)


# --- issue 18: records that heal ---

RETAKE_BOARD = """
version: 1
name: gift
model: {{family: ltx2, checkpoint: tiny, steps: 2}}
output: {{width: 96, height: 64, fps: 24, audio: generate}}
shots:
  - id: reveal
    prompt: "hands lift the lid of a gift box"
    frames: 49
    retakes:
      - {{from: 20, to: 28, prompt: "{prompt}"}}
"""


def test_damaged_sound_latents_and_a_record_missing_a_key_heal_on_the_next_run(tiny_cache, workspace, caplog):
    """A damaged `<clip>.audio.npy` (which no record covered) made every retake on its shot fail for good with "Failed
    to read all data for array", naming no file; a shot record missing `attempts` failed every run with the bare text
    `'attempts'`. Now the damaged file has its clip rendered again (the log names it) and the record without the key is
    no record. The real tiny LTX-2 pipeline, real ffmpeg, in process (no Prefect: the shot cache is what is tested)."""
    from ltx_flows.layout import audio_latents_path, record_path
    from ltx_flows.render.shot import render_shot_cached
    from ltx_flows.plan.planner import plan_storyboard
    from ltx_flows.render.retake import base_clip
    from ltx_flows.storyboard.loading import load_storyboard

    film_dir = workspace / "renders" / "gift"

    def render_shot(prompt: str) -> tuple:
        path = workspace / "board.yaml"
        path.write_text(RETAKE_BOARD.format(prompt=prompt).lstrip())
        plan = plan_storyboard(load_storyboard(path, workspace), path)
        return plan.shots[0], render_shot_cached(plan, plan.shots[0], film_dir, force=False, failed_attempts=[])

    shot, first = render_shot("the lid catches the light")
    base_latents = audio_latents_path(film_dir / base_clip(shot))
    assert first["status"] == "rendered" and base_latents.is_file()
    data = base_latents.read_bytes()
    base_latents.write_bytes(data[: len(data) - 64])  # cut short, as a full disk or a killed copy leaves it

    # Another retake prompt: the window renders again from the shot's own render, whose sound latents it holds.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        shot, second = render_shot("the lid falls shut")
    assert second["status"] == "rendered"
    assert f"{film_dir / base_clip(shot)} does not match its record" in caplog.text and base_latents.name in caplog.text
    assert len(np.load(base_latents)) > 0  # rendered again, whole
    assert decoded_frames(film_dir / shot.clip) == 49

    # A record without `attempts` (hand-edited, another version) is no record: the clip is made again (here from the
    # cached retake stages, no model), and its new record holds every key.
    record = json.loads(record_path(film_dir / shot.clip).read_text())
    del record["attempts"]
    record_path(film_dir / shot.clip).write_text(json.dumps(record))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        shot, third = render_shot("the lid falls shut")
    assert "its record lacks `attempts`" in caplog.text
    assert isinstance(third["attempts"], list) and "attempts" in json.loads(record_path(film_dir / shot.clip).read_text())


# --- issue 18 (helper: Prefect-facing messages) ---


def test_a_model_missing_from_an_offline_cache_is_told_apart_from_other_errors(tmp_path):
    """huggingface_hub's real error for a file missing from an empty cache with the Hub off limits: told to run
    `ltx-flows download FILE`. An error that already said what it means (`raise ... from None`, as annotators.py does
    for detector weights) and any other error are left alone."""
    from huggingface_hub import hf_hub_download

    from ltx_flows.models.checkpoints import ModelNotCached, not_cached

    try:
        hf_hub_download("Lightricks/LTX-2", "ltx-2-19b-distilled.safetensors", cache_dir=tmp_path, local_files_only=True)
    except Exception as error:
        missing = error
    told = not_cached(missing, "storyboards/pour.yaml")
    assert isinstance(told, ModelNotCached) and str(told) == (
        "a model it needs is not in this machine's Hugging Face cache and the Hub could not be reached: run "
        "`ltx-flows download storyboards/pour.yaml` (with network, same HF_HOME), then render again")
    try:
        try:
            raise missing
        except Exception:
            raise FileNotFoundError("depth control needs depth.pth from the hub repo X; download it ...") from None
    except FileNotFoundError as explained:
        assert not_cached(explained, "storyboards/pour.yaml") is None
    assert not_cached(RuntimeError("decoder produced NaNs"), "storyboards/pour.yaml") is None


# --- issue 18: stops by signal, orphans, the environment, the hub -------------------------------------

# The terminal tests' long take, with steps enough to be caught mid-generation.
LONG_TAKE = TERMINAL_LONG_TAKE.replace("steps: 4", "steps: 20")


def wait_for(process: subprocess.Popen, ready, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the render never got there"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigterm_stops_a_render_as_ctrl_c_does(tmp_path, tiny_cache, prefect_api_url):
    """SIGTERM (timeout, systemd, Docker, Kubernetes) mid-generation: stopped between denoising steps, the
    partial clip removed, exit 143 within 10 s, the same "stopped" line as Ctrl-C; no crash report."""
    env = cli_env(tmp_path, tiny_cache, prefect_api_url)
    (tmp_path / "board.yaml").write_text(LONG_TAKE)
    process = start_render(tmp_path, env)
    take = tmp_path / "renders" / "take"
    wait_for(process, lambda: (take / "segments").exists() and any((take / "shots").glob(".walk*partial*")))
    process.send_signal(signal.SIGTERM)
    start = time.monotonic()
    _, stderr = process.communicate(timeout=120)
    elapsed = time.monotonic() - start
    assert process.returncode == 143, stderr[-3000:]
    assert elapsed < 11, elapsed
    assert stderr.rstrip().endswith("interrupted") and "Crash detected" not in stderr and "Traceback" not in stderr
    assert not list(take.rglob("*.partial*")) and not (take / "manifest.json").exists()


@pytest.mark.slow
def test_sigkill_leaves_no_process_of_the_render_behind(tmp_path, tiny_cache):
    """The OOM killer's SIGKILL runs no cleanup: the render's temporary Prefect API server and its ffmpeg
    notice they are orphaned and exit on their own."""
    psutil = pytest.importorskip("psutil")
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "LTX_FLOWS_CACHE": str(tiny_cache)}
    env.pop("PREFECT_API_URL", None)  # its own temporary API server
    (tmp_path / "board.yaml").write_text(LONG_TAKE)
    process = start_render(tmp_path, env)
    take = tmp_path / "renders" / "take"
    children = []
    try:
        wait_for(process, lambda: (take / "segments").exists() and any((take / "shots").glob(".walk*partial*")))
        children = psutil.Process(process.pid).children(recursive=True)
        names = " ".join(" ".join(child.cmdline()) for child in children)
        assert "ffmpeg" in names and ("api_server" in names or "create_app" in names), names
        process.kill()  # the render only: its children are left to notice
        process.wait()

        def alive(child) -> bool:
            try:
                return child.is_running() and child.status() != psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return False

        deadline = time.monotonic() + 15
        while any(alive(child) for child in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [" ".join(child.cmdline())[:200] for child in children if alive(child)]
        assert not left, left
    finally:
        for child in children:  # never leave them to the next test
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass


def test_an_unwritable_prefect_home_or_database_is_one_line_at_once(tmp_path):
    (tmp_path / "board.yaml").write_text(CUTS)
    (tmp_path / "a-file").write_text("")
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "a-file" / "prefect-home")}  # unwritable, even for root
    env.pop("PREFECT_API_URL", None)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "ltx_flows.cli", "render", "board.yaml"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot write into PREFECT_HOME {tmp_path / 'a-file' / 'prefect-home'}") and "PREFECT_HOME to a folder" in line
    assert time.perf_counter() - start < 60
    assert not (tmp_path / "renders").exists()

    # A database the temporary API server cannot open: its own error, as soon as the server exits.
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"),
                "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path / 'a-file' / 'prefect.db'}"})
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "ltx_flows.cli", "render", "board.yaml"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 1
    # The progress display says `failed` for each storyboard, then the reason is the last line, said once.
    *bars, line = result.stderr.strip().splitlines()
    assert all(bar.startswith("film ") and bar.rstrip().endswith("failed") for bar in bars) and len(bars) <= 2, bars
    assert "Traceback" not in result.stderr
    assert line.startswith("error: the temporary Prefect API server did not start (exited with code ")
    assert "unable to open database file" in line and "PREFECT_API_URL" in line
    assert time.perf_counter() - start < 60


@pytest.mark.slow
def test_a_low_address_space_limit_is_one_line_naming_the_limit(tmp_path, tiny_cache, prefect_api_url):
    """`ulimit -v` too low for torch: the render says so, with the limit and how to raise it, not a traceback."""
    import resource

    limit = 1536 * 2**20  # Python, Prefect and the CLI fit; torch's libraries do not

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = cli_env(tmp_path, tiny_cache, prefect_api_url)
    (tmp_path / "board.yaml").write_text(CUTS)
    result = subprocess.run([sys.executable, "-m", "ltx_flows.cli", "render", "board.yaml"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=400, preexec_fn=low_limit)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "address-space limit of 1.5 GiB" in line and "ulimit -v" in line and "unlimited" in line, line


def test_download_without_the_hub_is_one_line_per_repo(tmp_path):
    with __import__("socket").socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": f"http://127.0.0.1:{port}"}
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run([sys.executable, "-m", "ltx_flows.cli", "download", "--preset", "ltx2-dev"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("failed ") for line in lines), result.stderr[-3000:]
    assert lines[0].startswith("failed Lightricks/LTX-2 (checkpoint): could not reach the Hugging Face Hub at "
                               f"http://127.0.0.1:{port}") and "HF_ENDPOINT" in lines[0] and "HF_HUB_OFFLINE" in lines[0]
    assert any("Lightricks/LTX-2-19b-IC-LoRA-Pose-Control (IC-LoRA)" in line for line in lines)

    env.update({"HF_HUB_OFFLINE": "1"})
    env.pop("HF_ENDPOINT")
    result = subprocess.run([sys.executable, "-m", "ltx_flows.cli", "download", "--preset", "ltxv-0.9.7-dev"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "failed Lightricks/LTX-Video-0.9.7-dev (checkpoint): not in the cache, and HF_HUB_OFFLINE is set: unset it "
        "to download Lightricks/LTX-Video-0.9.7-dev",
        "failed Lightricks/ltxv-spatial-upscaler-0.9.7 (upsampler): not in the cache, and HF_HUB_OFFLINE is set: "
        "unset it to download Lightricks/ltxv-spatial-upscaler-0.9.7",
        "failed Lightricks/LTX-Video (temporal upscaler): not in the cache, and HF_HUB_OFFLINE is set: unset it to "
        "download Lightricks/LTX-Video",
    ]


@pytest.mark.slow
def test_a_failed_render_says_why_once_without_verbose(tmp_path, tiny_cache, prefect_api_url):
    """A checkpoint that is not in the cache, offline: one `failed FILE: why` line, not Prefect's ERROR lines
    and Hugging Face's "Couldn't connect to the Hub" besides (those are for --verbose and the run's logs)."""
    env = {**cli_env(tmp_path, tiny_cache, prefect_api_url), "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    (tmp_path / "board.yaml").write_text(CUTS.replace("checkpoint: tiny", "checkpoint: Lightricks/LTX-Video-0.9.7-distilled"))
    result = render(tmp_path, env)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Couldn't connect to the Hub" not in result.stderr and " | ERROR " not in result.stderr, result.stderr
    [line] = [line for line in result.stderr.splitlines() if "LTX-Video-0.9.7-distilled" in line]
    assert line.startswith("failed board.yaml: ") and "ModelNotCached" in line and "ltx-flows download" in line
