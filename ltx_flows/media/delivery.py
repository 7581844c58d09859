"""One deliverable's file in one encode pass: the film cropped around each shot's focus (or taken as it is),
scaled to the deliverable's size, at its frame rate, cut at its length cap, overlays composited on top, captions
burned in over them, encoded with its profile (media/profiles.py), then checked against it (and its loudness
measured, for a film with a loudness target)."""

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..files import write_atomic
from .burned_captions import BurnedCaptions
from .ffmpeg import options_to_args, run_ffmpeg
from .loudness import loudness_problem, measure_loudness
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
    captions: BurnedCaptions | None = None  # drawn over the overlays
    loudness: float | None = None  # the film's target (LUFS): the delivered file is measured against it
    true_peak: float = -1.0  # ... and its ceiling (dBTP)


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
    if delivery.captions is not None:  # in film time: the crop, frame rate and length cap change none of it
        graph, label = f"{graph};[{label}]{delivery.captions.filter()}[captioned]", "captioned"
    return f"{graph};[{label}]format=yuv420p[out]", "out"


def deliver(film: Path, out: Path, delivery: Delivery) -> ProfileCheck:
    """Encode `film` as `delivery` into `out` (atomically), in one pass; returns the check of the file written.
    A file that does not meet its profile raises RuntimeError saying how (and is not left in place)."""
    profile = PROFILES[delivery.profile]
    info = probe(film)
    seconds = info.duration if delivery.max_seconds is None else min(info.duration, delivery.max_seconds)
    # Absolute paths: with burned captions ffmpeg runs in their folder.
    inputs = ["-i", str(Path(film).resolve())]
    for layer in delivery.overlays:
        inputs += ["-loop", "1", "-framerate", str(delivery.fps), "-i", str(layer.image.resolve())]
    graph, label = delivery_graph(delivery, first_overlay_input=1)
    sound = ["-map", "0:a:0", *options_to_args(profile.audio)] if info.has_audio else ["-an"]
    checked: list[ProfileCheck] = []

    def encode(partial: Path) -> None:
        run_ffmpeg([*inputs, "-filter_complex", graph, "-map", f"[{label}]", *sound, "-t", f"{seconds:.6f}",
                    *options_to_args({**profile.video, "r": delivery.fps}), str(Path(partial).resolve())], partial,
                   cwd=delivery.captions.script.parent if delivery.captions else None)
        frames = round(seconds * delivery.fps)
        check = check_delivery(partial, profile, delivery.width, delivery.height, delivery.fps,
                               frames / delivery.fps, info.has_audio)
        if delivery.loudness is not None and info.has_audio:
            check = _with_loudness(check, partial, delivery.loudness, delivery.true_peak)
        if not check.ok:
            raise RuntimeError(f"{out.name} does not meet profile {profile.name}: {'; '.join(check.problems)}")
        checked.append(check)

    write_atomic(out, encode)
    return checked[0]


def _with_loudness(check: ProfileCheck, path: Path, target: float, true_peak: float) -> ProfileCheck:
    """`check` with the delivered file's loudness (media/loudness.py's measurement) and, like the film's, a problem
    when it is more than the tolerance off its target or above the ceiling."""
    measured = measure_loudness(path)
    problem = loudness_problem(measured, target, true_peak)
    problems = [*check.problems, f"the sound {problem}"] if problem else check.problems
    return replace(check, ok=check.ok and problem is None, problems=problems,
                   loudness={"target": target, "true_peak_ceiling": true_peak, **measured.record()})
