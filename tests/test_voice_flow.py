"""Integration: a narrated LTX-2 lesson through the real Prefect flow (temporary server), the tiny LTX-2 twin and real
ffmpeg. Two shots voiced with lines Debian's espeak-ng speaks in the test, one unvoiced shot with a caption, a music
bed and `loudness: -16`: the voiced shots last their lines, the film carries each line (normalized cross-correlation
> 0.9 with the music muted), the bed is ducked under the lines, the film measures -16 +/- 1 LUFS (pyloudnorm) with
its true peak at most -1 dBTP, and the captions time each line within a frame of where it starts in the film."""

import json
import math
import shutil
import subprocess

import numpy as np
import pysubs2
import pyloudnorm
import pytest

from ltx_flows.media.audio import AUDIO_RATE, read_audio, resample_audio
from ltx_flows.media.read import probe

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]

LESSON = """
version: 1
name: lesson
model: {{family: ltx2, checkpoint: tiny, steps: 2}}
output: {{width: 64, height: 64, fps: 24, audio: {audio}, loudness: -16}}
shots:
  - id: welcome
    prompt: "a teacher speaks to the camera"
    voice: {{file: one.wav, text: "Welcome to the lesson."}}
    pad: 0.25
  - id: triangles
    prompt: "a teacher points at a triangle"
    voice: {{file: two.wav, text: "Triangles have three sides.", at: "0.25s", gain: -2}}
    pad: 0.5
    transition: {{crossfade: 0.25}}
  - id: board
    prompt: "a chalkboard"
    duration: 3
    caption: "Three sides"
"""
FPS = 24


def speak(path, text):
    subprocess.run(["espeak-ng", "-s", "190", "-w", str(path), text], check=True)


def ncc(a: np.ndarray, b: np.ndarray, max_lag: int = 480) -> float:
    """The best normalized cross-correlation of two mono signals within +/- `max_lag` samples (10 ms)."""
    best = -1.0
    for lag in range(-max_lag, max_lag + 1, 8):
        x = a[max(0, lag) : len(a) + min(0, lag)]
        y = b[max(0, -lag) : len(b) + min(0, -lag)]
        n = min(len(x), len(y))
        x, y = x[:n], y[:n]
        best = max(best, float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12)))
    return best


def onset(mono: np.ndarray, threshold: float) -> int:
    return int(np.argmax(np.abs(mono) > threshold))


def test_a_narrated_lesson_carries_its_lines_ducks_its_music_meets_its_loudness_and_captions_each_line(
    prefect_server, tiny_cache, write_storyboard, workspace
):
    from ltx_flows.production.flow import render_storyboard

    speak(workspace / "one.wav", "Welcome to the lesson.")
    speak(workspace / "two.wav", "Triangles have three sides.")
    subprocess.run([__import__("imageio_ffmpeg").get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=330:duration=12", "-ac", "2", str(workspace / "bed.wav")], check=True)
    lines = {name: read_audio(workspace / f"{name}.wav").samples.mean(axis=0) for name in ("one", "two")}
    lines["two"] = lines["two"] * 10 ** (-2 / 20)

    films = {}
    for audio in ("none", "bed.wav"):  # the music muted, then the bed: the clips are the same, only the mix differs
        path = write_storyboard(LESSON.format(audio=audio))
        state = render_storyboard(str(path), out=str(workspace / "renders"), return_state=True)
        assert state.is_completed(), state
        film_dir = workspace / "renders" / "lesson"
        manifest = json.loads((film_dir / "manifest.json").read_text())
        films[audio] = (read_audio(film_dir / "lesson.mp4").samples, manifest, film_dir)

    sound, manifest, film_dir = films["none"]
    shots = {s["id"]: s for s in manifest["shots"]}
    assert [s["status"] for s in films["bed.wav"][1]["shots"]] == ["cached"] * 3  # the mix alone changed

    # Voiced shots last their lines (+ pad), rounded up to 8n+1 frames.
    for name, shot, at, pad in (("one", "welcome", 0, 0.25), ("two", "triangles", 6, 0.5)):
        needed = math.ceil((at / FPS + len(lines[name]) / AUDIO_RATE + pad) * FPS - 1e-9)
        assert shots[shot]["frames"] == -(-(needed - 1) // 8) * 8 + 1
    starts = {"welcome": 0, "triangles": shots["welcome"]["frames"]}
    starts["board"] = starts["triangles"] + shots["triangles"]["frames"] - shots["triangles"]["crossfade_frames"]

    # The film carries each line itself (music muted): NCC > 0.9 over where it plays.
    mono = sound.mean(axis=0)
    plays = {}
    for name, shot, at in (("one", "welcome", 0), ("two", "triangles", 6)):
        begin = round((starts[shot] + at) * AUDIO_RATE / FPS)
        piece = mono[begin : begin + len(lines[name])]
        assert ncc(piece, lines[name]) > 0.9
        plays[name] = (begin + onset(piece, 0.05 * np.abs(piece).max())) - onset(lines[name], 0.05 * np.abs(lines[name]).max())

    # The music is ducked under the lines: the bed's 330 Hz tone (its amplitude measured by projection, which the
    # speech barely touches) is at least 9 dB quieter under the second line than over the unvoiced shot (before the
    # end's fade-out). The documented duck is about 12 dB.
    with_bed = films["bed.wav"][0].mean(axis=0)

    def tone_level(begin: int, end: int) -> float:
        t = np.arange(begin, end) / AUDIO_RATE
        return float(np.abs(np.dot(with_bed[begin:end], np.exp(-2j * np.pi * 330 * t))) * 2 / (end - begin))

    line_begin = round((starts["triangles"] + 6) * AUDIO_RATE / FPS)
    under = tone_level(line_begin + 4800, line_begin + len(lines["two"]) - 4800)
    board = starts["board"] * AUDIO_RATE // FPS
    ducked_db = 20 * np.log10(under / tone_level(board + 12000, board + 36000))
    assert ducked_db < -9, ducked_db

    # Loudness as delivered: -16 +/- 1 LUFS (pyloudnorm on the decoded film), true peak at most -1 dBTP (4x
    # oversampled), and the manifest records what the film measures.
    for audio, (samples, manifest, _) in films.items():
        integrated = pyloudnorm.Meter(AUDIO_RATE).integrated_loudness(samples.T.astype(np.float64))
        assert abs(integrated - (-16)) <= 1, (audio, integrated)
        true_peak = 20 * np.log10(np.abs(resample_audio(samples, AUDIO_RATE, 4 * AUDIO_RATE)).max())
        assert true_peak <= -1 + 0.05, (audio, true_peak)
        recorded = manifest["voice"]["loudness"]
        assert recorded["target"] == -16 and abs(recorded["integrated"] - integrated) < 0.5 and recorded["true_peak"] <= -1
        assert "range" in recorded
    assert probe(film_dir / "lesson.mp4").frames == manifest["film"]["frames"]

    # Captions beside the film: each line within one frame of where it starts playing; the board's caption too.
    for kind in ("srt", "vtt"):
        subtitles = pysubs2.load(str(film_dir / f"lesson.{kind}"))
        assert [e.plaintext for e in subtitles] == ["Welcome to the lesson.", "Triangles have three sides.", "Three sides"]
        for event, name in zip(subtitles, ("one", "two")):
            assert abs(event.start / 1000 - plays[name] / AUDIO_RATE) <= 1 / FPS, (kind, name)
        assert abs(subtitles[2].start / 1000 - starts["board"] / FPS) <= 1 / FPS

    # The review page plays the film with its captions and each shot (its clip carries its line) with its line.
    page = (film_dir / "review.html").read_text()
    assert '<track kind="captions" srclang="en" label="Captions" default data-file="lesson.vtt"' in page
    assert "one.wav</code> “Welcome to the lesson.”" in page and "Caption: “Three sides”" in page
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:  # tests/conftest.py's `chromium` fixture says how CI gets it
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:  # opened from disk, as a person opens it
        chromium = playwright.chromium.launch(executable_path=browser, args=["--no-sandbox"])
        try:
            tab = chromium.new_page()
            tab.goto((film_dir / "review.html").resolve().as_uri())
            tab.wait_for_function("[...document.querySelectorAll('video')].every(v => v.dataset.loaded)", timeout=30000)
            shown = tab.evaluate("""() => { const track = document.querySelector('.film-video video').textTracks[0];
                track.mode = 'showing'; return [...document.querySelectorAll('video')].map(v => v.dataset.loaded)
                .concat([...track.cues].map(c => c.text)) }""")
        finally:
            chromium.close()
    assert shown == ["yes"] * 4 + ["Welcome to the lesson.", "Triangles have three sides.", "Three sides"]
