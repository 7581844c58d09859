"""A voiced shot's sound: its line as a shot-long track (what LTX-2 is conditioned on and what the clip carries), and
the clip's mix of the line over LTX-2's own sound.

The clip carries the given waveform itself: the line decoded by ffmpeg at the film's 48 kHz (resampled and
down-mixed to stereo there, once), scaled by `gain` and placed at its start sample, round(start * 48000 / fps),
sample for sample, never the vocoder's re-synthesis of the held tokens. Outside the line LTX-2's own sound plays at
`ambience` dB; under it (with 10 ms fades at each side) the line replaces it, since there the model's sound is its
own rendering of the held line and would double the voice.

No torch here: a cached clip is re-mixed without the model.
"""

import functools
from pathlib import Path

import numpy as np

from ..media.audio import AUDIO_RATE, Audio, audio_samples, read_audio, resample_audio
from ..plan.planner import RenderPlan, ShotPlan
from ..plan.voice import VoicePlan

# How long LTX-2's sound fades out before a line and back in after it.
AMBIENCE_FADE_SECONDS = 0.010


@functools.lru_cache(maxsize=32)
def _decoded(path: Path, size: int, mtime_ns: int) -> np.ndarray:
    audio = read_audio(path, channels=2)
    return audio.samples


def decoded_line(path: Path) -> np.ndarray:
    """The line's file as the film carries it: (2, samples) float32 at 48 kHz, decoded by ffmpeg once per version."""
    stat_ = path.stat()
    return _decoded(path, stat_.st_size, stat_.st_mtime_ns)


def line_start_sample(voice: VoicePlan, fps: int) -> int:
    return round(voice.start_frame * AUDIO_RATE / fps)


def line_track(voice: VoicePlan, frames: int, fps: int) -> Audio:
    """The shot-long track of the line alone: silence, the line (times `gain`) from its start sample, silence."""
    length = audio_samples(frames, fps)
    line = decoded_line(Path(voice.file)) * np.float32(10 ** (voice.gain / 20))
    start = line_start_sample(voice, fps)
    track = np.zeros((2, length), dtype=np.float32)
    piece = line[:, : max(0, length - start)]
    track[:, start : start + piece.shape[1]] = piece
    return Audio(track, AUDIO_RATE)


def _fitted(audio: Audio, length: int) -> np.ndarray:
    samples = np.atleast_2d(np.asarray(audio.samples, dtype=np.float32))
    samples = resample_audio(samples, audio.rate, AUDIO_RATE) if audio.rate != AUDIO_RATE else samples
    if samples.shape[0] != 2:
        samples = np.repeat(samples.mean(axis=0, keepdims=True), 2, axis=0)
    out = np.zeros((2, length), dtype=np.float32)
    out[:, : min(length, samples.shape[1])] = samples[:, :length]
    return out


def shot_lines(shot: ShotPlan) -> list[VoicePlan]:
    """Every line a shot's clip carries: its own, and its retakes' (in shot frames)."""
    return [v for v in (shot.voice, *(r.voice for r in shot.retakes)) if v is not None]


def voiced_sound(plan: RenderPlan, shot: ShotPlan, generated: Audio | None) -> Audio:
    """The sound of a clip in a film with voices: the shot's lines (its own, its retakes') over LTX-2's own sound
    (generated films, not muted, at `ambience` dB outside the lines), else silence; exactly the shot's frames long."""
    fps = plan.output.fps
    length = audio_samples(shot.frames, fps)
    lines = shot_lines(shot)
    base = np.zeros((2, length), dtype=np.float32)
    if plan.audio == "generate" and not shot.mute and generated is not None:
        ambience = shot.voice.ambience if shot.voice is not None else 0.0
        gain = 0.0 if ambience is None else 10 ** (ambience / 20)
        base = _fitted(generated, length) * np.float32(gain)
    under = np.ones(length, dtype=np.float32)  # how much of LTX-2's sound plays
    mixed = np.zeros((2, length), dtype=np.float32)
    fade = round(AMBIENCE_FADE_SECONDS * AUDIO_RATE)
    ramp = np.linspace(1.0, 0.0, fade, dtype=np.float32)
    for voice in lines:
        mixed += line_track(voice, shot.frames, fps).samples
        start = line_start_sample(voice, fps)
        end = min(length, start + decoded_line(Path(voice.file)).shape[1])
        under[start:end] = 0.0
        lead = under[max(0, start - fade) : start]
        lead[:] = np.minimum(lead, ramp[len(ramp) - len(lead):])
        trail = under[end : end + fade]
        trail[:] = np.minimum(trail, ramp[::-1][: len(trail)])
    return Audio(base * under + mixed, AUDIO_RATE)


def voice_line(shot: ShotPlan, fps: int):
    """The `ltx2_voice.VoiceLine` LTX-2 is conditioned on for `shot` (None without a voice it can follow)."""
    if shot.voice is None or not shot.voice.follows:
        return None
    from ..models.ltx2_voice import VoiceLine

    track = line_track(shot.voice, shot.frames, fps)
    return VoiceLine(samples=track.samples, rate=track.rate, first_token=shot.voice.first_token,
                     last_token=shot.voice.last_token)


def segment_voice_line(shot: ShotPlan, start: int, frames: int, fps: int):
    """A long take's segment (shot frames [start, start + frames)): its slice of the shot's line."""
    return voice_slice(shot.voice, shot.frames, start, frames, fps) if shot.voice is not None else None


def voice_slice(voice: VoicePlan, shot_frames: int, start: int, frames: int, fps: int):
    """The `ltx2_voice.VoiceLine` of a generation covering shot frames [start, start + frames) (a long take's
    segment, a retake's clip): its slice of the line track, and the line's tokens within it counted from its own
    first token (as the pipeline counts them: round(frame / fps * 25)); None when the line does not reach into it."""
    from ..models.ltx2_voice import VoiceLine
    from ..plan.voice import AUDIO_TOKENS_PER_SECOND

    if not voice.follows:
        return None
    offset = round(start / fps * AUDIO_TOKENS_PER_SECOND)
    tokens = round(frames / fps * AUDIO_TOKENS_PER_SECOND)
    first, last = max(0, voice.first_token - offset), min(tokens, voice.last_token - offset)
    if last <= first:
        return None
    track = line_track(voice, shot_frames, fps).samples
    begin = round(start * AUDIO_RATE / fps)
    piece = track[:, begin : begin + audio_samples(frames, fps)]
    return VoiceLine(samples=piece, rate=AUDIO_RATE, first_token=first, last_token=last)
