"""Versions: what V variants that share K unique shots cost against rendering the K shots once, and what a
deliverable's finishing pass (crop, scale, logo, end card and legal line composited, profile encode and its check)
costs against one plain encode of the film.

Both renders go through the flow (`render-batch`) in this process on the tiny offline checkpoint, after a warm-up
render that loads the model and starts Prefect (its ephemeral server without PREFECT_API_URL). The V variants
differ only in a variable no shot uses, so every one of their shots has a twin in each other variant: the batch
renders K shots and copies the rest (goal: <= 1.05x the K shots alone). A second line splits both runs, from the
flows' own task runs, into shot rendering and per-film finishing (every film is still stitched, decoded or proven
byte for byte a decoded one, manifested and reviewed on its own), so a reader sees where the ratio comes from.

    PYTHONPATH=$PWD python benchmarks/versions.py            # K=4 shots, V=8 variants, 256x160, best of 2
    PYTHONPATH=$PWD python benchmarks/versions.py --smoke    # K=2, V=2, 64x64, one round
"""

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image


def storyboard_text(name: str, shots: int, variants: int, width: int, height: int, frames: int) -> str:
    lines = [f"version: 1\nname: {name}\nmodel: {{checkpoint: tiny, steps: 2}}\n"
             f"output: {{width: {width}, height: {height}, fps: 24}}\ndefaults: {{seed: 5}}\n"]
    if variants:
        lines.append("variants:\n" + "".join(f"  - {{name: v{i}, vars: {{market: m{i}}}}}\n" for i in range(variants)))
    lines.append("shots:\n" + "".join(f"  - {{id: s{i}, prompt: \"shot {i} of a red ball\", frames: {frames}}}\n"
                                      for i in range(shots)))
    return "".join(lines)


@dataclass(frozen=True)
class Batch:
    """One `render-batch` run: its wall time and, from the flow's own task runs (Prefect's records), how it split."""

    seconds: float  # the whole call, as a user waits for it
    shots: float  # the flow's start until its last shot task ended: planning and shot rendering (copies included)
    finishing: float  # from then to the flow's end: each film's stitch, check, manifest, review page, artifacts
    stitches: int  # stitch task runs (one per film)
    stitching: float  # their run time added up (they may overlap each other, not the shots' phase's end)
    summary: dict  # the storyboard's `render --json` entry


def render(board: Path, out: Path) -> Batch:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from ltx_flows.production.flow import render_batch

    start = time.perf_counter()
    state = render_batch([str(board)], out=str(out), root=str(board.parent), return_state=True)
    seconds = time.perf_counter() - start
    assert state.is_completed(), state
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    shots = [run for run in runs if run.name.startswith("shot-")]
    stitches = [run for run in runs if run.name.startswith("stitch-")]
    shots_end = max((run.end_time for run in shots), default=flow_run.start_time)
    return Batch(seconds=seconds, shots=(shots_end - flow_run.start_time).total_seconds(),
                 finishing=(flow_run.end_time - shots_end).total_seconds(), stitches=len(stitches),
                 stitching=sum(run.total_run_time.total_seconds() for run in stitches),
                 summary=state.result()["succeeded"][str(board)])


def finishing(film: Path, folder: Path, width: int, height: int, repeats: int) -> tuple[float, float, float]:
    """Seconds of one 9:16 deliverable's finishing pass, of one plain encode of the film (same profile, its own
    size) and of a plain scale to the deliverable's size: best of `repeats` each."""
    from ltx_flows.media.delivery import CropAt, Delivery, deliver
    from ltx_flows.media.ffmpeg import run_ffmpeg
    from ltx_flows.media.overlays import SafeArea, end_card_layer, legal_layer, logo_layer
    from ltx_flows.media.profiles import PROFILES
    from ltx_flows.media.ffmpeg import options_to_args

    story_w = max(2, round(height * 9 / 16) // 2 * 2)
    Image.new("RGBA", (min(24, story_w // 2), 8), (255, 0, 0, 255)).save(folder / "logo.png")
    area = SafeArea(width=story_w, height=height, fraction=0.9)
    layers = [end_card_layer(folder / "card.png", area, "#202020", None, "in stores now", start=0.2),
              logo_layer(folder / "logo.png", folder / "l.png", area, "top-right", 2, 0.9, 0.0, None),
              legal_layer(folder / "legal.png", area, "Terms apply", 8)]
    delivery = Delivery(width=story_w, height=height, fps=24, profile="social-vertical", crop_width=story_w,
                        crop_height=height, crops=[CropAt(0, 0, 0), CropAt(9, width - story_w, 0)], overlays=layers)
    finish, plain, scaled = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        deliver(film, folder / "story.mp4", delivery)
        finish.append(time.perf_counter() - start)
        start = time.perf_counter()
        out = folder / "plain.mp4"
        run_ffmpeg(["-i", str(film), *options_to_args(PROFILES["social-vertical"].video), str(out)], out)
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        run_ffmpeg(["-i", str(film), "-vf", f"scale={story_w}:{height}",
                    *options_to_args(PROFILES["social-vertical"].video), str(out)], out)
        scaled.append(time.perf_counter() - start)
    return min(finish), min(plain), min(scaled)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--variants", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="rounds of both renders (order alternating)")
    parser.add_argument("--smoke", action="store_true", help="K=2 shots, V=2 variants, 64x64, one round")
    args = parser.parse_args()
    repeats = 1 if args.smoke else max(1, args.repeats)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # nothing leaves the machine
    shots, variants, width, height, frames = (2, 2, 64, 64, 9) if args.smoke else (args.shots, args.variants, 256, 160, 17)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name, count in (("warm", 0), ("once", 0), ("versions", variants)):
            (folder / f"{name}.yaml").write_text(storyboard_text(name, 1 if name == "warm" else shots, count, width,
                                                                 height, frames))
        render(folder / "warm.yaml", folder / "renders")  # loads the model and starts Prefect
        # Each round in a fresh folder (nothing cached), the order swapped every round: in one order the first render
        # after the warm-up was the slower (the variants' shot rendering read 0.85-0.88x the K shots' own in three
        # runs here, for the same 4 shots), which favoured whichever came second. The best of each is compared.
        runs: dict[str, list[Batch]] = {"once": [], "versions": []}
        for round_ in range(repeats):
            for name in ("once", "versions") if round_ % 2 == 0 else ("versions", "once"):
                runs[name].append(render(folder / f"{name}.yaml", folder / f"renders-{round_}"))
        once, both = (min(runs[name], key=lambda batch: batch.seconds) for name in ("once", "versions"))
        print(f"K={shots} shots once: {once.seconds:.2f}s | V={variants} variants sharing them: {both.seconds:.2f}s "
              f"(generated {both.summary['generated']}, reused {both.summary['reused']}) | "
              f"ratio {both.seconds / once.seconds:.2f}x (goal <= 1.05x; best of {repeats}, order alternating)")
        # Where the time goes, from the flows' own task runs: shot rendering (the flow's start to its last shot's
        # end) and each film's finishing (from there to the flow's end), with the stitch tasks' run time.
        print(f"split | shot rendering: {once.shots:.2f}s once, {both.shots:.2f}s for the variants "
              f"(ratio {both.shots / once.shots:.2f}x) | per-film finishing: {once.finishing:.2f}s for 1 film, "
              f"{both.finishing:.2f}s for {both.stitches} films ({both.finishing / both.stitches:.3f}s a film; "
              f"ratio {both.finishing / once.finishing:.2f}x) | stitch tasks: {once.stitching:.2f}s, "
              f"{both.stitching:.2f}s ({both.stitching / both.stitches:.3f}s a film)")
        film = folder / "renders-0" / "once" / "once.mp4"
        finish, plain, scaled = finishing(film, folder, width, height, repeats=3)
        print(f"finishing pass (9:16 crop + 3 overlays + profile + check): {finish:.3f}s | one plain encode of the "
              f"film: {plain:.3f}s (ratio {finish / plain:.2f}x) | a plain scale to 9:16: {scaled:.3f}s "
              f"(ratio {finish / scaled:.2f}x)")


if __name__ == "__main__":
    main()
