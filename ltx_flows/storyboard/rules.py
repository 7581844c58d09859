"""The rules between fields of a storyboard: unique shot ids, one length a shot, keyframes, long-take segments,
retake windows and transitions that fit their shots. Each returns (location, message) pairs; loading locates them."""

import math
from typing import Any

from pydantic import ValidationError

from .frames import (
    DEFAULT_MAX_SEGMENTS,
    DEFAULT_SEGMENT_FRAMES,
    DEFAULT_SEGMENT_OVERLAP,
    MAX_WINDOW_FRAMES,
    TEMPORAL_COMPRESSION,
    resolve_position,
    retake_layout,
    seconds_to_frames,
    segment_count,
    snap_frames,
    split_take,
)
from .models import BOTH_LENGTHS, OutputConfig, Segments, Shot
from .problems import Loc, safe
from .voice import check_voice

# Keyframes a shot may pin (and never more than one a frame): each conditions the render.
MAX_KEYFRAMES = 1000


def partial_output(data: dict) -> tuple[int | None, str, int]:
    """fps, family and max_segments from a storyboard that failed validation, where they are usable."""
    output, model = data.get("output"), data.get("model")
    fps = output.get("fps", OutputConfig.model_fields["fps"].default) if isinstance(output, dict) else 24
    if isinstance(fps, bool) or not isinstance(fps, int) or fps < 1:
        fps = None
    family = model.get("family", "ltxv") if isinstance(model, dict) else "ltxv"
    max_segments = model.get("max_segments", DEFAULT_MAX_SEGMENTS) if isinstance(model, dict) else DEFAULT_MAX_SEGMENTS
    if isinstance(max_segments, bool) or not isinstance(max_segments, int) or max_segments < 1:
        max_segments = DEFAULT_MAX_SEGMENTS
    return fps, family if family in MAX_WINDOW_FRAMES else "ltxv", max_segments


def valid_shots(raw_shots: list, context: dict) -> list[tuple[int, Shot]]:
    shots = []
    for index, raw in enumerate(raw_shots):
        try:
            shots.append((index, Shot.model_validate(raw, context=context)))
        except ValidationError:
            pass  # already reported by the full validation
    return shots


def both_lengths(raw_shots: list) -> list[tuple[Loc, str]]:
    """Shots with both `duration` and `frames`, at the second of the two (on the raw shots, so other mistakes of the
    shot do not hide it)."""
    problems = []
    for index, raw in enumerate(raw_shots):
        if isinstance(raw, dict) and "duration" in raw and "frames" in raw:
            second = [key for key in raw if key in ("duration", "frames")][-1]
            problems.append((("shots", index, second), BOTH_LENGTHS))
    return problems


def duplicate_ids(raw_shots: list) -> list[tuple[Loc, str]]:
    # On the raw shots, so a duplicate is reported even when one of the pair has other errors.
    problems, first_seen = [], {}
    for index, raw in enumerate(raw_shots):
        shot_id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(shot_id, str):
            continue
        if shot_id in first_seen:
            problems.append(
                (("shots", index, "id"), f"duplicate shot id `{safe(shot_id)}` (also shots[{first_seen[shot_id]}]); ids must be unique")
            )
        first_seen.setdefault(shot_id, index)
    return problems


def cross_check(
    shots: list[tuple[int, Shot]], shot_count: int, fps: int | None, family: str, max_segments: int
) -> list[tuple[Loc, str]]:
    """Rules that span fields: frame bounds, long-take segments and transitions that fit their shots."""
    problems: list[tuple[Loc, str]] = []
    if fps is None:
        return problems

    frames_by_index = {index: snap_frames(shot.requested_frames(fps)) for index, shot in shots}
    shots_by_index = dict(shots)
    for index, shot in shots:
        frames = frames_by_index[index]
        voiced = check_voice(index, shot, frames, fps, family, longest_take(family, max_segments))
        # A line too long for its shot says so itself; its segments would only repeat it.
        problems += voiced or _check_segments(index, shot, frames, fps, family, max_segments)
        problems += _check_retakes(index, shot, frames, fps, family)
        problems += _check_keyframes(index, shot, frames, fps)
        if shot.transition.kind == "crossfade":
            problems += _check_crossfade(index, shot, frames, fps, shot_count,
                                         next_frames=frames_by_index.get(index + 1, frames),
                                         previous=shots_by_index.get(index - 1))
    return problems


def longest_take(family: str, max_segments: int) -> int:
    """The most frames one shot may last: `max_segments` default segments chained."""
    stride = DEFAULT_SEGMENT_FRAMES[family] - DEFAULT_SEGMENT_OVERLAP[family]
    return max(MAX_WINDOW_FRAMES[family], max_segments * stride + DEFAULT_SEGMENT_OVERLAP[family])


def _check_keyframes(index: int, shot: Shot, frames: int, fps: int) -> list[tuple[Loc, str]]:
    """A shot's keyframes: not more than it has frames (or MAX_KEYFRAMES), each on one of its frames."""
    problems: list[tuple[Loc, str]] = []
    most = min(frames, MAX_KEYFRAMES)
    if len(shot.keyframes) > most:
        # Every keyframe conditions the render: thousands on a short shot validate in a second and never render.
        return [(("shots", index, "keyframes"),
                 f"{len(shot.keyframes)} keyframes on a {frames}-frame shot: give at most {most} (one a "
                 f"frame, at most {MAX_KEYFRAMES} a shot); remove some, or lengthen the shot")]
    for k, keyframe in enumerate(shot.keyframes):
        position = resolve_position(keyframe.at, fps, frames)
        if position > frames - 1:
            problems.append((("shots", index, "keyframes", k, "at"),
                             f"{_as_written(keyframe.at, position)} is past the shot's last frame"
                             f"{_last_frame(keyframe.at, frames, fps)}"))
    return problems


def _check_crossfade(
    index: int, shot: Shot, frames: int, fps: int, shot_count: int, next_frames: int, previous: Shot | None
) -> list[tuple[Loc, str]]:
    """A crossfade out of a shot: into a next shot, at least a frame long, shorter than both shots it joins, and not
    overlapping the crossfade into the shot."""
    loc = ("shots", index, "transition")
    fade = seconds_to_frames(shot.transition.seconds, fps)
    if index == shot_count - 1:
        return [(loc, "the last shot has no next shot to crossfade into; use `cut` or remove `transition`")]
    if fade < 1:
        return [(loc, f"a {shot.transition.seconds}s crossfade is less than one frame at {fps} fps")]
    fade_in = (seconds_to_frames(previous.transition.seconds, fps)
               if previous is not None and previous.transition.kind == "crossfade" else 0)
    if fade < min(frames, next_frames) and 0 < fade_in < frames and fade_in + fade > frames:
        # Each crossfade fits on its own, but the one in and the one out overlap inside this shot;
        # stitching would fail after every shot had rendered.
        room = math.floor((frames - fade_in) / fps * 100) / 100  # seconds left for the fade out
        return [(loc, f"the crossfade into this shot ({fade_in} frames) and this "
                      f"{shot.transition.seconds:g}s crossfade out of it ({fade} frames at {fps} fps) "
                      f"overlap inside its {frames} frames: together they may take at most {frames} "
                      f"frames; shorten a crossfade (here at most {{crossfade: {room:g}}}) or lengthen "
                      "the shot")]
    if fade >= min(frames, next_frames):
        # In seconds, as the storyboard gives crossfades; frames in brackets.
        longest = (min(frames, next_frames) - 1) / fps
        return [(loc, f"a {shot.transition.seconds:g}s crossfade ({fade} frames at {fps} fps) must be "
                      f"shorter than both shots it joins ({frames / fps:.2f}s and {next_frames / fps:.2f}s); "
                      f"use at most {{crossfade: {math.floor(longest * 100) / 100:g}}}")]
    return []


def _check_retakes(index: int, shot: Shot, frames: int, fps: int, family: str) -> list[tuple[Loc, str]]:
    """A shot's retakes: each window inside the shot, at least one latent frame wide, fitting one model window with
    its context, and no two windows overlapping."""
    problems: list[tuple[Loc, str]] = []
    windows: list[tuple[int, int, int]] = []  # (first, end, retake number) of the valid ones so far
    for k, retake in enumerate(shot.retakes):
        loc = ("shots", index, "retakes", k)
        first, end = retake.window(fps, frames)
        if first >= frames:
            problems.append(((*loc, "from"), f"{_as_written(retake.from_, first)} is past the shot's last frame"
                                             f"{_last_frame(retake.from_, frames, fps)}"))
            continue
        if end > frames:
            problems.append(((*loc, "to"), f"{_as_written(retake.to, end)} is past the shot's end ({frames} frames"
                                           f"{f', {frames / fps:.2f}s' if _in_seconds(retake.to) else ''}: frames "
                                           f"0-{frames - 1}); use `to: end` to reach the last frame"))
            continue
        if end <= first:
            problems.append(((*loc, "to"), f"`to` (frame {end}) must come after `from` (frame {first}); "
                                           f"{_wider(first, frames)}"))
            continue
        if end - first < TEMPORAL_COMPRESSION:
            problems.append(((*loc, "to"), f"the window is frames {first}-{end - 1} ({end - first} frames): a "
                                           f"retake must be at least one latent frame ({TEMPORAL_COMPRESSION} frames) "
                                           f"wide; {_wider(first, frames)}"))
            continue
        if retake_layout(first, end, frames, family, MAX_WINDOW_FRAMES[family]) is None:
            problems.append(((*loc, "to"), f"frames {first}-{end - 1} with the frames held around them do not fit one "
                                           f"{family} window ({MAX_WINDOW_FRAMES[family]} frames); split it into "
                                           "shorter retakes"))
            continue
        for other_first, other_end, other in windows:
            if first < other_end and other_first < end:
                # Named by its path, as the problem's own place is (`retakes[1]`), never "retake 1".
                problems.append(((*loc, "from"), f"the window (frames {first}-{end - 1}) overlaps the window of "
                                                 f"retakes[{other}] (frames {other_first}-{other_end - 1}); windows of "
                                                 "one shot must not overlap: merge them or move one"))
                break
        else:
            windows.append((first, end, k))
    return problems


def _in_seconds(position: Any) -> bool:
    return isinstance(position, str) and position.endswith("s")


def _as_written(position: Any, frame: int) -> str:
    """A position in the unit the storyboard wrote it, with its frame: `4s (frame 96)`, or `frame 96`."""
    return f"{position} (frame {frame})" if _in_seconds(position) else f"frame {frame}"


def _last_frame(position: Any, frames: int, fps: int) -> str:
    """The shot's last frame, in seconds too when the position was written in seconds: `, 3s (frame 72)` or ` (72)`."""
    last = frames - 1
    return f", {round(last / fps, 2):g}s (frame {last})" if _in_seconds(position) else f" ({last})"


def _wider(first: int, frames: int) -> str:
    if first + TEMPORAL_COMPRESSION <= frames:
        return f"e.g. `to: {first + TEMPORAL_COMPRESSION}`"
    return f"e.g. `from: {frames - TEMPORAL_COMPRESSION}` and `to: end`"


def _check_segments(
    index: int, shot: Shot, frames: int, fps: int, family: str, max_segments: int
) -> list[tuple[Loc, str]]:
    """A long take's segments: they fit one model window, overlap less than their length, and are not too many."""
    layout = shot.segment_layout(family, frames)
    if layout is None:
        return []
    size, overlap = layout
    loc = ("shots", index, "segments")
    given = shot.segments or Segments()
    window = MAX_WINDOW_FRAMES[family]
    if size > window:
        return [((*loc, "frames"), f"segments of {size} frames are longer than one {family} window ({window} frames)")]
    if overlap >= size:
        if given.overlap is None:
            return [((*loc, "frames"), f"{size}-frame segments cannot hold the default {family} overlap of {overlap} "
                                       f"frames; set `overlap` (8n+1, at most {size - TEMPORAL_COMPRESSION})")]
        return [((*loc, "overlap"), f"an overlap of {overlap} frames must be shorter than the segments ({size} frames); "
                                    f"use at most {size - TEMPORAL_COMPRESSION}")]

    count = segment_count(frames, size, overlap)  # counted before any list of segments is built
    if count > max_segments:
        field = "frames" if shot.frames is not None else "duration"
        return [(("shots", index, field),
                 f"{frames} frames ({frames / fps:.1f}s) need {count} segments of {size} frames overlapping by "
                 f"{overlap}, more than model.max_segments ({max_segments}); shorten the shot, use longer segments, "
                 "or raise model.max_segments")]
    segments = split_take(frames, size, overlap)
    if given.prompts is not None and len(given.prompts) != len(segments):
        ranges = ", ".join(f"{start}-{start + length - 1}" for start, length in segments)
        return [((*loc, "prompts"),
                 f"{len(given.prompts)} prompts for {len(segments)} segments (shot frames {ranges}); give one prompt "
                 "per segment, or leave out `prompts` to use the shot's prompt for every segment")]
    return []
