"""Loudness as delivered on real files (ffmpeg, no model): a quiet film brought to its target under its ceiling with
its picture untouched, a silent one refused with a message, and captions written and removed."""

import numpy as np
import pysubs2
import pytest

from ltx_flows.media.audio import Audio
from ltx_flows.media.captions import Cue, caption_paths, write_captions
from ltx_flows.media.loudness import LoudnessError, measure_loudness, normalize_loudness
from ltx_flows.media.read import probe
from ltx_flows.media.write import write_clip


def clip(path, amplitude: float):
    t = np.arange(48000 * 3) / 48000
    tone = (amplitude * np.sin(2 * np.pi * 300 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    frames = np.full((72, 64, 64, 3), 90, np.uint8)
    return write_clip(frames, path, fps=24, audio=Audio(np.stack([tone, tone]), 48000))


def test_a_quiet_film_is_brought_to_its_target_under_its_ceiling(tmp_path):
    film = clip(tmp_path / "film.mp4", 0.02)
    before = measure_loudness(film)
    assert before.integrated < -30
    info = normalize_loudness(film, -14.0, -1.0)
    after = measure_loudness(film)
    assert abs(after.integrated + 14) <= 1 and after.true_peak <= -1
    assert info.frames == probe(film).frames == 72 and abs(info.audio_duration - 3.0) < 1 / 24


def test_a_silent_film_cannot_be_normalized(tmp_path):
    film = clip(tmp_path / "silent.mp4", 0.0)
    with pytest.raises(LoudnessError, match="is silent"):
        normalize_loudness(film, -16.0, -1.0)


def test_captions_are_written_beside_the_film_and_removed_when_there_are_none(tmp_path):
    film = tmp_path / "film.mp4"
    written = write_captions([Cue(start=0.5, end=1.25, text="Hello"), Cue(start=2.0, end=3.0, text="Two\nlines")], film)
    assert written == list(caption_paths(film)) == [tmp_path / "film.srt", tmp_path / "film.vtt"]
    for path in written:
        events = pysubs2.load(str(path))
        assert [(e.start, e.end, e.plaintext) for e in events] == [(500, 1250, "Hello"), (2000, 3000, "Two\nlines")]
    assert write_captions([], film) == [] and not any(p.exists() for p in written)
