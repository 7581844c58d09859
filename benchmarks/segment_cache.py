"""What caching one long-take segment costs, in the cache's format against the one before it.

A long take caches each segment as it finishes. Before, a segment was encoded at crf 12 (yuv420p)
and decoded back to continue the take from the file; now it is written losslessly (RGB H.264,
qp 0) and the take continues from the frames in memory, so only a resumed take ever decodes it.
Prints, side by side for one segment of diffusion-like frames: the time of each step, the file
size, and whether the cached frames decode to exactly the generated ones.

    PYTHONPATH=$PWD python benchmarks/segment_cache.py            # 121 frames at 768x512
    PYTHONPATH=$PWD python benchmarks/segment_cache.py --smoke
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ltx_flows.media.read import read_frames
from ltx_flows.media.write import write_clip


def best_of(repeat: int, step) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=121)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.frames, args.width, args.height, args.repeat = 17, 96, 64, 1

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, args.width)[None, None, :, None] + np.arange(args.frames)[:, None, None, None] * 2
    frames = np.clip(ramp + rng.normal(0, 8, (args.frames, args.height, args.width, 3)), 0, 255).astype(np.uint8)
    print(f"one segment: {args.frames} frames at {args.width}x{args.height} ({frames.nbytes / 2**20:.0f} MiB as uint8)")
    with tempfile.TemporaryDirectory(prefix="ltx-flows-segments-") as tmp:
        before, after = Path(tmp) / "crf12.mp4", Path(tmp) / "lossless.mp4"
        crf_write, _ = best_of(args.repeat, lambda: write_clip(frames, before, fps=24, crf=12))
        crf_read, decoded = best_of(args.repeat, lambda: read_frames(before))
        lossless_write, _ = best_of(args.repeat, lambda: write_clip(frames, after, fps=24, lossless=True))
        lossless_read, exact = best_of(args.repeat, lambda: read_frames(after))
        print(f"before (crf 12, decoded back every time): write {crf_write:.2f}s + read {crf_read:.2f}s = "
              f"{crf_write + crf_read:.2f}s, {before.stat().st_size / 2**20:.1f} MiB, exact: {np.array_equal(decoded, frames)}")
        print(f"after (lossless, read only on resume): write {lossless_write:.2f}s (resume: read {lossless_read:.2f}s), "
              f"{after.stat().st_size / 2**20:.1f} MiB, exact: {np.array_equal(exact, frames)}")
        print(f"per segment rendered in one go, after/before: {lossless_write / (crf_write + crf_read):.2f}")


if __name__ == "__main__":
    main()
