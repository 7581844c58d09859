"""`voice` on a shot: the line's file checked at validation (located messages), odd rates and layouts accepted, a
voiced shot lasting its line, and the line against its shot. Real files made with ffmpeg and numpy; nothing stubbed."""

import subprocess
import wave

import imageio_ffmpeg
import numpy as np
import pytest

from ltx_flows.storyboard.loading import load_storyboard
from ltx_flows.storyboard.problems import StoryboardError

HEAD = "version: 1\nname: v\nmodel: {family: ltx2, checkpoint: tiny, steps: 2}\noutput: {width: 64, height: 64, fps: 24}\n"


def write_wav(path, seconds: float, rate: int = 16000, channels: int = 1, amplitude: float = 0.5) -> None:
    t = np.arange(int(seconds * rate)) / rate
    tone = (amplitude * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(tone[:, None], channels, axis=1).tobytes())


def board(shot: str) -> str:
    return HEAD + "shots:\n" + shot


def messages(path) -> list[str]:
    with pytest.raises(StoryboardError) as caught:
        load_storyboard(path)
    return [p.format(path) for p in caught.value.problems]


def test_a_voiced_shot_without_a_length_lasts_its_line_rounded_up_to_8n_plus_1(write_storyboard, workspace):
    write_wav(workspace / "line.wav", 1.5)  # 36 frames at 24 fps; + 0.25 s pad = 42 -> 49
    path = write_storyboard(board("- {id: a, prompt: x, voice: line.wav, pad: 0.25}\n- {id: b, prompt: x, voice: line.wav}\n"))
    shots = load_storyboard(path).shots
    assert shots[0].voice.file == workspace / "line.wav" and shots[0].voice.at == 0
    assert shots[0].requested_frames(24) == 49
    assert shots[1].requested_frames(24) == 41  # 36 -> 41, never rounded down to 33
    assert (shots[1].requested_frames(24) - 1) % 8 == 0


@pytest.mark.parametrize("rate,channels", [(8000, 1), (96000, 6)])
def test_8_khz_mono_and_96_khz_6_channel_lines_are_valid(write_storyboard, workspace, rate, channels):
    write_wav(workspace / "line.wav", 0.5, rate=rate, channels=channels)
    path = write_storyboard(board("- {id: a, prompt: x, voice: {file: line.wav, text: Hi, at: 2, gain: -3}}\n"))
    shot = load_storyboard(path).shots[0]
    assert shot.voice.text == "Hi" and shot.voice.gain == -3 and shot.requested_frames(24) == 17  # 2 + 12 -> 17


def test_bad_line_files_are_located_and_say_why(write_storyboard, workspace):
    (workspace / "text.wav").write_text("not a sound at all\n" * 50)
    write_wav(workspace / "empty.wav", 0.0)
    write_wav(workspace / "silent.wav", 1.0, amplitude=0.0)
    good = workspace / "good.m4a"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=6", "-ac", "2", str(good)], check=True)
    data = bytearray(good.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4000] = bytes((i * 37 + 11) % 256 for i in range(4000))
    (workspace / "corrupt.m4a").write_bytes(bytes(data))
    path = write_storyboard(board(
        "- {id: a, prompt: x, voice: text.wav}\n"
        "- {id: b, prompt: x, voice: empty.wav}\n"
        "- {id: c, prompt: x, voice: {file: silent.wav}}\n"
        "- {id: d, prompt: x, voice: corrupt.m4a}\n"
    ))
    found = messages(path)
    assert len(found) == 4, found
    a, b, c, d = found
    assert a.startswith(f"{path}:6:") and "shots[0].voice" in a and "cannot be a voice line" in a
    assert b.startswith(f"{path}:7:") and "empty" in b
    assert c.startswith(f"{path}:8:") and "silent" in c
    assert d.startswith(f"{path}:9:") and "damaged or truncated" in d


def test_a_line_past_or_longer_than_its_shot_is_located(write_storyboard, workspace):
    write_wav(workspace / "line.wav", 1.0)
    path = write_storyboard(board(
        "- {id: a, prompt: x, frames: 17, voice: {file: line.wav, at: 40}}\n"
        "- {id: b, prompt: x, duration: 0.5, voice: line.wav}\n"
        "- {id: c, prompt: x, frames: 33, voice: {file: line.wav, at: \"0.5s\"}}\n"
        "- {id: d, prompt: x, voice: {file: line.wav, at: end}}\n"
    ))
    found = messages(path)
    assert len(found) == 4, found
    at, longer, later, end = found
    assert at.startswith(f"{path}:6:") and "shots[0].voice.at" in at and "past the shot's end" in at
    assert longer.startswith(f"{path}:7:") and "the line runs to 1.00s but the shot lasts" in longer
    assert "leave out `duration`" in longer
    assert later.startswith(f"{path}:8:") and "runs to 1.50s" in later
    assert end.startswith(f"{path}:9:") and "voice.at" in end and "frame number" in end


def test_a_line_longer_than_the_longest_take_is_refused(write_storyboard, workspace):
    write_wav(workspace / "long.wav", 70.0, rate=8000)  # max_segments 2: 2 x 96 + 25 = 217 frames, less than one 257-frame window
    path = write_storyboard(HEAD.replace("steps: 2", "steps: 2, max_segments: 2") + "shots:\n- {id: a, prompt: x, voice: long.wav}\n")
    [line] = messages(path)
    assert "longer than the longest take this model allows (257 frames" in line


def test_a_shot_needs_a_length_or_a_voice(write_storyboard):
    [line] = messages(write_storyboard(board("- {id: a, prompt: x}\n")))
    assert "or a `voice`" in line


def test_a_retakes_line_must_end_inside_its_window(write_storyboard, workspace):
    write_wav(workspace / "line.wav", 1.0)
    path = write_storyboard(board(
        "- {id: a, prompt: x, frames: 49, retakes: [{from: 8, to: 40, voice: line.wav}]}\n"
        "- {id: b, prompt: x, frames: 49, retakes: [{from: 8, to: 40, voice: {file: line.wav, at: 12}}]}\n"
        "- {id: c, prompt: x, frames: 49, voice: line.wav, retakes: [{from: 8, to: 40}]}\n"
        "- {id: d, prompt: x, frames: 49, voice: line.wav, retakes: [{from: 8, to: 40, voice: line.wav}]}\n"
    ))
    found = messages(path)
    assert len(found) == 2, found  # shot c: a voiced shot's retake, regenerated to its own line, is fine
    late, dubbed = found
    assert late.startswith(f"{path}:7:") and "shots[1].retakes[0].voice" in late and "widen the window" in late
    assert dubbed.startswith(f"{path}:9:") and "shots[3].retakes[0].voice" in dubbed and "two lines" in dubbed


def test_validate_says_ltx_video_lays_voices_in_as_sound(write_storyboard, workspace):
    from ltx_flows.storyboard.voice import voice_notice

    write_wav(workspace / "line.wav", 0.5)
    shots = "- {id: a, prompt: x, voice: line.wav}\n- {id: b, prompt: x, frames: 9}\n"
    ltxv = load_storyboard(write_storyboard(board(shots).replace("family: ltx2", "family: ltxv"), "v.yaml"))
    assert voice_notice(ltxv) == "; LTX-Video cannot follow a voice: the lines of a are laid in as sound only"
    assert voice_notice(load_storyboard(write_storyboard(board(shots), "w.yaml"))) == ""
