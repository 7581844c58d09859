"""What the Prefect flow costs over a bare loop: wall time and peak memory, side by side.

Renders a storyboard of N shots with the tiny offline checkpoint through `render-batch`, and makes
the same generation calls in a bare Python loop (same shapes, steps, seeds, same encoding). Each
measurement runs in a fresh process (so peak memory is its own), bare and flow interleaved and
repeated; prints the best time of each, flow/bare, each one's peak resident memory, and the CPU time that
its process and children (ffmpeg, Prefect's ephemeral server) spent over the timed part.

    PYTHONPATH=$PWD python benchmarks/flow_overhead.py                      # 6 shots of 49 frames at 384x256
    PYTHONPATH=$PWD python benchmarks/flow_overhead.py --shots 150 --frames 9 --width 96 --height 64
    PYTHONPATH=$PWD python benchmarks/flow_overhead.py --smoke
    PYTHONPATH=$PWD python benchmarks/flow_overhead.py --before /tmp/old   # also an older checkout's flow, interleaved
    PYTHONPATH=$PWD python benchmarks/flow_overhead.py --gpu-stand-in 1.0  # generation off the CPU, as on a GPU

`--before DIR` also runs the flow from another checkout of ltx-flows (`git worktree add /tmp/old <commit>`),
interleaved with the two others, so a change's before and after are measured side by side in one run.

Each flow process first renders a throw-away copy (not timed): imports, Prefect's ephemeral server
(or the one at PREFECT_API_URL) and the model load; the bare loop loads the model and makes the same
throw-away shot before timing. Children run with OMP_NUM_THREADS=1 unless it is set.

The bare loop makes only the clips. `--pipeline` adds a third kind: the flow's own work without Prefect (each shot
through the shot cache, then the film, review page and manifest, one after another in one thread), so the flow's
cost splits into the work the bare loop leaves out (pipeline/bare) and what Prefect adds to it (flow/pipeline).

On these CPU-only machines the tiny model generates on the same two cores as everything else, so every bit of the
flow's own work (encoding one clip while the next shot generates, Prefect, the film's check) competes with
generation. `--gpu-stand-in SECONDS` replaces each generation by a sleep that holds the device's lock, as a GPU
generation holds the GPU and leaves the CPU free, in every kind of run alike (a documented stand-in, like
benchmarks/makespan.py's).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import psutil


def storyboard_text(name: str, shots: int, width: int, height: int, frames: int, steps: int) -> str:
    lines = "\n".join(f'  - {{id: s{i:03d}, prompt: "shot {i}: a paper boat drifts down a rainy street", frames: {frames}}}'
                      for i in range(shots))
    return (
        f"version: 1\nname: {name}\nmodel: {{checkpoint: tiny, steps: {steps}}}\n"
        f"output: {{width: {width}, height: {height}, fps: 24}}\ndefaults: {{seed: 11}}\nshots:\n{lines}\n"
    )


def cpu_seconds() -> float:
    """CPU time of this process and its children, live (Prefect's ephemeral server) and finished (ffmpeg)."""
    me = psutil.Process()
    total = sum(me.cpu_times()[:4])  # user, system, and those of the children already waited for
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.Error:  # it ended between listing and asking: waited for, so counted above
            pass
    return total


@contextmanager
def timed() -> Iterator[dict]:
    """Wall and CPU seconds (`cpu_seconds`) of the block, in the dict it yields."""
    result: dict = {}
    cpu, start = cpu_seconds(), time.perf_counter()
    yield result
    result.update(seconds=time.perf_counter() - start, cpu_seconds=cpu_seconds() - cpu)


def install_gpu_stand_in(board: Path, seconds: float) -> None:
    """Generation becomes a sleep of `seconds` a shot, holding the device's lock as a generation does, and returns
    the frames the real model made for that shot once, before timing.

    As on a GPU, the CPU is free while a shot generates: the flow's own work (encoding, its bookkeeping, the film's
    check) can overlap generation instead of competing with it for these cores. What this leaves out is the CPU
    cost of generating, the same for every kind of run.
    """
    from ltx_flows.models import loading
    from ltx_flows.render import generate
    from ltx_flows.plan.planner import plan_storyboard
    from ltx_flows.storyboard.loading import load_storyboard

    real = generate.generate_shot
    made = {}
    for path in (board, board.parent / "warm.yaml"):
        plan = plan_storyboard(load_storyboard(path, board.parent), path)
        pipe = loading.load_pipeline(plan.model)
        for shot in plan.shots:
            if shot.content_hash not in made:
                made[shot.content_hash] = real(pipe, shot, plan.model, plan.output)

    def stand_in(pipe, shot, model, output, *args, **kwargs):
        with loading.MODELS.device_locks[loading.pick_device(model.device)]:
            time.sleep(seconds)
        return made[shot.content_hash]

    generate.generate_shot = stand_in


def bare_loop(board: Path, out: Path) -> dict:
    """The same generation calls and encoding as the flow's shots, with nothing around them."""
    from ltx_flows.models.loading import load_pipeline
    from ltx_flows.render import generate
    from ltx_flows.media.write import write_clip
    from ltx_flows.plan.planner import plan_storyboard
    from ltx_flows.storyboard.loading import load_storyboard

    plan = plan_storyboard(load_storyboard(board, board.parent), board)
    pipe = load_pipeline(plan.model)  # loaded before timing, as the flow's warm-up loaded it
    warm = plan_storyboard(load_storyboard(board.parent / "warm.yaml", board.parent), board.parent / "warm.yaml")
    for shot in warm.shots:  # and one generation and encode untimed, as the flow's warm-up run made them
        clip = generate.generate_shot(pipe, shot, warm.model, warm.output)
        write_clip(clip.frames, out / f"warm-{shot.id}.mp4", fps=warm.output.fps, crf=warm.output.crf)
    with timed() as result:
        for shot in plan.shots:
            clip = generate.generate_shot(pipe, shot, plan.model, plan.output)
            write_clip(clip.frames, out / f"{shot.id}.mp4", fps=plan.output.fps, crf=plan.output.crf)
    return result


def pipeline_loop(board: Path, out: Path) -> dict:
    """The flow's work without Prefect: each shot through the shot cache (its clip, record and checks), one after
    another, then the storyboard's film, review page and manifest, as the flow's tasks call them."""
    from ltx_flows.models.loading import load_pipeline
    from ltx_flows.render.shot import render_shot_cached
    from ltx_flows.finish.film import finish_storyboard
    from ltx_flows.plan.planner import plan_storyboard
    from ltx_flows.storyboard.loading import load_storyboard

    warm = plan_storyboard(load_storyboard(board.parent / "warm.yaml", board.parent), board.parent / "warm.yaml")
    load_pipeline(warm.model)
    for shot in warm.shots:
        render_shot_cached(warm, shot, out / "warm-up", force=False, failed_attempts=[])
    with timed() as result:
        plan = plan_storyboard(load_storyboard(board, board.parent), board)
        film_dir = out / plan.name
        renders = {shot.id: render_shot_cached(plan, shot, film_dir, force=False, failed_attempts=[])
                   for shot in plan.shots}
        finish_storyboard(plan, film_dir, renders)
    return result


def flow_run(board: Path, warm: Path, out: Path) -> dict:
    from ltx_flows.production.flow import render_batch

    render_batch([str(warm)], out=str(out / "warm-up"), root=str(board.parent))
    started = datetime.now(timezone.utc)
    with timed() as result:
        state = render_batch([str(board)], out=str(out), root=str(board.parent), return_state=True)
    if not state.is_completed():
        raise SystemExit(f"the flow failed: {state.message}")
    # After its final state, Prefect's sync engine joins the run's heartbeat thread, which sleeps in one-second
    # steps (prefect/flow_engine.py, _send_heartbeats): the call returns on the next whole second of the run.
    return {**result, "to_final_state": (state.timestamp - started).total_seconds()}


def child(kind: str, work: Path, rep: int, gpu_stand_in: float | None) -> None:
    out = work / f"{kind}-{rep}"
    out.mkdir()
    board = work / "bench.yaml"
    if gpu_stand_in is not None:
        install_gpu_stand_in(board, gpu_stand_in)
    if kind == "bare":
        result = bare_loop(board, out)
    elif kind == "pipeline":
        result = pipeline_loop(board, out)
    else:
        result = flow_run(board, work / "warm.yaml", out)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import ltx_flows  # which checkout this child ran: --before's children run the other one

    print("RESULT=" + json.dumps({**result, "peak_mb": peak, "code": str(Path(ltx_flows.__file__).parent.parent)}))


def measure(kind: str, work: Path, rep: int, before: Path | None = None, gpu_stand_in: float | None = None) -> dict:
    # One intra-op thread for torch in both: on a few shared cores, OpenMP's spinning threads make
    # multi-threaded generation times swing several-fold from one call to the next.
    env = {"OMP_NUM_THREADS": "1", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", **os.environ,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.setdefault("PREFECT_HOME", str(work / "prefect-home"))
    if kind == "flow-before":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(before), env.get("PYTHONPATH")]))
    stand_in = ["--gpu-stand-in", str(gpu_stand_in)] if gpu_stand_in is not None else []
    result = subprocess.run([sys.executable, __file__, "--child", kind, "--work", str(work), "--rep", str(rep), *stand_in],
                            env=env, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return json.loads(next(line[7:] for line in result.stdout.splitlines() if line.startswith("RESULT=")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=6)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--frames", type=int, default=49, help="frames per shot (8n+1)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2, help="bare loops and flow runs, interleaved")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only checks the script works")
    parser.add_argument("--before", type=Path, help="also measure the flow of this other ltx-flows checkout")
    parser.add_argument("--pipeline", action="store_true",
                        help="also measure the flow's work without Prefect (film, review page and manifest included)")
    parser.add_argument("--gpu-stand-in", type=float, metavar="SECONDS",
                        help="generation becomes a sleep of SECONDS a shot (the CPU free while it generates, as on a "
                             "GPU), returning frames the real model made before timing")
    parser.add_argument("--child", choices=["bare", "pipeline", "flow", "flow-before"], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rep", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.work, args.rep, args.gpu_stand_in)
    if args.smoke:
        args.shots, args.width, args.height, args.frames, args.steps, args.repeat = 2, 96, 64, 9, 2, 1

    work = Path(tempfile.mkdtemp(prefix="ltx-flows-bench-"))
    (work / "bench.yaml").write_text(storyboard_text("bench", args.shots, args.width, args.height, args.frames, args.steps))
    (work / "warm.yaml").write_text(storyboard_text("warm", 1, args.width, args.height, args.frames, args.steps))
    print(f"{args.shots} shots of {args.frames} frames at {args.width}x{args.height}, {args.steps} steps, "
          f"tiny checkpoint; in {work}")
    if args.gpu_stand_in is not None:
        print(f"GPU stand-in: each shot's generation is a sleep of {args.gpu_stand_in} s (frames made before timing)")
    results: dict[str, list[dict]] = {"bare": [], **({"pipeline": []} if args.pipeline or args.smoke else {}), "flow": [],
                                      **({"flow-before": []} if args.before else {})}
    for rep in range(args.repeat):  # interleaved: on a shared machine the best of each is the fairest pair
        for kind in results:
            results[kind].append(measure(kind, work, rep, args.before, args.gpu_stand_in))
    for kind, runs in results.items():
        times = " ".join(f"{r['seconds']:.2f}s" for r in runs)
        if kind.startswith("flow"):
            times += " (final state at " + " ".join(f"{r['to_final_state']:.2f}s" for r in runs) + ")"
        cpu = " ".join(f"{r['cpu_seconds']:.1f}s" for r in runs)
        print(f"{kind}: {times}, CPU {cpu}, peak {max(r['peak_mb'] for r in runs):.0f} MB (code in {runs[0]['code']})")
    best = {kind: min(r["seconds"] for r in runs) for kind, runs in results.items()}
    peak = {kind: max(r["peak_mb"] for r in runs) for kind, runs in results.items()}
    median = {kind: statistics.median(r["seconds"] for r in runs) for kind, runs in results.items()}
    cpu = {kind: statistics.median(r["cpu_seconds"] for r in runs) for kind, runs in results.items()}
    print("CPU seconds over the timed part, this process and its children (medians): "
          + ", ".join(f"{kind} {seconds:.1f}" for kind, seconds in cpu.items()))
    for flow in [kind for kind in results if kind != "bare"]:
        print(f"{flow}/bare time (best of {args.repeat} each): {best[flow] / best['bare']:.2f} "
              f"(medians: {median[flow] / median['bare']:.2f})")
        print(f"{flow}/bare peak memory: {peak[flow] / peak['bare']:.2f}")
    final = min(r["to_final_state"] for r in results["flow"])
    print(f"flow/bare to the flow run's final state (best of {args.repeat} each): {final / best['bare']:.2f}: "
          "the same runs without the wait for Prefect's heartbeat thread (0-1 s) before the call returns")
    if "pipeline" in results:
        print(f"flow/pipeline time (best of {args.repeat} each): {best['flow'] / best['pipeline']:.2f} "
              f"(medians: {median['flow'] / median['pipeline']:.2f}): what Prefect adds to the same work")


if __name__ == "__main__":
    main()
