"""Versions: what V variants that share K unique shots cost against rendering the K shots once, and what a
deliverable's finishing pass (crop, scale, logo, end card and legal line composited, profile encode and its check)
costs against one plain encode of the film.

Both renders go through the flow (`render-batch`) in this process on the tiny offline checkpoint, after a warm-up
render that loads the model and starts Prefect (its ephemeral server without PREFECT_API_URL). The V variants
differ only in a variable no shot uses, so every one of their shots has a twin in each other variant: the batch
renders K shots and copies the rest (goal: <= 1.05x the K shots alone).

    PYTHONPATH=$PWD python benchmarks/versions.py            # K=4 shots, V=8 variants, 256x160
    PYTHONPATH=$PWD python benchmarks/versions.py --smoke    # K=2, V=2, 64x64
"""

import argparse
import os
import tempfile
import time
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


def render(board: Path, out: Path) -> tuple[float, dict]:
    from ltx_flows.production.flow import render_batch

    start = time.perf_counter()
    state = render_batch([str(board)], out=str(out), root=str(board.parent), return_state=True)
    seconds = time.perf_counter() - start
    assert state.is_completed(), state
    return seconds, state.result()["succeeded"][str(board)]


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
    parser.add_argument("--smoke", action="store_true", help="K=2 shots, V=2 variants, 64x64")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # nothing leaves the machine
    shots, variants, width, height, frames = (2, 2, 64, 64, 9) if args.smoke else (args.shots, args.variants, 256, 160, 17)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name, count in (("warm", 0), ("once", 0), ("versions", variants)):
            (folder / f"{name}.yaml").write_text(storyboard_text(name, 1 if name == "warm" else shots, count, width,
                                                                 height, frames))
        render(folder / "warm.yaml", folder / "renders")  # loads the model and starts Prefect
        once, _ = render(folder / "once.yaml", folder / "renders")
        both, summary = render(folder / "versions.yaml", folder / "renders")
        print(f"K={shots} shots once: {once:.2f}s | V={variants} variants sharing them: {both:.2f}s "
              f"(generated {summary['generated']}, reused {summary['reused']}) | ratio {both / once:.2f}x (goal <= 1.05x)")
        film = folder / "renders" / "once" / "once.mp4"
        finish, plain, scaled = finishing(film, folder, width, height, repeats=3)
        print(f"finishing pass (9:16 crop + 3 overlays + profile + check): {finish:.3f}s | one plain encode of the "
              f"film: {plain:.3f}s (ratio {finish / plain:.2f}x) | a plain scale to 9:16: {scaled:.3f}s "
              f"(ratio {finish / scaled:.2f}x)")


if __name__ == "__main__":
    main()
