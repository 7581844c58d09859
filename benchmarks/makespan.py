"""How well a batch keeps N render slots busy: makespan against the best any schedule could do.

Runs the real `render-batch` flow (real Prefect server, real Dask render workers on this
machine, real stitching and manifests) over a batch of storyboards with mixed shot lengths and
long takes, on N local render workers for each N asked. No GPU here, so generation is replaced
by a documented stand-in: in each worker, `ltx_flows.render.shot.render_shot` (what the shot cache calls to render)
sleeps for the shot's planned duration times `--scale` and then copies a pre-encoded clip of the
shot's frame count (64x64) into place. Everything around generation is the real code.

For each N it prints the batch's makespan (the render-batch call, from start to the last
manifest), the lower bound max(total shot time / N, longest shot) and their ratio.

    PYTHONPATH=$PWD python benchmarks/makespan.py                 # 40 storyboards, N = 1, 4, 8
    PYTHONPATH=$PWD python benchmarks/makespan.py --smoke         # 4 storyboards, N = 2

Each cluster first renders a one-shot-per-worker warm-up batch (not timed): worker imports and
the first task runs, which a GPU worker pays once (with its model load) in a night of renders.
Without PREFECT_API_URL a temporary Prefect server is started for the run.
"""

import argparse
import cProfile
import inspect
import os
import random
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

FPS = 24
LENGTHS = (25, 49, 73, 97, 121)  # frames of ordinary shots (1 to 5 s)
LONG_TAKE = 481  # a 20 s long take


def write_batch(folder: Path, count: int, seed: int = 3) -> list[Path]:
    """`count` storyboards: most have 1-5 shots of mixed lengths (some crossfaded), every 8th is one long take."""
    rng = random.Random(seed)
    files = []
    for i in range(count):
        if i % 8 == 7:
            shots = [f'  - {{id: take, prompt: "long take {i}", frames: {LONG_TAKE}}}']
        else:
            shots = []
            count_shots = rng.randint(1, 5)
            for j in range(count_shots):
                fade = ", transition: {crossfade: 0.25}" if j < count_shots - 1 and rng.random() < 0.3 else ""
                shots.append(f'  - {{id: s{j}, prompt: "board {i} shot {j}", frames: {rng.choice(LENGTHS)}{fade}}}')
        file = folder / f"board{i:02d}.yaml"
        file.write_text(
            f"version: 1\nname: board{i:02d}\nmodel: {{checkpoint: tiny, steps: 2}}\n"
            f"output: {{width: 64, height: 64, fps: {FPS}}}\nshots:\n" + "\n".join(shots) + "\n"
        )
        files.append(file)
    return files


def install_stand_in(clips: str, scale: float) -> None:
    """Runs in each render worker, before its first shot: generation becomes a sleep and a file copy."""
    import shutil
    import sys
    import types

    def render_shot(plan, shot, film_dir, memory=None, **options):
        start = time.time()
        time.sleep(shot.frames / plan.output.fps * scale)
        clip = Path(film_dir) / shot.clip
        clip.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(os.path.join(clips, f"{shot.frames}.mp4"), clip)
        with open(os.path.join(clips, "timeline.txt"), "a") as timeline:  # when each worker was busy
            timeline.write(f"{os.getpid()} {start} {time.time()}\n")
        return clip

    import ltx_flows.render.shot

    ltx_flows.render.shot.render_shot = render_shot
    # The device the record names, without importing torch and diffusers (`models.loading`) in the worker.
    loading = types.ModuleType("ltx_flows.models.loading")
    loading.pick_device = lambda setting: "stand-in"
    sys.modules["ltx_flows.models.loading"] = loading


def make_clips(folder: Path, lengths: set[int]) -> None:
    import numpy as np

    from ltx_flows.media.write import write_clip

    folder.mkdir(parents=True, exist_ok=True)
    for frames in sorted(lengths):
        video = np.zeros((frames, 64, 64, 3), np.uint8)
        video[:, :, :, 0] = (np.arange(frames) * 5 % 256)[:, None, None]
        write_clip(video, folder / f"{frames}.mp4", fps=FPS)


def run_batch(files: list[Path], out: Path, address: str) -> tuple[float, float]:
    """Renders the batch; returns when it started (time.time()) and how long it took."""
    from ltx_flows.production.flow import render_batch

    # The scheduler is worker configuration (LTX_FLOWS_DASK_SCHEDULER); before issue 12 it was a parameter.
    options = {"cluster": address} if "cluster" in inspect.signature(render_batch.fn).parameters else {}
    os.environ["LTX_FLOWS_DASK_SCHEDULER"] = address
    began, start = time.time(), time.perf_counter()
    state = render_batch([str(file) for file in files], out=str(out), root=str(files[0].parent), return_state=True, **options)
    seconds = time.perf_counter() - start
    if not state.is_completed():
        raise SystemExit(f"the batch failed: {state.message}")
    return began, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,4,8", help="render worker counts to try, comma-separated")
    parser.add_argument("--storyboards", type=int, default=40)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="seconds of sleep per second of planned shot (1: the full planned duration, as the issue asks)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only checks the script works")
    parser.add_argument("--profile", type=Path, help="write a cProfile of this process's timed batches here")
    args = parser.parse_args()
    if args.smoke:
        args.workers, args.storyboards, args.scale = "2", 4, 0.05

    from distributed import Client

    from ltx_flows.production.slots import local_gpu_cluster
    from ltx_flows.plan.planner import plan_storyboard
    from ltx_flows.storyboard.loading import load_storyboard

    work = Path(tempfile.mkdtemp(prefix="ltx-flows-makespan-"))
    boards = work / "storyboards"
    boards.mkdir()
    files = write_batch(boards, args.storyboards)
    shots = [shot for file in files for shot in plan_storyboard(load_storyboard(file, boards), file).shots]
    seconds = [shot.frames / FPS * args.scale for shot in shots]
    make_clips(work / "clips", {shot.frames for shot in shots} | {9})
    print(f"{len(files)} storyboards, {len(shots)} shots ({sum(s.frames for s in shots)} frames; "
          f"{sum(bool(s.segments) for s in shots)} long takes of {LONG_TAKE}), stand-in generation "
          f"{args.scale:g} s per planned second: {sum(seconds):.1f} s of shots, the longest {max(seconds):.2f} s; in {work}")

    server = nullcontext()
    if not os.environ.get("PREFECT_API_URL"):
        from prefect.testing.utilities import prefect_test_harness

        server = prefect_test_harness(server_startup_timeout=120)
    with server:
        from prefect.settings import PREFECT_API_URL

        os.environ["PREFECT_API_URL"] = PREFECT_API_URL.value()  # local workers report to this server
        for n in [int(value) for value in args.workers.split(",")]:
            with local_gpu_cluster([str(i) for i in range(n)]) as cluster, Client(cluster) as client:
                client.run(install_stand_in, str(work / "clips"), args.scale)
                warm = boards.parent / f"warm-{n}.yaml"
                warm.write_text(
                    f"version: 1\nname: warm\nmodel: {{checkpoint: tiny, steps: 2}}\noutput: {{width: 64, height: 64, fps: {FPS}}}\n"
                    "shots:\n" + "\n".join(f'  - {{id: w{i}, prompt: "warm {i}", frames: 9}}' for i in range(n)) + "\n"
                )
                run_batch([warm], work / f"warm-{n}", cluster.scheduler_address)
                (work / "clips" / "timeline.txt").unlink(missing_ok=True)
                profile = cProfile.Profile() if args.profile else None
                if profile:
                    profile.enable()
                began, makespan = run_batch(files, work / f"renders-{n}", cluster.scheduler_address)
                if profile:
                    profile.disable()
                    profile.dump_stats(args.profile)
            spans = [line.split() for line in (work / "clips" / "timeline.txt").read_text().splitlines()]
            first, last = min(float(s[1]) for s in spans), max(float(s[2]) for s in spans)
            busy = sum(float(s[2]) - float(s[1]) for s in spans)
            print(f"N = {n}: shots ran from {first - began:.2f} s to {last - began:.2f} s after the batch began, "
                  f"the workers busy {busy / (n * (last - first)):.0%} of that; the batch ended "
                  f"{began + makespan - last:.2f} s after the last shot (stitching, artifacts, the flow's end)")
            bound = max(sum(seconds) / n, max(seconds))
            print(f"N = {n}: makespan {makespan:.2f} s, lower bound {bound:.2f} s, makespan/bound {makespan / bound:.2f}")


if __name__ == "__main__":
    main()
