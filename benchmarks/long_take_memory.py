"""Peak memory of long takes: does it stay flat as the take grows?

Renders takes of 2, 4 and 8 segments of the same size with the tiny offline
checkpoint, each in a fresh Python process (so no peak carries over), and prints
each process's peak resident memory and the ratio 8-segment / 2-segment.

The size is chosen so frames weigh: at 640x384 a whole 8-segment take (201
frames) is 141 MiB as uint8 and 566 MiB as float32 (the pipeline's output type),
against ~400 MiB of working memory for one 33-frame segment. Holding the take would
show as that much growth from 2 to 8 segments; a flat profile means the take is
streamed to disk, not held. The first row is a process that only loads the model:
what a take adds above it is the working memory.

The children run with glibc's MALLOC_MMAP_THRESHOLD_ fixed at 1 MiB, so every frame
buffer is its own mapping, returned to the system when freed: the peak then measures
live data. With glibc's default (a threshold that grows to 32 MiB) freed buffers stay
in the heap and the peak wanders by ~100 MiB from run to run, reaching its plateau
after about three segments. Set the variable yourself to measure another way.

    PYTHONPATH=$PWD python benchmarks/long_take_memory.py
    PYTHONPATH=$PWD python benchmarks/long_take_memory.py --smoke   # tiny takes, only checks it runs

About 4 minutes on 2 busy CPU cores. Generation goes through `shot.render_shot`
(no Prefect), the same code the flow's `shot-<id>` task runs.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WIDTH, HEIGHT = 640, 384
SEGMENT_FRAMES, OVERLAP = 33, 9
STEPS = 2
SEGMENT_COUNTS = (2, 4, 8)


def storyboard(segments: int) -> str:
    frames = SEGMENT_FRAMES + (segments - 1) * (SEGMENT_FRAMES - OVERLAP)
    return (
        "version: 1\n"
        "name: bench\n"
        f"model: {{checkpoint: tiny, steps: {STEPS}}}\n"
        f"output: {{width: {WIDTH}, height: {HEIGHT}, fps: 24}}\n"
        "shots:\n"
        "  - id: take\n"
        "    prompt: a slow orbit around a runner on a track at dawn\n"
        f"    frames: {frames}\n"
        f"    segments: {{frames: {SEGMENT_FRAMES}, overlap: {OVERLAP}}}\n"
    )


def peak_mib(usage: resource.struct_rusage) -> float:
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    return usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def render_one(board: Path, out: Path, load_only: bool) -> None:
    """In the child process: render the take (or only load the model) and print what it cost."""
    from ltx_flows.models.loading import load_pipeline
    from ltx_flows.render.shot import render_shot
    from ltx_flows.media.read import probe
    from ltx_flows.plan.planner import plan_storyboard
    from ltx_flows.storyboard.loading import load_storyboard

    plan = plan_storyboard(load_storyboard(board, root=board.parent), board)
    [shot] = plan.shots
    start = time.perf_counter()
    load_pipeline(plan.model)
    frames = 0
    if not load_only:
        frames = probe(render_shot(plan, shot, out)).frames
        assert frames == shot.frames, (frames, shot.frames)
    print(json.dumps({
        "segments": 0 if load_only else len(shot.segments),
        "frames": frames,
        "seconds": round(time.perf_counter() - start, 1),
        # ru_maxrss of this process only: ffmpeg runs in its own processes.
        "peak_mib": round(peak_mib(resource.getrusage(resource.RUSAGE_SELF)), 1),
    }))


def main(smoke: bool = False) -> None:
    from ltx_flows.models.checkpoints import ensure_tiny_checkpoint

    global WIDTH, HEIGHT, SEGMENT_COUNTS
    if smoke:  # only checks that the script works
        WIDTH, HEIGHT, SEGMENT_COUNTS = 96, 64, (2, 3)

    ensure_tiny_checkpoint()  # built once here, so no child pays for (or measures) the build
    segment_mib = SEGMENT_FRAMES * WIDTH * HEIGHT * 3 / 2**20
    print(f"long takes at {WIDTH}x{HEIGHT}, segments of {SEGMENT_FRAMES} frames overlapping by {OVERLAP}, "
          f"{STEPS} steps, tiny checkpoint; one fresh process per take")
    env = {"MALLOC_MMAP_THRESHOLD_": str(2**20), **os.environ}
    print(f"one segment as uint8: {segment_mib:.0f} MiB; MALLOC_MMAP_THRESHOLD_={env['MALLOC_MMAP_THRESHOLD_']}\n")
    print(f"{'segments':>8} {'frames':>6} {'take as uint8':>13} {'seconds':>7} {'peak RSS':>9} {'above model':>11}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="ltx-bench-") as tmp:
        for count in (0, *SEGMENT_COUNTS):  # 0: load the model only
            board = Path(tmp) / f"take-{count}.yaml"
            board.write_text(storyboard(max(count, 2)))
            command = [sys.executable, __file__, "--child", str(board), str(Path(tmp) / f"out-{count}")]
            child = subprocess.run(command + (["--load-only"] if count == 0 else []),
                                   capture_output=True, text=True, env=env, check=False)
            if child.returncode != 0:
                sys.exit(f"the {count}-segment take failed:\n{child.stderr[-3000:]}")
            result = results[count] = json.loads(child.stdout.strip().splitlines()[-1])
            whole = result["frames"] * WIDTH * HEIGHT * 3 / 2**20
            above = result["peak_mib"] - results[0]["peak_mib"]
            print(f"{count or 'model':>8} {result['frames']:>6} {whole:>9.0f} MiB {result['seconds']:>7} "
                  f"{result['peak_mib']:>5.0f} MiB {above:>7.0f} MiB", flush=True)
    first, last = results[SEGMENT_COUNTS[0]], results[SEGMENT_COUNTS[-1]]
    model = results[0]["peak_mib"]
    print(f"\npeak RSS, {SEGMENT_COUNTS[-1]} segments / {SEGMENT_COUNTS[0]} segments: "
          f"{last['peak_mib'] / first['peak_mib']:.2f}; above the loaded model: "
          f"{(last['peak_mib'] - model) / (first['peak_mib'] - model):.2f} "
          f"({last['frames'] - first['frames']} more frames, {(last['frames'] - first['frames']) * WIDTH * HEIGHT * 3 / 2**20:.0f} MiB as uint8)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("STORYBOARD", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--load-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only checks the script works")
    args = parser.parse_args()
    if args.child:
        render_one(Path(args.child[0]), Path(args.child[1]), args.load_only)
    else:
        main(args.smoke)
