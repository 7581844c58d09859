"""What the Prefect flow costs over a bare loop, and what re-runs save.

Renders a 6-shot storyboard with the tiny offline checkpoint through `render-batch`, and makes
the same generation calls in a bare Python loop (same shapes, steps, seeds, same encoding).
Prints the flow/bare wall-time ratio, model loads per worker, an unchanged re-run's time as a
fraction of the first run, and how many generation calls a re-run makes after one shot is edited.

    python benchmarks/flow_overhead.py                 # shots in this process
    python benchmarks/flow_overhead.py --workers 2     # shots on 2 local Dask render workers

Without PREFECT_API_URL, Prefect starts its ephemeral server (warmed up before timing).
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from ltx_flows import generate  # noqa: E402
from ltx_flows.flow import render_batch  # noqa: E402
from ltx_flows.media import write_clip  # noqa: E402
from ltx_flows.plan import plan_storyboard  # noqa: E402
from ltx_flows.storyboard import load_storyboard  # noqa: E402

SHOTS = 6


def storyboard_text(width: int, height: int, frames: int, steps: int, last_prompt: str) -> str:
    prompts = [f"shot {i}: a paper boat drifts down a rainy street, take {i}" for i in range(SHOTS - 1)] + [last_prompt]
    shots = "\n".join(f'  - {{id: s{i}, prompt: "{prompt}", frames: {frames}}}' for i, prompt in enumerate(prompts))
    return (
        f"version: 1\nname: bench\nmodel: {{checkpoint: tiny, steps: {steps}}}\n"
        f"output: {{width: {width}, height: {height}, fps: 24}}\ndefaults: {{seed: 11}}\nshots:\n{shots}\n"
    )


def bare_loop(board: Path, out: Path) -> float:
    """The same generation calls and encoding as the flow's shots, with nothing around them."""
    plan = plan_storyboard(load_storyboard(board, board.parent), board)
    pipe = generate.load_pipeline(plan.model)  # loaded before timing, as the flow's warm-up loaded it
    start = time.perf_counter()
    for shot in plan.shots:
        frames = generate.generate_shot(pipe, shot, plan.model, plan.output)
        write_clip(frames, out / f"{shot.id}.mp4", fps=plan.output.fps, crf=plan.output.crf)
    return time.perf_counter() - start


def timed_batch(board: Path, out: Path, cluster: str | None) -> tuple[float, dict]:
    start = time.perf_counter()
    state = render_batch([str(board)], out=str(out), root=str(board.parent), cluster=cluster, return_state=True)
    seconds = time.perf_counter() - start
    if not state.is_completed():
        raise SystemExit(f"the flow failed: {state.message}")
    return seconds, state.result()["succeeded"][str(board)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--frames", type=int, default=49, help="frames per shot (8n+1)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--workers", type=int, default=0, help="local Dask render workers; 0 renders in this process")
    parser.add_argument("--repeat", type=int, default=2, help="timed bare loops and first flow runs, interleaved")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ltx-flows-bench-"))
    board = work / "bench.yaml"
    text = storyboard_text(args.width, args.height, args.frames, args.steps, "shot 5: the boat reaches a drain")
    board.write_text(text)
    print(f"{SHOTS} shots of {args.frames} frames at {args.width}x{args.height}, {args.steps} steps, tiny checkpoint; in {work}")

    cluster_context = None
    cluster = None
    if args.workers:
        from distributed import Client

        from ltx_flows.checkpoints import ensure_tiny_checkpoint
        from ltx_flows.cluster import local_gpu_cluster

        ensure_tiny_checkpoint()  # built once here, not raced for by the workers
        cluster_context = local_gpu_cluster([str(i) for i in range(args.workers)])
        cluster = cluster_context.__enter__().scheduler_address
        client = Client(cluster)

        def per_worker(events: str) -> dict:
            return {worker: count for worker, count in client.run(lambda: len(getattr(generate, events))).items()}
    else:
        def per_worker(events: str) -> dict:
            return {f"this process ({os.getpid()})": len(getattr(generate, events))}

    try:
        # Warm-up, not timed: Prefect's server, imports, and a model load in every worker.
        warm_seconds, _ = timed_batch(board, work / "warm-up", cluster)
        print(f"warm-up run (server start, imports, model loads): {warm_seconds:.1f}s")

        # Interleaved and repeated: on a shared machine the best of each is the fairest pair.
        bare, flow = [], []
        for rep in range(args.repeat):
            (work / f"bare-{rep}").mkdir()
            bare.append(bare_loop(board, work / f"bare-{rep}"))
            flow.append(timed_batch(board, work / f"renders-{rep}", cluster)[0])
        first = min(flow)
        print(f"bare loop: {' '.join(f'{t:.2f}s' for t in bare)}   flow, first run: {' '.join(f'{t:.2f}s' for t in flow)}")
        print(f"flow/bare (best of {args.repeat} each): {first / min(bare):.2f}")

        renders = work / f"renders-{args.repeat - 1}"
        again, result = timed_batch(board, renders, cluster)
        assert set(result["shots"].values()) == {"cached"}, result
        print(f"unchanged re-run: {again:.2f}s = {again / first:.2f} of a first run ({first:.2f}s)")

        board.write_text(text.replace("shot 5: the boat reaches a drain", "shot 5: the boat sails into the sea"))
        calls = sum(per_worker("generation_events").values())
        edited, result = timed_batch(board, renders, cluster)
        calls = sum(per_worker("generation_events").values()) - calls
        rendered = sorted(shot for shot, status in result["shots"].items() if status == "rendered")
        print(f"re-run after editing one shot: {calls} generation call(s) (rendered: {', '.join(rendered)}), {edited:.2f}s")
        print(f"model loads per worker, over all runs: {per_worker('load_events')}")
    finally:
        if cluster_context is not None:
            client.close()
            cluster_context.__exit__(None, None, None)


if __name__ == "__main__":
    main()
