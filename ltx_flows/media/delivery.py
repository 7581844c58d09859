"""One deliverable's file in one encode pass: the film cropped around each shot's focus (or taken as it is),
scaled to the deliverable's size, at its frame rate, cut at its length cap, overlays composited on top, encoded
with its profile (media/profiles.py), then checked against it."""

from dataclasses import dataclass, field
from pathlib import Path

from ..files import write_atomic
from .ffmpeg import options_to_args, run_ffmpeg
from .overlays import OverlayLayer, overlay_filters
from .profiles import PROFILES, ProfileCheck, check_delivery
from .read import probe


@dataclass(frozen=True)
class CropAt:
    """From film frame `start` on, the crop window's top-left corner."""

    start: int
    x: int
    y: int


@dataclass(frozen=True)
class Delivery:
    """What one deliverable's file is made of."""

    width: int
    height: int
    fps: int
    profile: str
    max_seconds: float | None = None
    crop_width: int | None = None  # None: the whole frame, scaled
    crop_height: int | None = None
    crops: list[CropAt] = field(default_factory=list)
    overlays: list[OverlayLayer] = field(default_factory=list)


def _by_frame(values: list[tuple[int, int]]) -> str:
    """An ffmpeg expression of the input frame number `n`: the value of the last window started by then."""
    expression = str(values[-1][1])
    for index in range(len(values) - 2, -1, -1):
        following, value = values[index + 1][0], values[index][1]
        expression = f"if(lt(n\\,{following})\\,{value}\\,{expression})"
    return expression


def delivery_graph(delivery: Delivery, first_overlay_input: int) -> tuple[str, str]:
    """The filter graph from input 0's picture (and the overlay inputs from `first_overlay_input` on) to the
    delivered picture: (graph, its output label)."""
    steps = []
    if delivery.crop_width is not None and delivery.crops:
        x = _by_frame([(c.start, c.x) for c in delivery.crops])
        y = _by_frame([(c.start, c.y) for c in delivery.crops])
        steps.append(f"crop={delivery.crop_width}:{delivery.crop_height}:{x}:{y}")
    steps += [f"scale={delivery.width}:{delivery.height}:flags=lanczos", "setsar=1", f"fps={delivery.fps}"]
    graph = f"[0:v]{','.join(steps)}[base]"
    overlays, label = overlay_filters(delivery.overlays, "base", first_overlay_input)
    graph = ";".join([graph, *overlays])
    return f"{graph};[{label}]format=yuv420p[out]", "out"


def deliver(film: Path, out: Path, delivery: Delivery) -> ProfileCheck:
    """Encode `film` as `delivery` into `out` (atomically), in one pass; returns the check of the file written.
    A file that does not meet its profile raises RuntimeError saying how (and is not left in place)."""
    profile = PROFILES[delivery.profile]
    info = probe(film)
    seconds = info.duration if delivery.max_seconds is None else min(info.duration, delivery.max_seconds)
    inputs = ["-i", str(film)]
    for layer in delivery.overlays:
        inputs += ["-loop", "1", "-framerate", str(delivery.fps), "-i", str(layer.image)]
    graph, label = delivery_graph(delivery, first_overlay_input=1)
    sound = ["-map", "0:a:0", *options_to_args(profile.audio)] if info.has_audio else ["-an"]
    checked: list[ProfileCheck] = []

    def encode(partial: Path) -> None:
        run_ffmpeg([*inputs, "-filter_complex", graph, "-map", f"[{label}]", *sound, "-t", f"{seconds:.6f}",
                    *options_to_args({**profile.video, "r": delivery.fps}), str(partial)], partial)
        frames = round(seconds * delivery.fps)
        check = check_delivery(partial, profile, delivery.width, delivery.height, delivery.fps,
                               frames / delivery.fps, info.has_audio)
        if not check.ok:
            raise RuntimeError(f"{out.name} does not meet profile {profile.name}: {'; '.join(check.problems)}")
        checked.append(check)

    write_atomic(out, encode)
    return checked[0]
