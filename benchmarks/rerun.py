"""What an unchanged re-run costs through the command line, against the first render.

Writes a storyboard of N shots for the tiny offline checkpoint, runs `ltx-flows render` on it
(the first render), then again with nothing changed, each as its own process exactly as a user
types it, and prints both wall times, their ratio and each process's peak resident memory.
With PREFECT_API_URL set the runs report to that server; without it a render that needs
Prefect starts its ephemeral one (its start is part of the time, as it is for a user).

    PYTHONPATH=$PWD python benchmarks/rerun.py               # 2 shots
    PYTHONPATH=$PWD python benchmarks/rerun.py --shots 150   # the 150-shot re-run
    PYTHONPATH=$PWD python benchmarks/rerun.py --shots 150 --through-flow   # and through render-batch itself
    PYTHONPATH=$PWD python benchmarks/rerun.py --smoke       # 1 shot
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Runs the command line in this process's child and reports the child's peak memory on stderr.
_CHILD = """
import resource, sys
from ltx_flows.cli import app
try:
    app(sys.argv[1:])
finally:
    print(f"PEAK_RSS_MB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}", file=sys.stderr)
"""


# An unchanged re-run through the flow itself, as a deployment runs it: Prefect's start (the API's first
# answer; the ephemeral server's start without PREFECT_API_URL) timed apart from the render-batch call.
_THROUGH_FLOW = """
import json, sys, time
start = time.perf_counter()
from ltx_flows.production.flow import render_batch
from prefect.client.orchestration import get_client
imported = time.perf_counter()
with get_client(sync_client=True) as client:
    client.hello()
answered = time.perf_counter()
state = render_batch([sys.argv[1]], out=sys.argv[2], root=sys.argv[3], return_state=True)
assert state.is_completed(), state
shots = set(state.result()["succeeded"][sys.argv[1]]["shots"].values())
print("RESULT=" + json.dumps({"import": imported - start, "prefect_start": answered - imported,
                              "batch": time.perf_counter() - answered, "shots": sorted(shots)}))
"""


def through_flow(board: Path, out: Path, env: dict) -> dict:
    result = subprocess.run([sys.executable, "-c", _THROUGH_FLOW, str(board), str(out), str(board.parent)],
                            env=env, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"the flow failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return json.loads(next(line[7:] for line in result.stdout.splitlines() if line.startswith("RESULT=")))


def storyboard_text(shots: int, frames: int) -> str:
    lines = "\n".join(f'  - {{id: s{i:03d}, prompt: "shot {i}: a paper boat on a rainy street", frames: {frames}}}'
                      for i in range(shots))
    return (
        "version: 1\nname: rerun\nmodel: {checkpoint: tiny, steps: 2}\n"
        f"output: {{width: 96, height: 64, fps: 24}}\ndefaults: {{seed: 5}}\nshots:\n{lines}\n"
    )


def render(board: Path, out: Path, env: dict) -> tuple[float, float]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, "render", str(board), "--out", str(out), "--root", str(board.parent)],
        env=env, capture_output=True, text=True, timeout=3600,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"ltx-flows render failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    peak = next(float(line.split("=")[1]) for line in result.stderr.splitlines() if line.startswith("PEAK_RSS_MB="))
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--frames", type=int, default=9, help="frames per shot (8n+1)")
    parser.add_argument("--repeat", type=int, default=2, help="unchanged re-runs (the best is reported)")
    parser.add_argument("--through-flow", action="store_true",
                        help="also time an unchanged re-run through render-batch itself, as a deployment runs it")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only checks the script works")
    args = parser.parse_args()
    if args.smoke:
        args.shots, args.repeat = 1, 1

    work = Path(tempfile.mkdtemp(prefix="ltx-flows-rerun-"))
    board = work / "rerun.yaml"
    board.write_text(storyboard_text(args.shots, args.frames))
    # A new Prefect database takes longer than Prefect's default 20 s to start on a busy machine.
    env = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", **os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.setdefault("PREFECT_HOME", str(work / "prefect-home"))
    server = "the server at PREFECT_API_URL" if env.get("PREFECT_API_URL") else "Prefect's ephemeral server"
    print(f"{args.shots} shots of {args.frames} frames at 96x64, tiny checkpoint, {server}; in {work}")

    # A throw-away render first: the tiny checkpoint gets built and Prefect's database created,
    # which a user pays once, not per render.
    warm = work / "warm.yaml"
    warm.write_text(storyboard_text(1, 9).replace("name: rerun", "name: warm"))
    render(warm, work / "renders", env)

    first, first_peak = render(board, work / "renders", env)
    again = [render(board, work / "renders", env) for _ in range(args.repeat)]
    best, best_peak = min(again)
    print(f"first render: {first:.2f}s, peak {first_peak:.0f} MB")
    print(f"unchanged re-run: {' '.join(f'{t:.2f}s' for t, _ in again)} (best {best:.2f}s), peak {best_peak:.0f} MB")
    print(f"re-run/first: {best / first:.3f}")
    if args.through_flow or args.smoke:
        flow = through_flow(board, work / "renders", env)
        assert flow["shots"] == ["cached"], flow
        print(f"unchanged re-run through render-batch (as a deployment runs it): import {flow['import']:.2f}s, "
              f"Prefect's start {flow['prefect_start']:.2f}s, then the batch {flow['batch']:.2f}s")


if __name__ == "__main__":
    main()
