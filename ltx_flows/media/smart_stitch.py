"""Smart stitch: crossfades re-encoded in GOP-aligned windows, every other frame's packets copied.

Only for clips encoded alike (`read.copy_key`): a window around each crossfade, from the last keyframe
before it to the first one after it, is re-encoded with the clips' own settings, and the GOPs between
windows are copied packet for packet, so a film of long shots re-encodes a second or so per crossfade.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

import av

from .audio import AAC_OPTIONS
from .ffmpeg import options_to_args, run_ffmpeg
from .joins import Join, filter_graph
from .read import VideoInfo, copy_key, probe
from .write import x264_options

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Span:
    """Frames [start, end) of input clip `clip`."""

    clip: int
    start: int
    end: int


@dataclass(frozen=True)
class _Window:
    """A stretch of the film re-encoded around one or more crossfades: spans joined by `joins`."""

    spans: list[_Span]
    joins: list[Join]


def _keyframes(path: Path, fps: int) -> list[int]:
    """The frame indices of a clip's keyframes, read from its packets (nothing is decoded)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(packet.pts, packet.is_keyframe) for packet in container.demux(stream) if packet.size]
        first = min(pts for pts, _ in packets)
        return sorted(round((pts - first) * stream.time_base * fps) for pts, key in packets if key)


def _smart_pieces(infos: list[VideoInfo], joins: list[Join], keyframes: list[list[int]]) -> list[_Span | _Window]:
    """The film as copied GOPs and re-encoded windows, in order.

    Each clip is copied from its first keyframe at or after its fade-in to its last keyframe at
    or before its fade-out (whole GOPs, so a copy decodes on its own); what lies around each
    crossfade (the tail of one clip, the fade, the head of the next) is a window to re-encode.
    A clip too short to hold a whole GOP between its fades goes into the window whole.
    """
    pieces: list[_Span | _Window] = []
    spans: list[_Span] = []  # the window being gathered
    window_joins: list[Join] = []

    def flush() -> None:
        if spans:
            pieces.append(_Window(spans=list(spans), joins=list(window_joins)))
        spans.clear()
        window_joins.clear()

    for i, info in enumerate(infos):
        before = joins[i - 1] if i else Join("cut")
        after = joins[i] if i < len(joins) else Join("cut")
        fade_in = before.frames if before.kind == "crossfade" else 0
        fade_out = after.frames if after.kind == "crossfade" else 0
        start = 0 if not fade_in else min((k for k in keyframes[i] if k >= fade_in), default=info.frames)
        end = info.frames if not fade_out else max((k for k in keyframes[i] if k <= info.frames - fade_out), default=0)
        if before.kind == "cut":
            flush()  # a cut between two windows (or a window and a copy) joins them as they are
        if start >= end:  # no whole GOP between the fades: the clip is re-encoded whole
            if spans:
                window_joins.append(before)
            spans.append(_Span(i, 0, info.frames))
            continue
        if start > 0:
            window_joins.append(before)
            spans.append(_Span(i, 0, start))
        flush()
        pieces.append(_Span(i, start, end))
        if end < info.frames:
            spans.append(_Span(i, end, info.frames))
    flush()
    return pieces


def _window_args(clips: list[Path], infos: list[VideoInfo], windows: list[_Window], fps: int) -> tuple[list[str], list[str]]:
    """ffmpeg inputs and filter graph parts for every window, in one run; window w's output is labelled `w{w}`."""
    inputs, graphs = [], []
    for w, window in enumerate(windows):
        first_input = inputs.count("-i")
        for span in window.spans:
            # Seek to the span's first frame (a keyframe): half a frame early, so rounding cannot skip it.
            inputs += ["-ss", f"{max(span.start - 0.5, 0) / fps:.6f}", "-i", str(clips[span.clip])]
        graph, output, _ = filter_graph(
            [infos[span.clip] for span in window.spans], window.joins, fps,
            trims=[(span.start, span.end) for span in window.spans], first_input=first_input, tag=f"w{w}",
        )
        graphs.append(f"{graph};[{output}]null[w{w}]")
    return inputs, graphs


def _copy_gops(parts: list[tuple[Path, int, int]], fps: int, out: Path) -> None:
    """Write frames [start, end) of each file, one after another, into `out` (video only) without re-encoding.

    Every range is whole GOPs (from a keyframe to just before one, or to the end), and every
    file was encoded with the same settings, so the packets play on from one range to the next.
    """
    with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as film:
        stream = None
        offset = 0  # frames written so far
        for path, start, end in parts:
            with av.open(str(path)) as source:
                src = source.streams.video[0]
                if stream is None:
                    stream = film.add_stream_from_template(src)
                    time_base = src.time_base
                elif src.time_base != time_base:
                    raise ValueError(f"{path}: time base {src.time_base}, not {time_base}")
                packets = [packet for packet in source.demux(src) if packet.size]
                first = min(packet.pts for packet in packets)
                ticks = round(1 / (fps * time_base))  # one frame
                shift = (offset - start) * ticks - first
                for packet in packets:
                    frame = round((packet.pts - first) / ticks)
                    if not start <= frame < end:
                        continue
                    packet.pts += shift
                    packet.dts += shift
                    packet.stream = stream
                    film.mux(packet)
            offset += end - start


def smart_stitch(clips: list[Path], infos: list[VideoInfo], joins: list[Join], fps: int, crf: int, partial: Path) -> bool:
    """Crossfades re-encoded in GOP-aligned windows, everything else stream-copied. False (nothing written)
    when the windows do not come out with the clips' exact encoder headers, so their packets cannot mix.

    One ffmpeg run encodes every window and the film's whole sound track (made from every clip as the
    full graph makes it); the GOPs are then copied in order, and the sound laid under them.
    """
    pieces = _smart_pieces(infos, joins, [_keyframes(clip, fps) for clip in clips])
    windows = [piece for piece in pieces if isinstance(piece, _Window)]
    window_files = [partial.with_name(f".{partial.stem}.window{w}.mp4") for w in range(len(windows))]
    sound = partial.with_name(f".{partial.stem}.sound.m4a")
    video = partial.with_name(f".{partial.stem}.video.mp4") if infos[0].has_audio else partial
    try:
        inputs, graphs = _window_args(clips, infos, windows, fps)
        outputs = []
        for w, file in enumerate(window_files):
            outputs += ["-map", f"[w{w}]", *options_to_args(x264_options(fps, crf)), "-an", str(file)]
        if infos[0].has_audio:
            audio_graph, _, audio = filter_graph(infos, joins, fps, video=False, first_input=inputs.count("-i"), tag="s")
            inputs += [arg for clip in clips for arg in ("-i", str(clip))]
            graphs.append(audio_graph)
            outputs += ["-map", f"[{audio}]", *options_to_args(AAC_OPTIONS), "-vn", str(sound)]
        run_ffmpeg([*inputs, "-filter_complex", ";".join(graphs), *outputs], partial)

        key = copy_key(clips[0])[:-1]  # the video's part
        if any(copy_key(file)[:-1] != key for file in window_files):
            logger.info("stitch: a re-encoded window's encoder headers differ from the clips'; re-encoding everything")
            return False
        parts, window_file = [], iter(window_files)
        for piece in pieces:
            if isinstance(piece, _Span):
                parts.append((clips[piece.clip], piece.start, piece.end))
            else:
                file = next(window_file)
                parts.append((file, 0, probe(file).frames))
        try:
            _copy_gops(parts, fps, video)
        except (av.error.FFmpegError, ValueError) as error:  # e.g. timestamps the muxer refuses: never a broken film
            logger.warning("stitch: copying GOPs failed (%s); re-encoding everything", error)
            return False
        if infos[0].has_audio:
            run_ffmpeg(["-i", str(video), "-i", str(sound), "-map", "0:v:0", "-map", "1:a:0", "-c", "copy",
                         "-movflags", "+faststart", "-f", "mp4", str(partial)], partial)
        return True
    finally:
        for path in [*window_files, sound, *([video] if video != partial else [])]:
            path.unlink(missing_ok=True)
