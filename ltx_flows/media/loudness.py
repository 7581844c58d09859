"""Loudness as delivered: a film's sound measured (ITU-R BS.1770 / EBU R128 through ffmpeg's `ebur128`, true peak
on) and normalized to a target in two passes: the measurement, then one linear gain (ffmpeg's `volume`), with a
look-ahead limiter (`alimiter`, its delay compensated) only where that gain would break the true-peak ceiling.

Why not ffmpeg's `loudnorm`: its linear mode gives up (and switches to dynamic compression, which reshapes the
lines) whenever the gain would break the ceiling, as it does for most speech brought up to -16 LUFS, and its output
came back 0.1 s shorter than its input on a 7 s film (its look-ahead), moving the sound off its frames.

The video is copied, never re-encoded; the sound is re-encoded once, as every track is (48 kHz stereo AAC).
"""

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from .audio import audio_samples, fit_audio_filter, replace_sound
from .ffmpeg import run_ffmpeg
from .read import VideoInfo, probe

# How far the film may land from its target (LU) before it is a failure.
LOUDNESS_TOLERANCE_LU = 1.0
# Headroom under the true-peak ceiling: AAC encoding can raise true peaks by a few tenths of a dB, and a sample-peak
# limiter lets inter-sample peaks through a little above its limit.
AAC_PEAK_MARGIN_DB = 0.5
LIMITER_MARGIN_DB = 0.5
# ebur128's absolute gate: a track measuring this (or no peak at all) is silence.
SILENCE_LUFS = -70.0


@dataclass(frozen=True)
class Loudness:
    """What a film's decoded sound measures: integrated loudness (LUFS), its gating threshold, loudness range (LU)
    and true peak (dBTP)."""

    integrated: float
    threshold: float
    range: float
    true_peak: float

    def record(self) -> dict:
        return {key: round(value, 2) for key, value in asdict(self).items()}


class LoudnessError(RuntimeError):
    """The normalized film is further from its target than LOUDNESS_TOLERANCE_LU."""


def _number(summary: str, label: str) -> float:
    found = re.search(rf"{label}:\s+(-?inf|-?\d+(\.\d+)?)", summary)
    if found is None:
        raise RuntimeError(f"ffmpeg's ebur128 summary has no {label!r}: {summary[-400:]}")
    return float(found.group(1))


def measure_loudness(path: Path) -> Loudness:
    """The loudness of `path`'s (first) sound track as players decode it."""
    said = run_ffmpeg(["-i", str(path), "-map", "0:a:0", "-af", "ebur128=peak=true:framelog=quiet", "-f", "null", "-"],
                      failure=f"ffmpeg could not measure the loudness of {path}", log=True)
    summary = said.decode(errors="replace").rsplit("Summary:", 1)[-1]
    integrated_part, _, rest = summary.partition("Loudness range:")
    return Loudness(
        integrated=_number(integrated_part, "I"),
        threshold=_number(integrated_part, "Threshold"),
        range=_number(rest, "LRA"),
        true_peak=_number(rest.partition("True peak:")[2], "Peak"),
    )


def normalize_loudness(film: Path, target: float, true_peak: float) -> VideoInfo:
    """Bring `film`'s sound to `target` LUFS under `true_peak` dBTP, in place; returns the film's info.

    Raises LoudnessError (the film is left as normalized, for a look) when it measures more than
    LOUDNESS_TOLERANCE_LU from `target`, or above the true-peak ceiling.
    """
    film = Path(film)
    before = measure_loudness(film)
    if before.integrated <= SILENCE_LUFS or before.true_peak == float("-inf"):
        raise LoudnessError(f"{film} is silent: it cannot be normalized to {target:g} LUFS")
    gain = target - before.integrated
    info = probe(film)
    chain = [f"volume={gain:.3f}dB"]
    if before.true_peak + gain > true_peak - AAC_PEAK_MARGIN_DB:
        # Only where the gain would break the ceiling: a look-ahead limiter (its delay compensated, so the sound stays
        # on its frames) holds sample peaks LIMITER_MARGIN_DB under it; between peaks the gain stays linear.
        limit = 10 ** ((true_peak - AAC_PEAK_MARGIN_DB - LIMITER_MARGIN_DB) / 20)
        chain.append(f"alimiter=limit={limit:.4f}:attack=5:release=50:level=false:latency=true")
    chain.append(fit_audio_filter(audio_samples(info.frames, round(info.fps))))
    normalized = replace_sound(film, ["-i", str(film), "-map", "0:v:0", "-map", "0:a:0", "-af", ",".join(chain)],
                               frames=info.frames)
    after = measure_loudness(film)
    if (problem := loudness_problem(after, target, true_peak)) is not None:
        raise LoudnessError(f"{film} {problem} after normalizing; the mix is too dynamic to reach it: lower "
                            "`output.loudness`, or turn the loud parts down")
    return normalized


def loudness_problem(measured: Loudness, target: float, true_peak: float) -> str | None:
    """What is wrong with `measured` against a target and a true-peak ceiling (None: it meets them): more than
    LOUDNESS_TOLERANCE_LU off the target, or a true peak above the ceiling."""
    if abs(measured.integrated - target) > LOUDNESS_TOLERANCE_LU or measured.true_peak > true_peak:
        return (f"measures {measured.integrated:.1f} LUFS, true peak {measured.true_peak:.1f} dBTP against {target:g} "
                f"LUFS under {true_peak:g} dBTP (allowed: +/-{LOUDNESS_TOLERANCE_LU:g} LU, peak at most the ceiling)")
    return None
