"""What the quality checks cost beside the render they check (goal: at most 5 % at the quickstart size).

Renders the quickstart storyboard (storyboards/quickstart.yaml: two 2-second shots at 384x256 with the tiny model)
shot by shot through the shot cache (`render/takes.py render_chosen`, as the flow does), and prints per shot the
render's seconds, the checks' seconds (the decode that proves the clip whole, every check, and OCR) and their
ratio, then the checks again with OCR off, so its share shows, and the CPU time of both (this process's and its
children's: ffmpeg, tesseract; wall time on a shared machine swings with the load, CPU time much less). The tiny model's picture is
grain, H.264's worst case (about 8 Mbit/s at 384x256), so its decode costs several times what a real picture's
does: the last line checks a clip of a real picture of the same size and length (a slow pan over the quickstart's
keyframe, written by the same writer) beside it.

    PYTHONPATH=$PWD python benchmarks/quality.py            # the quickstart
    PYTHONPATH=$PWD python benchmarks/quality.py --smoke    # one 9-frame shot at 96x64
"""

import argparse
import dataclasses
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from ltx_flows.media.read import fit_image  # noqa: E402
from ltx_flows.media.write import write_clip  # noqa: E402
from ltx_flows.plan.planner import plan_storyboard  # noqa: E402
from ltx_flows.render.quality import check_shot  # noqa: E402
from ltx_flows.render.takes import render_chosen  # noqa: E402
from ltx_flows.storyboard.loading import load_storyboard  # noqa: E402

SMOKE = """version: 1
name: smoke
model: {checkpoint: tiny, steps: 2}
output: {width: 96, height: 64, fps: 24}
shots:
  - {id: one, prompt: "a paper boat on a rainy street", frames: 9}
"""


def cpu_seconds() -> float:
    """CPU time of this process and of the children it has waited for (tesseract)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_checks(plan, shot, clip: Path) -> tuple[float, float]:
    """The checks of one clip: (wall seconds, CPU seconds)."""
    cpu, start = cpu_seconds(), time.perf_counter()
    check_shot(plan, shot, clip)
    return time.perf_counter() - start, cpu_seconds() - cpu


def pan_clip(picture: Path, path: Path, frames: int, width: int, height: int, fps: int) -> Path:
    """A slow pan over a picture: what a real model's clip costs to decode, unlike the tiny model's grain."""
    wide = np.asarray(fit_image(picture, width + frames, height))
    return write_clip(np.stack([wide[:, t:t + width] for t in range(frames)]), path, fps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one tiny shot: proves the script runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        if args.smoke:
            board = folder / "smoke.yaml"
            board.write_text(SMOKE)
        else:
            board = folder / "quickstart.yaml"
            shutil.copy(REPO / "storyboards" / "quickstart.yaml", board)
            shutil.copytree(REPO / "storyboards" / "keyframes", folder / "keyframes")
        plan = plan_storyboard(load_storyboard(board, folder), board)
        film_dir = folder / "renders" / plan.name
        # A warm-up render outside the figures: the first one loads the model.
        render_chosen(plan, plan.shots[0], folder / "warm", force=True, failed_attempts=[])
        totals = {"render": 0.0, "checks": 0.0, "checks_no_ocr": 0.0, "render_cpu": 0.0, "checks_cpu": 0.0}
        print(f"{plan.name}: {len(plan.shots)} shots at {plan.output.width}x{plan.output.height}, model {plan.model.checkpoint}")
        for shot in plan.shots:
            render_cpu = cpu_seconds()
            record = render_chosen(plan, shot, film_dir, force=True, failed_attempts=[])
            render_cpu = cpu_seconds() - render_cpu  # with its checks: taken out below, by their own CPU time
            checks = record["qc"]["seconds"]
            no_ocr = dataclasses.replace(shot.qc, text=None)
            without, _ = timed_checks(plan, shot.model_copy(update={"qc": no_ocr}), film_dir / shot.clip)
            _, cpu = timed_checks(plan, shot, film_dir / shot.clip)
            totals["checks_cpu"] += cpu
            totals["render_cpu"] += render_cpu - cpu
            totals["render"] += record["render_seconds"] - checks  # the render's own time, without its checks
            totals["checks"] += checks
            totals["checks_no_ocr"] += without
            print(f"  {shot.id}: {shot.frames} frames, render {record['render_seconds'] - checks:.2f} s, checks {checks:.3f} s "
                  f"({checks / (record['render_seconds'] - checks):.1%}), without OCR {without:.3f} s; CPU: render {render_cpu - cpu:.2f} s, checks {cpu:.3f} s")
        print(f"total: render {totals['render']:.2f} s, checks {totals['checks']:.3f} s "
              f"= {totals['checks'] / totals['render']:.1%} of the render (goal <= 5%); "
              f"without OCR {totals['checks_no_ocr']:.3f} s = {totals['checks_no_ocr'] / totals['render']:.1%}; "
              f"CPU: render {totals['render_cpu']:.2f} s, checks {totals['checks_cpu']:.3f} s "
              f"= {totals['checks_cpu'] / totals['render_cpu']:.1%}")
        shot = plan.shots[0]
        real = pan_clip(REPO / "storyboards" / "keyframes" / "sunset.png", folder / "pan.mp4", shot.frames,
                        plan.output.width, plan.output.height, plan.output.fps)
        wall, cpu = timed_checks(plan, shot, real)
        per_shot, per_shot_cpu = totals["render"] / len(plan.shots), totals["render_cpu"] / len(plan.shots)
        print(f"a real picture ({shot.frames}-frame pan over a keyframe): checks {wall:.3f} s = {wall / per_shot:.1%} "
              f"of the mean shot render; CPU {cpu:.3f} s = {cpu / per_shot_cpu:.1%} of its CPU")


if __name__ == "__main__":
    main()
