"""Reading video: what a file holds (probe), whether it decodes (decoded_frames), and its frames as RGB arrays.

Probed and decoded with PyAV (there is no system ffprobe). Also the checks a freshly written file passes
before it is renamed into place (stitch.py, audio.py).
"""

import dataclasses
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
from av.video.reformatter import VideoReformatter
import numpy as np
from PIL import Image, ImageOps

from ..files import file_sha256


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    fps: float
    width: int
    height: int
    duration: float
    has_audio: bool
    audio_duration: float | None = None  # seconds of decoded sound, None without a track
    # The sha256 of the file as it was renamed into place (set by stitch and lay_audio_bed).
    sha256: str | None = dataclasses.field(default=None, compare=False)


class DamagedMediaError(ValueError):
    """A media file that does not decode cleanly (damaged, truncated, or too large to read)."""


def decoded_frames(
    path: str | os.PathLike, max_pixels: int | None = None, threads: int = 1,
    on_frame: Callable[[av.VideoFrame], None] | None = None, on_sound: Callable[[av.AudioFrame], None] | None = None,
) -> int:
    """Decode every frame of a video's first video stream and return how many there are.

    Container metadata can claim frames that are damaged or missing: decoding (with the decoder
    told to fail on any error, not to conceal it) is the only proof. Raises DamagedMediaError
    naming the file when a frame does not decode, the file ends early, or a frame is larger
    than `max_pixels`. `threads` > 1 decodes several frames at once (frame threading: a decoding
    error still ends the decode, from whichever thread met it). `on_frame` sees each decoded video frame and
    `on_sound` each decoded frame of the first sound track (decoded in the same pass, only when given): the checks
    of `render.quality` ride on this decode instead of reading the clip again.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DamagedMediaError(f"{path} has no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if max_pixels is not None and width * height > max_pixels:
                raise DamagedMediaError(
                    f"{path} is {width}x{height}, more than {max_pixels:,} pixels a frame; scale it down"
                )
            claimed = stream.frames
            if threads > 1:
                stream.thread_type, stream.thread_count = "FRAME", threads
            # "explode": stop at the first decoding error instead of concealing it (a concealed frame decodes
            # "fine" and its damage shows in the film).
            stream.codec_context.options = {"err_detect": "explode"}
            # A clip cut without re-encoding (`ffmpeg -ss ... -c copy`) keeps the packets from the keyframe before
            # the cut and an edit list that hides them: the demuxer flags those packets "discard" and the decoder
            # drops their frames. The header counts them, so they are counted here to compare like with like.
            count = discarded = 0
            sound = container.streams.audio[0] if on_sound is not None and container.streams.audio else None
            for packet in container.demux(*(s for s in (stream, sound) if s is not None)):
                if sound is not None and packet.stream.index == sound.index:
                    for frame in packet.decode():
                        on_sound(frame)
                    continue
                discarded += bool(packet.size and packet.is_discard)
                for frame in packet.decode():
                    count += 1
                    if on_frame is not None:
                        on_frame(frame)
    except av.FFmpegError as error:
        raise DamagedMediaError(f"{path} does not decode: {error}") from None
    if count == 0:
        raise DamagedMediaError(f"{path} has no video frames that decode")
    if claimed and count != claimed - discarded:
        raise DamagedMediaError(f"{path} decodes to {count} frames but its header claims {claimed - discarded}: "
                                "it is truncated or damaged")
    return count


def probe(path: str | os.PathLike) -> VideoInfo:
    """Frame count, rate, size and duration of a video's first video stream, and how long its sound lasts."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path} has no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        frames = stream.frames
        if not frames:
            # Some containers do not store a frame count: count the packets.
            frames = sum(1 for packet in container.demux(stream) if packet.size)
        width, height = stream.codec_context.width, stream.codec_context.height
        has_audio = bool(container.streams.audio)
        audio_duration = _audio_seconds(container) if has_audio else None
    return VideoInfo(
        frames=frames,
        fps=float(rate),
        width=width,
        height=height,
        # Frames over rate is exact for constant-rate video, which is all we write.
        duration=frames / float(rate),
        has_audio=has_audio,
        audio_duration=audio_duration,
    )


def _audio_seconds(container) -> float:
    # The track's length as players play it: mp4 edit lists trim AAC's encoder priming and the padding of its
    # last frame, which plain decoding keeps. Decode only where the container does not say.
    stream = container.streams.audio[0]
    if stream.duration:
        return float(stream.duration * stream.time_base)
    return sum(frame.samples for frame in container.decode(stream)) / stream.codec_context.sample_rate


def muxed_frames(path: str | os.PathLike) -> int:
    """How many video frames a file's packets carry, counted by reading them, not from its header: a clip
    this process just encoded (its frames decode when the film that holds them is decoded, see `stitch`)."""
    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size)


# One reformatter per thread, kept: `frame.to_ndarray(format=...)` sets up a new scaler for every frame, and a new
# reformatter one for its first frame, 1-4 ms each, 20-80 times what converting a small frame costs (96x64
# clips); a kept one reuses its scaler while frames keep their size and format.
_reformatters = threading.local()


def _rgb_converter() -> Callable[[av.VideoFrame], np.ndarray]:
    """A decoded frame -> (H, W, 3) uint8 RGB."""
    if not hasattr(_reformatters, "reformatter"):
        _reformatters.reformatter = VideoReformatter()
    reformatter = _reformatters.reformatter
    return lambda frame: reformatter.reformat(frame, format="rgb24").to_ndarray()


def _decoded(path: str | os.PathLike) -> Iterator[av.VideoFrame]:
    """A video's decoded frames, not yet converted: readers convert only the frames they keep (converting costs
    more than decoding a small frame)."""
    with av.open(str(path)) as container:
        yield from container.decode(video=0)


def iter_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """A video's frames one at a time, as (H, W, 3) uint8 RGB arrays: memory stays at one frame."""
    rgb = _rgb_converter()
    for frame in _decoded(path):
        yield rgb(frame)


def frames_at(path: str | os.PathLike, indices: list[int]) -> list[np.ndarray]:
    """The frames at these indices (in order, each (H, W, 3) uint8 RGB); decoding stops after the last one.
    Frames past the video's end are left out."""
    wanted, found, rgb = set(indices), {}, _rgb_converter()
    for index, frame in enumerate(_decoded(path)):
        if index in wanted:
            found[index] = rgb(frame)
            if len(found) == len(wanted):
                break
    return [found[index] for index in sorted(found)]


def iter_keyframes(path: str | os.PathLike) -> Iterator[tuple[float, np.ndarray]]:
    """A video's keyframes only, as (seconds from its start, (H, W, 3) uint8 RGB): the decoder skips every
    other frame, so this costs a fraction of a full decode (our clips have a keyframe every half second)."""
    rgb = _rgb_converter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        first = None
        for frame in container.decode(stream):
            first = frame.time if first is None else first
            yield frame.time - first, rgb(frame)


def read_frames(path: str | os.PathLike, start: int = 0, count: int | None = None) -> np.ndarray:
    """Frames [start, start + count) of a video (every frame by default) as an (N, H, W, 3) uint8 RGB array.

    Decoding stops after the last frame asked for, and only the run asked for is kept. Fewer frames than
    `count` come back when the video ends early: callers say what they needed.
    """
    rgb = _rgb_converter()
    frames = [rgb(frame) for frame in itertools.islice(_decoded(path), start, None if count is None else start + count)]
    if not frames and count is None:
        raise ValueError(f"{path} has no video frames")
    return np.stack(frames) if frames else np.empty((0, 0, 0, 3), dtype=np.uint8)


def copy_key(path: Path) -> tuple:
    """What must match between clips for their packets to be copied into one file unchanged (stitch.py)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context
        return (
            codec.name,
            codec.width,
            codec.height,
            codec.pix_fmt,
            stream.average_rate,
            stream.time_base,
            # SPS/PPS (they differ with the crf, for one): the output's header
            # holds only the first clip's, which must fit every clip.
            bytes(codec.extradata or b""),
            # Clips with and without audio do not copy-concat cleanly (gaps, lost audio).
            tuple((a.codec_context.name, a.codec_context.sample_rate, a.codec_context.channels) for a in container.streams.audio),
        )


def fit_image(image: str | os.PathLike | np.ndarray, width: int, height: int) -> Image.Image:
    """An image file or RGB array scaled to cover width x height and centre-cropped: never stretched."""
    if isinstance(image, np.ndarray):
        return ImageOps.fit(Image.fromarray(image), (width, height), method=Image.Resampling.LANCZOS)
    with Image.open(image) as opened:
        return ImageOps.fit(opened.convert("RGB"), (width, height), method=Image.Resampling.LANCZOS)


def check_sound_length(info: VideoInfo, path: Path) -> None:
    """A written file's sound must last as long as its video, within one frame."""
    if info.audio_duration is not None and abs(info.audio_duration - info.duration) > 1 / info.fps:
        raise RuntimeError(
            f"{path}: its sound lasts {info.audio_duration:.3f}s but its video {info.duration:.3f}s "
            "(more than one frame apart)"
        )


def rename_into_place(partial: Path, out: Path, info: VideoInfo, digest: str | None = None) -> VideoInfo:
    """Rename a finished `partial` onto `out`; its info, with the sha256 of the file renamed (`digest`: the caller
    hashed `partial` already, after its last write)."""
    # Hashed before the rename, from the file being renamed: what a manifest records is what this call wrote.
    digest = digest or file_sha256(partial)
    os.replace(partial, out)
    return dataclasses.replace(info, sha256=digest)
