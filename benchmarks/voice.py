"""What a voice costs: a voiced LTX-2 shot against the same shot unvoiced (encoding the line with the audio VAE, holding
its tokens, mixing it into the clip), and the loudness pass (and the ducked bed) against the stitch alone.

Both shots render through `render_plain` on the same model (loaded and warmed first), interleaved and repeated; the
film is stitched from clips with sound, then normalized, timed separately. Prints each time and the ratios side by
side (goal: a voiced shot at most 1.10x the unvoiced one); never asserts on time.

    PYTHONPATH=$PWD python benchmarks/voice.py            # tiny LTX-2, 384x256, 97 frames, 4 steps; 6 clips of 121 frames
    PYTHONPATH=$PWD python benchmarks/voice.py --smoke    # 64x64, 17 frames, 2 steps; 3 short clips
"""

import argparse
import statistics
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

BOARD = """
version: 1
name: bench
model: {{family: ltx2, checkpoint: tiny, steps: {steps}}}
output: {{width: {width}, height: {height}, fps: 24}}
shots:
  - {{id: plain, prompt: "a presenter speaks", frames: {frames}, seed: 3}}
  - {{id: voiced, prompt: "a presenter speaks", frames: {frames}, seed: 3, voice: line.wav}}
"""


def write_line(path: Path, seconds: float, rate: int = 22050) -> None:
    """A spoken-like stand-in: a gliding, syllable-gated tone (no synthesizer needed)."""
    t = np.arange(int(seconds * rate)) / rate
    gate = (np.sin(2 * np.pi * 4 * t) > -0.2).astype(np.float64)
    tone = 0.4 * np.sin(2 * np.pi * (140 + 40 * np.sin(2 * np.pi * 0.7 * t)) * t) * gate
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((tone * 32767).astype("<i2").tobytes())


def shots(folder: Path, frames: int, width: int, height: int, steps: int, repeats: int) -> dict[str, list[float]]:
    from ltx_flows.plan.planner import plan_storyboard
    from ltx_flows.render.generate import render_plain
    from ltx_flows.storyboard.loading import load_storyboard

    write_line(folder / "line.wav", (frames - 8) / 24)
    board = folder / "bench.yaml"
    board.write_text(BOARD.format(steps=steps, width=width, height=height, frames=frames))
    plan = plan_storyboard(load_storyboard(board, folder), board)
    film_dir = folder / "renders"
    times: dict[str, list[float]] = {"plain": [], "voiced": []}
    for shot_id in times:  # loads and warms the model, and each path's first-use costs (imports, decoded line)
        render_plain(plan, plan.shot(shot_id), film_dir)
    for _ in range(repeats):
        for shot_id in times:
            start = time.perf_counter()
            render_plain(plan, plan.shot(shot_id), film_dir)
            times[shot_id].append(time.perf_counter() - start)
    return times


def film_passes(folder: Path, clips: int, frames: int, width: int, height: int) -> dict[str, float]:
    from ltx_flows.media.audio import Audio
    from ltx_flows.media.joins import Join
    from ltx_flows.media.loudness import normalize_loudness
    from ltx_flows.media.mix import mix_bed_under_lines
    from ltx_flows.media.stitch import stitch
    from ltx_flows.media.write import write_clip

    rng = np.random.default_rng(5)
    paths = []
    for i in range(clips):
        video = rng.integers(0, 255, (frames, height, width, 3), dtype=np.uint8)
        t = np.arange(round(frames / 24 * 48000)) / 48000
        speech = (0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
        paths.append(write_clip(video, folder / f"clip{i}.mp4", fps=24, audio=Audio(np.stack([speech, speech]), 48000)))
    bed = folder / "bed.wav"
    write_line(bed, clips * frames / 24 + 1, rate=48000)
    film = folder / "film.mp4"
    timed = {}
    start = time.perf_counter()
    stitch(paths, [Join(kind="cut", frames=0)] * (clips - 1), film, fps=24)
    timed["stitch"] = time.perf_counter() - start
    start = time.perf_counter()
    mix_bed_under_lines(film, bed)
    timed["ducked bed"] = time.perf_counter() - start
    start = time.perf_counter()
    normalize_loudness(film, -16.0, -1.0)
    timed["loudness"] = time.perf_counter() - start
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    size = dict(frames=17, width=64, height=64, steps=2) if args.smoke else dict(frames=97, width=384, height=256, steps=4)
    film = dict(clips=3, frames=25, width=64, height=64) if args.smoke else dict(clips=6, frames=121, width=384, height=256)
    repeats = 1 if args.smoke else args.repeats
    with tempfile.TemporaryDirectory() as tmp:
        times = shots(Path(tmp), repeats=repeats, **size)
        passes = film_passes(Path(tmp), **film)
    plain, voiced = statistics.median(times["plain"]), statistics.median(times["voiced"])
    print(f"shot ({size['frames']} frames, {size['width']}x{size['height']}, {size['steps']} steps, tiny LTX-2), "
          f"median of {repeats}: unvoiced {plain:.2f} s, voiced {voiced:.2f} s, voiced/unvoiced {voiced / plain:.2f}x "
          "(goal <= 1.10x)")
    print(f"film ({film['clips']} clips of {film['frames']} frames): stitch {passes['stitch']:.2f} s, ducked bed "
          f"{passes['ducked bed']:.2f} s ({passes['ducked bed'] / passes['stitch']:.2f}x the stitch), loudness "
          f"{passes['loudness']:.2f} s ({passes['loudness'] / passes['stitch']:.2f}x the stitch)")


if __name__ == "__main__":
    main()
