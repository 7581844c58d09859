"""What a crossfade costs at stitch time, against the same clips joined by cuts.

Writes N clips (moving noise, so x264 has real work; a keyframe every second as ClipWriter
writes them, with a sound track as clips with generated sound have), then stitches them
with cuts and with crossfades, interleaved and repeated, and prints the time of each, the
crossfade/cut ratio and each film's frame count (checked against the plan's).

    PYTHONPATH=$PWD python benchmarks/stitch.py              # 20 clips of 121 frames at 384x256, 0.5 s crossfades
    PYTHONPATH=$PWD python benchmarks/stitch.py --smoke      # 3 small clips, a few seconds
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ltx_flows.media.read import probe
from ltx_flows.media.audio import Audio
from ltx_flows.media.write import write_clip
from ltx_flows.media.joins import Join
from ltx_flows.media.stitch import stitch


def make_clips(folder: Path, count: int, frames: int, width: int, height: int, fps: int, sound: bool) -> list[Path]:
    rng = np.random.default_rng(7)
    clips = []
    for i in range(count):
        # A gradient drifting across the frame plus a little noise: neither free nor pathological for x264.
        x = np.linspace(0, 255, width, dtype=np.float32)[None, None, :, None]
        shift = np.arange(frames, dtype=np.float32)[:, None, None, None] * 3 + i * 40
        base = (x + shift) % 256 + np.zeros((1, height, 1, 3), np.float32)
        video = np.clip(base + rng.normal(0, 6, (frames, height, width, 3)), 0, 255).astype(np.uint8)
        audio = None
        if sound:
            t = np.arange(round(frames / fps * 48000)) / 48000
            tone = (0.2 * np.sin(2 * np.pi * (220 + 20 * i) * t)).astype(np.float32)
            audio = Audio(np.stack([tone, tone]), 48000)
        clips.append(write_clip(video, folder / f"clip{i:02d}.mp4", fps=fps, audio=audio))
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--frames", type=int, default=121, help="frames per clip (121: LTX's default, 5 s at 24 fps)")
    parser.add_argument("--fade", type=float, default=0.5, help="crossfade length in seconds")
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-sound", action="store_true", help="clips without a sound track")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.clips, args.frames, args.width, args.height, args.repeat = 3, 41, 64, 64, 1

    work = Path(tempfile.mkdtemp(prefix="ltx-flows-stitch-"))
    frames = args.frames
    fade = round(args.fade * args.fps)
    clips = make_clips(work, args.clips, frames, args.width, args.height, args.fps, not args.no_sound)
    print(f"{args.clips} clips of {frames} frames at {args.width}x{args.height} {args.fps} fps, "
          f"{'with' if not args.no_sound else 'without'} sound, crossfades of {fade} frames; in {work}")

    variants = {
        "cuts": ([Join("cut")] * (args.clips - 1), args.clips * frames),
        "crossfades": ([Join("crossfade", fade)] * (args.clips - 1), args.clips * frames - (args.clips - 1) * fade),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for rep in range(args.repeat):
        for name, (joins, expected) in variants.items():
            start = time.perf_counter()
            info = stitch(clips, joins, work / f"{name}-{rep}.mp4", fps=args.fps)
            times[name].append(time.perf_counter() - start)
            if info.frames != expected or probe(work / f"{name}-{rep}.mp4").frames != expected:
                raise SystemExit(f"{name}: {info.frames} frames, expected {expected}")
    for name, values in times.items():
        print(f"{name}: {' '.join(f'{t:.2f}s' for t in values)} (best {min(values):.2f}s)")
    print(f"crossfade/cut (best of {args.repeat} each): {min(times['crossfades']) / min(times['cuts']):.1f}")


if __name__ == "__main__":
    main()
