"""What the Prefect flow costs over a bare loop: wall time and peak memory, side by side.

Renders a storyboard of N shots with the tiny offline checkpoint through `render-batch`, and makes
the same generation calls in a bare Python loop (same shapes, steps, seeds, same encoding). Each
measurement runs in a fresh process (so peak memory is its own), bare and flow interleaved and
repeated; prints the best time of each, flow/bare, and each one's peak resident memory.

    PYTHONPATH=$PWD python benchmarks/flow_overhead.py                      # 6 shots of 49 frames at 384x256
    PYTHONPATH=$PWD python benchmarks/flow_overhead.py --shots 150 --frames 9 --width 96 --height 64
    PYTHONPATH=$PWD python benchmarks/flow_overhead.py --smoke
    PYTHONPATH=$PWD python benchmarks/flow_overhead.py --before /tmp/old   # also an older checkout's flow, interleaved

`--before DIR` also runs the flow from another checkout of ltx-flows (`git worktree add /tmp/old <commit>`),
interleaved with the two others, so a change's before and after are measured side by side in one run.

Each flow process first renders a throw-away copy (not timed): imports, Prefect's ephemeral server
(or the one at PREFECT_API_URL) and the model load; the bare loop loads the model and makes the same
throw-away shot before timing. Children run with OMP_NUM_THREADS=1 unless it is set.

The bare loop makes only the clips. `--pipeline` adds a third kind: the flow's own work without Prefect (each shot
through the shot cache, then the film, review page and manifest, one after another in one thread), so the flow's
cost splits into the work the bare loop leaves out (pipeline/bare) and what Prefect adds to it (flow/pipeline).
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
from pathlib import Path


def storyboard_text(name: str, shots: int, width: int, height: int, frames: int, steps: int) -> str:
    lines = "\n".join(f'  - {{id: s{i:03d}, prompt: "shot {i}: a paper boat drifts down a rainy street", frames: {frames}}}'
                      for i in range(shots))
    return (
        f"version: 1\nname: {name}\nmodel: {{checkpoint: tiny, steps: {steps}}}\n"
        f"output: {{width: {width}, height: {height}, fps: 24}}\ndefaults: {{seed: 11}}\nshots:\n{lines}\n"
    )


def bare_loop(board: Path, out: Path) -> float:
    """The same generation calls and encoding as the flow's shots, with nothing around them."""
    from ltx_flows import generate
    from ltx_flows.media import write_clip
    from ltx_flows.plan import plan_storyboard
    from ltx_flows.storyboard import load_storyboard

    plan = plan_storyboard(load_storyboard(board, board.parent), board)
    pipe = generate.load_pipeline(plan.model)  # loaded before timing, as the flow's warm-up loaded it
    warm = plan_storyboard(load_storyboard(board.parent / "warm.yaml", board.parent), board.parent / "warm.yaml")
    for shot in warm.shots:  # and one generation and encode untimed, as the flow's warm-up run made them
        clip = generate.generate_shot(pipe, shot, warm.model, warm.output)
        write_clip(clip.frames, out / f"warm-{shot.id}.mp4", fps=warm.output.fps, crf=warm.output.crf)
    start = time.perf_counter()
    for shot in plan.shots:
        clip = generate.generate_shot(pipe, shot, plan.model, plan.output)
        write_clip(clip.frames, out / f"{shot.id}.mp4", fps=plan.output.fps, crf=plan.output.crf)
    return time.perf_counter() - start


def pipeline_loop(board: Path, out: Path) -> float:
    """The flow's work without Prefect: each shot through the shot cache (its clip, record and checks), one after
    another, then the storyboard's film, review page and manifest, as the flow's tasks call them."""
    from ltx_flows import generate
    from ltx_flows.cache import render_shot_cached
    from ltx_flows.finish import finish_storyboard
    from ltx_flows.plan import plan_storyboard
    from ltx_flows.storyboard import load_storyboard

    warm = plan_storyboard(load_storyboard(board.parent / "warm.yaml", board.parent), board.parent / "warm.yaml")
    generate.load_pipeline(warm.model)
    for shot in warm.shots:
        render_shot_cached(warm, shot, out / "warm-up", force=False, failed_attempts=[])
    start = time.perf_counter()
    plan = plan_storyboard(load_storyboard(board, board.parent), board)
    film_dir = out / plan.name
    renders = {shot.id: render_shot_cached(plan, shot, film_dir, force=False, failed_attempts=[]) for shot in plan.shots}
    finish_storyboard(plan, film_dir, renders)
    return time.perf_counter() - start


def flow_run(board: Path, warm: Path, out: Path) -> float:
    from ltx_flows.flow import render_batch

    render_batch([str(warm)], out=str(out / "warm-up"), root=str(board.parent))
    start = time.perf_counter()
    state = render_batch([str(board)], out=str(out), root=str(board.parent), return_state=True)
    seconds = time.perf_counter() - start
    if not state.is_completed():
        raise SystemExit(f"the flow failed: {state.message}")
    return seconds


def child(kind: str, work: Path, rep: int) -> None:
    out = work / f"{kind}-{rep}"
    out.mkdir()
    board = work / "bench.yaml"
    if kind == "bare":
        seconds = bare_loop(board, out)
    elif kind == "pipeline":
        seconds = pipeline_loop(board, out)
    else:
        seconds = flow_run(board, work / "warm.yaml", out)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import ltx_flows  # which checkout this child ran: --before's children run the other one

    print("RESULT=" + json.dumps({"seconds": seconds, "peak_mb": peak, "code": str(Path(ltx_flows.__file__).parent.parent)}))


def measure(kind: str, work: Path, rep: int, before: Path | None = None) -> dict:
    # One intra-op thread for torch in both: on a few shared cores, OpenMP's spinning threads make
    # multi-threaded generation times swing several-fold from one call to the next.
    env = {"OMP_NUM_THREADS": "1", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", **os.environ,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.setdefault("PREFECT_HOME", str(work / "prefect-home"))
    if kind == "flow-before":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(before), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, __file__, "--child", kind, "--work", str(work), "--rep", str(rep)],
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
    parser.add_argument("--child", choices=["bare", "pipeline", "flow", "flow-before"], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rep", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.work, args.rep)
    if args.smoke:
        args.shots, args.width, args.height, args.frames, args.steps, args.repeat = 2, 96, 64, 9, 2, 1

    work = Path(tempfile.mkdtemp(prefix="ltx-flows-bench-"))
    (work / "bench.yaml").write_text(storyboard_text("bench", args.shots, args.width, args.height, args.frames, args.steps))
    (work / "warm.yaml").write_text(storyboard_text("warm", 1, args.width, args.height, args.frames, args.steps))
    print(f"{args.shots} shots of {args.frames} frames at {args.width}x{args.height}, {args.steps} steps, "
          f"tiny checkpoint; in {work}")
    results: dict[str, list[dict]] = {"bare": [], **({"pipeline": []} if args.pipeline or args.smoke else {}), "flow": [],
                                      **({"flow-before": []} if args.before else {})}
    for rep in range(args.repeat):  # interleaved: on a shared machine the best of each is the fairest pair
        for kind in results:
            results[kind].append(measure(kind, work, rep, args.before))
    for kind, runs in results.items():
        times = " ".join(f"{r['seconds']:.2f}s" for r in runs)
        print(f"{kind}: {times}, peak {max(r['peak_mb'] for r in runs):.0f} MB (code in {runs[0]['code']})")
    best = {kind: min(r["seconds"] for r in runs) for kind, runs in results.items()}
    peak = {kind: max(r["peak_mb"] for r in runs) for kind, runs in results.items()}
    median = {kind: statistics.median(r["seconds"] for r in runs) for kind, runs in results.items()}
    for flow in [kind for kind in results if kind != "bare"]:
        print(f"{flow}/bare time (best of {args.repeat} each): {best[flow] / best['bare']:.2f} "
              f"(medians: {median[flow] / median['bare']:.2f})")
        print(f"{flow}/bare peak memory: {peak[flow] / peak['bare']:.2f}")
    if "pipeline" in results:
        print(f"flow/pipeline time (best of {args.repeat} each): {best['flow'] / best['pipeline']:.2f} "
              f"(medians: {median['flow'] / median['pipeline']:.2f}): what Prefect adds to the same work")


if __name__ == "__main__":
    main()
