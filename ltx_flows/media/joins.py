"""Joins: how one clip joins the next (a cut or a crossfade), and the ffmpeg filter graph that joins them.

The graph is written as text rather than with ffmpeg-python nodes: ffmpeg-python merges nodes with
identical arguments, so a clip used twice (or two identical filters on it) would collapse into one
broken node.
"""

from dataclasses import dataclass
from typing import Literal

from .audio import audio_samples, fit_audio_filter
from .read import VideoInfo


@dataclass(frozen=True)
class Join:
    """How a clip joins the next one; `frames` is the crossfade length in frames."""

    kind: Literal["cut", "crossfade"]
    frames: int = 0


def filter_graph(
    infos: list[VideoInfo],
    joins: list[Join],
    fps: int,
    trims: list[tuple[int, int]] | None = None,
    video: bool = True,
    first_input: int = 0,
    tag: str = "",
) -> tuple[str, str | None, str | None]:
    """The filter graph that joins every clip, and the labels of its video and sound outputs.

    `trims[i]` = (first frame, end frame) of input i that takes part (its file may already start
    at that frame: see `smart_stitch`); `video=False` makes only the sound (sound always covers
    whole clips); inputs are numbered from `first_input`, and every label starts with `tag` (so several
    graphs can share one ffmpeg run).

    Each input is first put on one timeline (`_video_input`), then the clips are folded left to right,
    each join adding one filter (`_video_join`, `_sound_join`). Sound, when the clips have it, follows
    the same folds, so it stays in sync to the sample.
    """
    with_audio = infos[0].has_audio and trims is None
    lengths = [end - start for start, end in trims] if trims else [info.frames for info in infos]
    parts = []
    for i, info in enumerate(infos):
        if video:
            parts.append(_video_input(f"{first_input + i}:v:0", infos[0], lengths[i], fps, trimmed=bool(trims),
                                      label=f"{tag}v{i}"))
        if with_audio:
            parts.append(f"[{first_input + i}:a:0]{fit_audio_filter(audio_samples(info.frames, fps))}[{tag}a{i}]")

    # Fold the clips left to right: `current` (and `current_audio`) is
    # everything joined so far and `total` its length in frames.
    current, current_audio, total = f"{tag}v0", f"{tag}a0", lengths[0]
    for i, join in enumerate(joins):
        label = f"{tag}j{i + 1}"
        if video:
            parts.append(_video_join(current, f"{tag}v{i + 1}", join, total, fps, label))
            total += lengths[i + 1] - (join.frames if join.kind == "crossfade" else 0)
            current = label
        if with_audio or not video:
            parts.append(_sound_join(current_audio, f"{tag}a{i + 1}", join, fps, f"a{label}"))
            current_audio = f"a{label}"

    return ";".join(parts), current if video else None, current_audio if with_audio else None


def _video_input(stream: str, first: VideoInfo, frames: int, fps: int, trimmed: bool, label: str) -> str:
    """One input's video on the film's timeline: timebase 1/fps and pts = frame index.

    From then on a frame is exactly one tick, so xfade offsets that are computed from frame counts
    land on frame boundaries, and a clip whose file claims another rate is played frame for frame
    at the film's rate.
    """
    if trimmed:
        # A window of identically encoded clips: nothing to fit, and nothing (such as a sample aspect
        # ratio) may reach the encoder that the clips' headers do not have.
        return f"[{stream}]settb=1/{fps},setpts=N,trim=end_frame={frames},setpts=N[{label}]"
    width, height = first.width, first.height
    return (
        f"[{stream}]"
        # Clips of another size are fitted into the first one's, letterboxed.
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p,"
        f"settb=1/{fps},setpts=N"
        f"[{label}]"
    )


def _video_join(current: str, following: str, join: Join, total: int, fps: int, label: str) -> str:
    """`following` joined to `current` (the film so far, `total` frames long)."""
    if join.kind == "crossfade":
        # The fade starts K frames before the end of what we have so far.
        # ffmpeg reads these in microseconds and xfade rounds them to the
        # nearest 1/fps tick, so they land exactly on frame `total - K`.
        offset = (total - join.frames) / fps
        duration = join.frames / fps
        return f"[{current}][{following}]xfade=transition=fade:duration={duration:.9f}:offset={offset:.9f}[{label}]"
    # concat outputs microsecond timestamps, which xfade refuses to mix
    # with 1/fps ones: put the result back on the frame timeline.
    return f"[{current}][{following}]concat=n=2:v=1:a=0,settb=1/{fps},setpts=N[{label}]"


def _sound_join(current: str, following: str, join: Join, fps: int, label: str) -> str:
    """The sound of the same join: each track is exactly as long as its clip's frames (`fit_audio_filter`), so a
    crossfade is an `acrossfade` of the same length and a cut a `concat`."""
    if join.kind == "crossfade":
        return f"[{current}][{following}]acrossfade=ns={audio_samples(join.frames, fps)}:c1=tri:c2=tri[{label}]"
    return f"[{current}][{following}]concat=n=2:v=0:a=1[{label}]"
