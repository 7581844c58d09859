"""Sound: the one format every clip and film carries, reading a clip's track, and laying a music bed under a film.

Sound is 48 kHz stereo AAC everywhere, cut or padded to exactly the video's length in every clip, so
joining clips never drifts sound against picture.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ..files import partial_path
from .ffmpeg import options_to_args, run_ffmpeg
from .read import VideoInfo, check_sound_length, probe, rename_into_place

AUDIO_RATE = 48000
AAC_OPTIONS = {"c:a": "aac", "b:a": "192k", "ar": AUDIO_RATE, "ac": 2}
# How long a music bed fades out before the film's end, at most a quarter of the film.
BED_FADE_SECONDS = 2.0


@dataclass(frozen=True)
class Audio:
    """Sound to put under a clip: float samples in [-1, 1] shaped (channels, samples), and their rate."""

    samples: np.ndarray
    rate: int

    @classmethod
    def silence(cls) -> "Audio":
        # One sample, padded with silence to the clip's length when written.
        return cls(np.zeros((2, 1), dtype=np.float32), AUDIO_RATE)


def audio_samples(frames: int, fps: int) -> int:
    """How many 48 kHz samples last exactly `frames` frames."""
    return round(frames * AUDIO_RATE / fps)


def resample_audio(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """(channels, samples) float from `rate` to `target` Hz: band-limited (the spectrum cut or zero-extended, numpy's
    FFT), with silence appended before the transform so the end does not wrap onto the start."""
    samples = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    if rate == target:
        return samples
    count = samples.shape[1]
    padded = count + max(64, count // 8)
    out_count = round(count * target / rate)
    out_padded = round(padded * target / rate)
    spectrum = np.fft.rfft(samples, n=padded, axis=1)
    resampled = np.fft.irfft(spectrum, n=out_padded, axis=1) * (out_padded / padded)
    return resampled[:, :out_count].astype(np.float32)


def fit_audio_filter(samples: int) -> str:
    """An ffmpeg audio filter: resample, then pad with silence and cut, so the track lasts exactly `samples` samples."""
    return f"aresample={AUDIO_RATE},apad,atrim=end_sample={samples},asetpts=N/SR/TB"


def read_audio(path: str | os.PathLike, channels: int = 2) -> Audio | None:
    """A clip's (first) sound track, decoded to float samples at 48 kHz, as players play it; None without one.

    Decoded by ffmpeg, which applies the mp4's edit list (it trims AAC's encoder priming), so sample
    `round(f * 48000 / fps)` is where frame f starts, as `ClipWriter` laid the sound under the frames.
    """
    with av.open(str(path)) as container:  # the header only: is there a track at all
        if not container.streams.audio:
            return None
    raw = run_ffmpeg(
        ["-i", str(path), "-map", "0:a:0", "-f", "f32le", "-ac", str(channels), "-ar", str(AUDIO_RATE), "pipe:"],
        failure=f"ffmpeg could not decode the sound of {path}",
    )
    return Audio(np.frombuffer(raw, dtype=np.float32).reshape(-1, channels).T.copy(), AUDIO_RATE)


def lay_audio_bed(film: Path, bed: Path, fade_seconds: float = BED_FADE_SECONDS) -> VideoInfo:
    """Put a music bed under `film` in place: cut at the film's end and faded out before it.

    A bed shorter than the film is followed by silence. The video is copied, not re-encoded;
    any sound the film had is replaced.
    """
    film, bed = Path(film), Path(bed)
    info = probe(film)
    fade = min(fade_seconds, info.duration / 4)
    bed_filter = f"afade=t=out:st={info.duration - fade:.6f}:d={fade:.6f},{fit_audio_filter(audio_samples(info.frames, round(info.fps)))}"
    # The fade is placed on the bed's own timeline, before padding: a shorter bed just ends early.
    return replace_sound(film, ["-i", str(film), "-i", str(bed), "-map", "0:v:0", "-map", "1:a:0", "-af", bed_filter],
                         frames=info.frames)


def replace_sound(film: Path, args: list[str], frames: int) -> VideoInfo:
    """Rewrite `film` in place with a new sound track: `args` are ffmpeg's inputs, maps and filters. The video is
    copied (its `frames` checked), the sound encoded as every track is and held to the film's length; the film is
    replaced only when the new one is complete (the bed, the ducked mix and loudness all finish this way)."""
    partial = partial_path(keep_suffix=True, path=film)
    try:
        run_ffmpeg([*args, "-c:v", "copy", *options_to_args(AAC_OPTIONS), "-movflags", "+faststart", "-f", "mp4",
                    str(partial)], partial)
        replaced = probe(partial)
        check_sound_length(replaced, film)
        if replaced.frames != frames:
            raise RuntimeError(f"rewriting {film}'s sound changed its frames ({frames} -> {replaced.frames})")
        return rename_into_place(partial, film, replaced)
    finally:
        partial.unlink(missing_ok=True)
