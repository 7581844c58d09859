"""Writing, probing and stitching video (and its sound) with ffmpeg.

There is no system ffmpeg or ffprobe: we run the binary that imageio-ffmpeg
ships and probe with PyAV. Every file is written atomically (a temporary file
in the same folder, renamed onto the target only when complete), so a crash
never leaves a half-written mp4 that looks finished.

Sound is 48 kHz stereo AAC everywhere, cut or padded to exactly the video's
length in every clip, so joining clips never drifts sound against picture.
"""

import collections
import dataclasses
import itertools
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
from av.video.reformatter import VideoReformatter
import ffmpeg
import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageOps

from ..files import file_sha256, partial_path


logger = logging.getLogger(__name__)

# How much of ffmpeg's stderr an error message quotes.
_STDERR_TAIL_LINES = 20

AUDIO_RATE = 48000
_AAC_OPTIONS = {"c:a": "aac", "b:a": "192k", "ar": AUDIO_RATE, "ac": 2}
# How long a music bed fades out before the film's end, at most a quarter of the film.
BED_FADE_SECONDS = 2.0


@dataclass(frozen=True)
class Audio:
    """Sound to put under a clip: float samples in [-1, 1] shaped (channels, samples), and their rate."""

    samples: np.ndarray
    rate: int

    @classmethod
    def silence(cls) -> "Audio":
        # One sample, padded with silence to the clip's length when written.
        return cls(np.zeros((2, 1), dtype=np.float32), AUDIO_RATE)


def audio_samples(frames: int, fps: int) -> int:
    """How many 48 kHz samples last exactly `frames` frames."""
    return round(frames * AUDIO_RATE / fps)


def _fit_audio_filter(samples: int) -> str:
    # Resample, then pad with silence and cut, so the track lasts exactly `samples` samples.
    return f"aresample={AUDIO_RATE},apad,atrim=end_sample={samples},asetpts=N/SR/TB"


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def keyframe_interval(fps: int) -> int:
    """Frames from one keyframe to the next in the clips and films ltx-flows encodes: half a second."""
    return max(1, fps // 2)


def _x264_options(fps: int, crf: int) -> dict:
    """Encoder settings shared by ClipWriter and stitch, as ffmpeg output options."""
    return {
        "c:v": "libx264",
        "pix_fmt": "yuv420p",
        "crf": crf,
        # A keyframe every half second and none elsewhere: seeking and cutting behave
        # the same in every clip, and a crossfade re-encodes at most half a second on
        # either side of its fade (stitch copies everything else, GOP by GOP).
        "g": keyframe_interval(fps),
        "sc_threshold": 0,
        "r": fps,
        # The index goes to the front, so players can start before the download ends.
        "movflags": "+faststart",
        "f": "mp4",
    }


def _lossless_options(fps: int) -> dict:
    """Lossless RGB H.264 (libx264rgb, qp 0): decodes to exactly the frames written. About 6x faster to
    write than crf 12 yuv420p and 5x larger; for caches that must give back what they were given."""
    return {"c:v": "libx264rgb", "qp": 0, "preset": "ultrafast", "r": fps, "f": "mp4"}


def _options_to_args(options: dict) -> list[str]:
    args = []
    for key, value in options.items():
        args.append(f"-{key}")
        if value is not None:
            args.append(str(value))
    return args


# Every ffmpeg this process runs, so a stop can end the ones still running (see stop.py).
_running: set[subprocess.Popen] = set()


def _popen_ffmpeg(args: list[str], **kwargs) -> subprocess.Popen:
    """Start ffmpeg in its own session: a Ctrl-C in the terminal reaches us, not it, and we stop it ourselves.
    If we die without stopping it (SIGKILL), the kernel kills it (lifetime.py): every caller waits for its
    ffmpeg on the thread that started it."""
    from ..lifetime import dying_with_parent

    process = subprocess.Popen(dying_with_parent(args), start_new_session=True, **kwargs)
    _running.add(process)
    return process


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    _running.discard(process)


def stop_ffmpeg() -> None:
    """Kill every ffmpeg this process still runs (their partial files are never renamed into place)."""
    for process in list(_running):
        if process.poll() is None:
            process.kill()


def _stderr_tail(text: str) -> str:
    return "\n".join(text.strip().splitlines()[-_STDERR_TAIL_LINES:])


class ClipWriter:
    """Streams uint8 RGB frames into an H.264 mp4, atomically.

    ```py
    with ClipWriter("shot_01.mp4", width=768, height=512, fps=24, crf=18) as writer:
        for frames in batches:  # (N, H, W, 3) or (H, W, 3) uint8
            writer.write(frames)
    ```

    Frames go straight to ffmpeg's stdin as they arrive, nothing is buffered
    here. `path` appears only when the `with` block exits cleanly; on an
    exception ffmpeg is killed and the partial file deleted. With `audio`, the
    sound is muxed in once the frames are written, cut or padded with silence
    to exactly their length.
    """

    def __init__(
        self, path: str | os.PathLike, width: int, height: int, fps: int, crf: int = 18, audio: Audio | None = None,
        lossless: bool = False,
    ):
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            # yuv420p stores colour at half resolution: x264 refuses odd sizes.
            raise ValueError(f"width and height must be positive and even for yuv420p, got {width}x{height}")
        if not 0 <= crf <= 51:
            raise ValueError(f"crf must be in 0..51 (lower is better, 18 is visually lossless), got {crf}")
        self.path = Path(path)
        self.width = width
        self.height = height
        self.fps = fps
        self.crf = crf
        self.audio = audio
        self.lossless = lossless  # exact RGB instead of a playable yuv420p clip (see _lossless_options)
        self.frames_written = 0
        self._partial = partial_path(keep_suffix=True, path=self.path)
        self._process = None
        self._stderr_lines = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._stderr_thread = None

    def __enter__(self) -> "ClipWriter":
        self._partial.parent.mkdir(parents=True, exist_ok=True)
        stream = ffmpeg.input(
            "pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{self.width}x{self.height}", framerate=self.fps
        )
        options = _lossless_options(self.fps) if self.lossless else _x264_options(self.fps, self.crf)
        stream = ffmpeg.output(stream, str(self._partial), **options, an=None)
        stream = stream.global_args("-loglevel", "error", "-nostats").overwrite_output()
        self._process = _popen_ffmpeg(
            stream.compile(cmd=ffmpeg_exe()), stdin=subprocess.PIPE, stderr=subprocess.PIPE
        )
        # Drain stderr in the background: if ffmpeg ever fills the pipe it would
        # block, and we would block writing to it.
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        return self

    def _drain_stderr(self) -> None:
        for line in self._process.stderr:
            self._stderr_lines.append(line.decode(errors="replace").rstrip())

    def _ffmpeg_error(self, message: str) -> RuntimeError:
        self._stderr_thread.join(timeout=5)
        stderr = "\n".join(self._stderr_lines) or "(no output)"
        return RuntimeError(f"{message} while writing {self.path}; ffmpeg said:\n{stderr}")

    def write(self, frames: np.ndarray) -> None:
        """Sends one frame (H, W, 3) or a batch (N, H, W, 3) of uint8 RGB frames to ffmpeg."""
        if self._process is None:
            raise RuntimeError("ClipWriter.write() must be called inside `with ClipWriter(...) as writer:`")
        frames = np.asarray(frames)
        if frames.dtype != np.uint8:
            raise TypeError(f"frames must be uint8 RGB, got dtype {frames.dtype} (scale floats in [0, 1] by 255 first)")
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[1:] != (self.height, self.width, 3):
            raise ValueError(
                f"frames must be shaped (N, {self.height}, {self.width}, 3) or ({self.height}, {self.width}, 3), "
                f"got {frames.shape}"
            )
        try:
            # Contiguous so the pipe gets the raw bytes without another copy.
            self._process.stdin.write(memoryview(np.ascontiguousarray(frames)))
        except BrokenPipeError:
            self._process.wait()
            raise self._ffmpeg_error(f"ffmpeg exited early (code {self._process.returncode})") from None
        self.frames_written += len(frames)

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        process, self._process = self._process, None
        if exc_type is not None:
            # Something failed upstream (a model error, Ctrl-C): the clip is incomplete.
            _stop(process)
            self._partial.unlink(missing_ok=True)
            return
        try:
            process.stdin.close()
        except BrokenPipeError:
            pass
        try:
            process.wait()
        except BaseException:  # Ctrl-C while ffmpeg finishes: stop it, leave nothing half-written
            _stop(process)
            self._partial.unlink(missing_ok=True)
            raise
        _running.discard(process)
        self._stderr_thread.join(timeout=5)
        if process.returncode != 0:
            self._partial.unlink(missing_ok=True)
            raise self._ffmpeg_error(f"ffmpeg failed (code {process.returncode})")
        if self.frames_written == 0:
            self._partial.unlink(missing_ok=True)
            raise RuntimeError(f"no frames were written to {self.path}")
        try:
            if self.audio is not None:
                _mux_audio(self._partial, self.audio, audio_samples(self.frames_written, self.fps))
            os.replace(self._partial, self.path)
        finally:
            self._partial.unlink(missing_ok=True)


def _mux_audio(video: Path, audio: Audio, samples: int) -> None:
    """Replace `video` (video only) by itself with `audio` laid under it, exactly `samples` long."""
    raw = video.with_name(f"{video.name}.f32le")
    muxed = video.with_name(f"{video.stem}.audio.mp4")
    channels = audio.samples.shape[0] if audio.samples.ndim == 2 else 1
    # Interleaved float32, the layout ffmpeg's f32le reader expects.
    np.ascontiguousarray(np.asarray(audio.samples, dtype=np.float32).T).tofile(raw)
    try:
        _run_ffmpeg(
            ["-i", str(video), "-f", "f32le", "-ar", str(audio.rate), "-ac", str(channels), "-i", str(raw),
             "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-af", _fit_audio_filter(samples),
             *_options_to_args(_AAC_OPTIONS), "-movflags", "+faststart", "-f", "mp4", str(muxed)],
            muxed,
        )
        os.replace(muxed, video)
    finally:
        raw.unlink(missing_ok=True)
        muxed.unlink(missing_ok=True)


def write_clip(
    frames: np.ndarray, path: str | os.PathLike, fps: int, crf: int = 18, audio: Audio | None = None,
    lossless: bool = False,
) -> Path:
    """Writes an (N, H, W, 3) uint8 RGB array as an H.264 mp4, with `audio` under it if given; returns the path."""
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"frames must be shaped (N, H, W, 3), got {frames.shape}")
    with ClipWriter(path, width=frames.shape[2], height=frames.shape[1], fps=fps, crf=crf, audio=audio,
                    lossless=lossless) as writer:
        writer.write(frames)
    return Path(path)


def fit_image(image: str | os.PathLike | np.ndarray, width: int, height: int) -> Image.Image:
    """An image file or RGB array scaled to cover width x height and centre-cropped: never stretched."""
    if isinstance(image, np.ndarray):
        return ImageOps.fit(Image.fromarray(image), (width, height), method=Image.Resampling.LANCZOS)
    with Image.open(image) as opened:
        return ImageOps.fit(opened.convert("RGB"), (width, height), method=Image.Resampling.LANCZOS)


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


def decoded_frames(path: str | os.PathLike, max_pixels: int | None = None, threads: int = 1) -> int:
    """Decode every frame of a video's first video stream and return how many there are.

    Container metadata can claim frames that are damaged or missing: decoding (with the decoder
    told to fail on any error, not to conceal it) is the only proof. Raises DamagedMediaError
    naming the file when a frame does not decode, the file ends early, or a frame is larger
    than `max_pixels`. `threads` > 1 decodes several frames at once (frame threading: a decoding
    error still ends the decode, from whichever thread met it).
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
            for packet in container.demux(stream):
                discarded += bool(packet.size and packet.is_discard)
                count += sum(1 for _ in packet.decode())
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


def read_audio(path: str | os.PathLike, channels: int = 2) -> Audio | None:
    """A clip's (first) sound track, decoded to float samples at 48 kHz, as players play it; None without one.

    Decoded by ffmpeg, which applies the mp4's edit list (it trims AAC's encoder priming), so sample
    `round(f * 48000 / fps)` is where frame f starts, as `ClipWriter` laid the sound under the frames.
    """
    with av.open(str(path)) as container:  # the header only: is there a track at all
        if not container.streams.audio:
            return None
    process = _popen_ffmpeg(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:a:0",
         "-f", "f32le", "-ac", str(channels), "-ar", str(AUDIO_RATE), "pipe:"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        raw, stderr = process.communicate()
    finally:
        _stop(process)
    if process.returncode != 0:
        raise RuntimeError(f"ffmpeg could not decode the sound of {path}; ffmpeg said:\n"
                           f"{_stderr_tail(stderr.decode(errors='replace')) or '(no output)'}")
    return Audio(np.frombuffer(raw, dtype=np.float32).reshape(-1, channels).T.copy(), AUDIO_RATE)


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


@dataclass(frozen=True)
class Join:
    """How a clip joins the next one; `frames` is the crossfade length in frames."""

    kind: Literal["cut", "crossfade"]
    frames: int = 0


def _copy_key(path: Path) -> tuple:
    """What must match between clips for the concat demuxer to copy them unchanged."""
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


def _run_ffmpeg(args: list[str], out: Path) -> None:
    process = _popen_ffmpeg(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    try:
        _, stderr = process.communicate()
    finally:
        _stop(process)  # on Ctrl-C (or any error here) ffmpeg does not outlive us
    if process.returncode != 0:
        raise RuntimeError(
            f"ffmpeg failed (code {process.returncode}) while writing {out}; ffmpeg said:\n"
            f"{_stderr_tail(stderr) or '(no output)'}"
        )


def _concat_copy(clips: list[Path], infos: list[VideoInfo], fps: int, partial: Path) -> None:
    # The concat demuxer reads a list of files; quotes in names are escaped as '\''.
    listing = partial.with_name(f".{partial.stem}.concat.txt")
    lines = ["ffconcat version 1.0"]
    for clip in clips:
        quoted = str(clip.resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    listing.write_text("\n".join(lines) + "\n")
    # Sound is re-encoded rather than copied: each AAC clip ends on a padded frame, and copied back to back those
    # paddings add up to audible drift. Each track is cut to its clip's frames, then concatenated (cheap next to video).
    inputs, sound = [], []
    if infos[0].has_audio:
        inputs = [arg for clip in clips for arg in ("-i", str(clip))]
        fits = [f"[{i + 1}:a:0]{_fit_audio_filter(audio_samples(info.frames, fps))}[a{i}]" for i, info in enumerate(infos)]
        joined = "".join(f"[a{i}]" for i in range(len(clips))) + f"concat=n={len(clips)}:v=0:a=1[sound]"
        sound = ["-filter_complex", ";".join([*fits, joined]), "-map", "[sound]", *_options_to_args(_AAC_OPTIONS)]
    try:
        _run_ffmpeg(
            # -auto_convert 0: keep every packet byte for byte (by default the
            # demuxer repeats the SPS/PPS in-band at each keyframe); safe because
            # _copy_key made sure all clips share one SPS/PPS.
            ["-f", "concat", "-safe", "0", "-auto_convert", "0", "-i", str(listing), *inputs,
             "-map", "0:v:0", *sound, "-c:v", "copy", "-movflags", "+faststart", "-f", "mp4", str(partial)],
            partial,
        )
    finally:
        listing.unlink(missing_ok=True)


def _filter_graph(
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
    at that frame: see `_encode_window`); `video=False` makes only the sound (sound always covers
    whole clips); inputs are numbered from `first_input`, and every label starts with `tag` (so several
    graphs can share one ffmpeg run).

    Each input is first put on one timeline: timebase 1/fps and pts = frame
    index. From then on a frame is exactly one tick, so xfade offsets that are
    computed from frame counts land on frame boundaries, and a clip whose file claims
    another rate is played frame for frame at the film's rate.

    The graph is written as text rather than with ffmpeg-python nodes:
    ffmpeg-python merges nodes with identical arguments, so a clip used twice
    (or two identical filters on it) would collapse into one broken node.

    Sound, when the clips have it, follows the same folds: each clip's track
    is made exactly as long as its frames, crossfades become `acrossfade`s of
    the same length and cuts `concat`s, so it stays in sync to the sample.
    """
    width, height = infos[0].width, infos[0].height
    with_audio = infos[0].has_audio and trims is None
    lengths = [end - start for start, end in trims] if trims else [info.frames for info in infos]
    parts = []
    for i, info in enumerate(infos):
        if video and trims:
            # A window of identically encoded clips: nothing to fit, and nothing (such as a sample aspect
            # ratio) may reach the encoder that the clips' headers do not have.
            parts.append(f"[{first_input + i}:v:0]settb=1/{fps},setpts=N,trim=end_frame={lengths[i]},setpts=N[{tag}v{i}]")
        elif video:
            parts.append(
                f"[{first_input + i}:v:0]"
                # Clips of another size are fitted into the first one's, letterboxed.
                f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
                f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p,"
                f"settb=1/{fps},setpts=N"
                f"[{tag}v{i}]"
            )
        if with_audio:
            parts.append(f"[{first_input + i}:a:0]{_fit_audio_filter(audio_samples(info.frames, fps))}[{tag}a{i}]")

    # Fold the clips left to right: `current` (and `current_audio`) is
    # everything joined so far and `total` its length in frames.
    current, current_audio, total = f"{tag}v0", f"{tag}a0", lengths[0]
    for i, join in enumerate(joins):
        label = f"{tag}j{i + 1}"
        if not video:
            if join.kind == "crossfade":
                parts.append(
                    f"[{current_audio}][{tag}a{i + 1}]acrossfade=ns={audio_samples(join.frames, fps)}:c1=tri:c2=tri[a{label}]"
                )
            else:
                parts.append(f"[{current_audio}][{tag}a{i + 1}]concat=n=2:v=0:a=1[a{label}]")
            current_audio = f"a{label}"
            continue
        if join.kind == "crossfade":
            # The fade starts K frames before the end of what we have so far.
            # ffmpeg reads these in microseconds and xfade rounds them to the
            # nearest 1/fps tick, so they land exactly on frame `total - K`.
            offset = (total - join.frames) / fps
            duration = join.frames / fps
            parts.append(
                f"[{current}][{tag}v{i + 1}]xfade=transition=fade:duration={duration:.9f}:offset={offset:.9f}[{label}]"
            )
            if with_audio:
                parts.append(
                    f"[{current_audio}][{tag}a{i + 1}]acrossfade=ns={audio_samples(join.frames, fps)}:c1=tri:c2=tri[a{label}]"
                )
            total += lengths[i + 1] - join.frames
        else:
            # concat outputs microsecond timestamps, which xfade refuses to mix
            # with 1/fps ones: put the result back on the frame timeline.
            parts.append(f"[{current}][{tag}v{i + 1}]concat=n=2:v=1:a=0,settb=1/{fps},setpts=N[{label}]")
            if with_audio:
                parts.append(f"[{current_audio}][{tag}a{i + 1}]concat=n=2:v=0:a=1[a{label}]")
            total += lengths[i + 1]
        current, current_audio = label, f"a{label}"

    return ";".join(parts), current if video else None, current_audio if with_audio else None


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
        graph, output, _ = _filter_graph(
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


def _smart_stitch(clips: list[Path], infos: list[VideoInfo], joins: list[Join], fps: int, crf: int, partial: Path) -> bool:
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
            outputs += ["-map", f"[w{w}]", *_options_to_args(_x264_options(fps, crf)), "-an", str(file)]
        if infos[0].has_audio:
            audio_graph, _, audio = _filter_graph(infos, joins, fps, video=False, first_input=inputs.count("-i"), tag="s")
            inputs += [arg for clip in clips for arg in ("-i", str(clip))]
            graphs.append(audio_graph)
            outputs += ["-map", f"[{audio}]", *_options_to_args(_AAC_OPTIONS), "-vn", str(sound)]
        _run_ffmpeg([*inputs, "-filter_complex", ";".join(graphs), *outputs], partial)

        key = _copy_key(clips[0])[:-1]  # the video's part
        if any(_copy_key(file)[:-1] != key for file in window_files):
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
            _run_ffmpeg(["-i", str(video), "-i", str(sound), "-map", "0:v:0", "-map", "1:a:0", "-c", "copy",
                         "-movflags", "+faststart", "-f", "mp4", str(partial)], partial)
        return True
    finally:
        for path in [*window_files, sound, *([video] if video != partial else [])]:
            path.unlink(missing_ok=True)


def _validate_joins(clips: list[Path], joins: list[Join], infos: list[VideoInfo]) -> None:
    if not clips:
        raise ValueError("stitch needs at least one clip")
    if len(joins) != len(clips) - 1:
        raise ValueError(f"{len(clips)} clips need {len(clips) - 1} joins, got {len(joins)}")
    for i, join in enumerate(joins):
        if join.kind not in ("cut", "crossfade"):
            raise ValueError(f"join {i}: kind must be 'cut' or 'crossfade', got {join.kind!r}")
        if join.kind != "crossfade":
            continue
        before, after = infos[i].frames, infos[i + 1].frames
        if not 1 <= join.frames < min(before, after):
            raise ValueError(
                f"join {i}: a crossfade needs 1 <= frames < the length of both clips "
                f"({clips[i].name}: {before}, {clips[i + 1].name}: {after}), got {join.frames}"
            )
    with_audio = [clip.name for clip, info in zip(clips, infos) if info.has_audio]
    if with_audio and len(with_audio) != len(clips):
        silent = [clip.name for clip, info in zip(clips, infos) if not info.has_audio]
        raise ValueError(
            f"{', '.join(silent)} {'has' if len(silent) == 1 else 'have'} no sound track while other clips do: "
            "give every clip a track (silence where a shot has no sound), so the film's sound stays continuous"
        )
    # A clip between two crossfades must be long enough for both.
    for i in range(1, len(clips) - 1):
        fade_in = joins[i - 1].frames if joins[i - 1].kind == "crossfade" else 0
        fade_out = joins[i].frames if joins[i].kind == "crossfade" else 0
        if fade_in + fade_out > infos[i].frames:
            raise ValueError(
                f"{clips[i].name} has {infos[i].frames} frames, fewer than its two crossfades "
                f"({fade_in} + {fade_out})"
            )


def stitch(clips: list[Path], joins: list[Join], out: Path, fps: int, crf: int = 18) -> VideoInfo:
    """Joins clips into one film; `joins[i]` is how clip i joins clip i + 1.

    Cuts between identically encoded clips are stream-copied by the concat
    demuxer (no re-encode, ~100x cheaper). Crossfades between identically encoded
    clips re-encode only a window around each fade, from the last keyframe before
    it to the first one after it, and copy every GOP in between (see
    `_smart_pieces`). Anything else goes through one filter graph (`xfade` for
    crossfades, `concat` for cuts) encoded once. The film has
    sum(frames) - sum(crossfade frames) frames, which is checked after writing.
    Sound is carried when every clip has a track (a mix is refused), and the
    film's sound must then last as long as its video, within one frame.
    """
    clips = [Path(clip) for clip in clips]
    out = Path(out)
    infos = [probe(clip) for clip in clips]
    _validate_joins(clips, joins, infos)

    expected = sum(info.frames for info in infos) - sum(j.frames for j in joins if j.kind == "crossfade")
    partial = partial_path(keep_suffix=True, path=out)
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        same_rate = all(abs(info.fps - fps) < 1e-6 for info in infos)
        cuts_only = all(j.kind == "cut" for j in joins)
        if len(clips) == 1 and same_rate:
            logger.info("stitch: one clip, copying %s to %s", clips[0], out)
            shutil.copyfile(clips[0], partial)
        elif cuts_only and same_rate and len({_copy_key(clip) for clip in clips}) == 1:
            logger.info("stitch: %d clips, cuts only: concat demuxer, video stream copy", len(clips))
            _concat_copy(clips, infos, fps, partial)
        elif same_rate and len({_copy_key(clip) for clip in clips}) == 1 and _smart_stitch(
            clips, infos, joins, fps, crf, partial
        ):
            logger.info("stitch: %d clips: crossfades re-encoded in GOP-aligned windows, the rest stream-copied", len(clips))
        else:
            graph, output, audio = _filter_graph(infos, joins, fps)
            logger.info("stitch: %d clips, re-encoding through a filter graph: %s", len(clips), graph)
            # `-r` before `-i` reads every clip at the film's rate, one frame per
            # 1/fps, whatever rate its file claims.
            inputs = [arg for clip in clips for arg in ("-r", str(fps), "-i", str(clip))]
            maps = ["-map", f"[{output}]"]
            encode = _options_to_args(_x264_options(fps, crf))
            if audio:
                maps += ["-map", f"[{audio}]"]
                encode += _options_to_args(_AAC_OPTIONS)
            _run_ffmpeg([*inputs, "-filter_complex", graph, *maps, *encode, str(partial)], partial)

        info = probe(partial)
        # Counted by decoding, not read from the header: a stream copy carries damaged packets through. The
        # film is the one place every clip's frames are decoded (a fresh clip's are only counted), so its
        # decode uses every core: on two cores it takes 0.6 of the time on one.
        try:
            frames = decoded_frames(partial, threads=min(os.cpu_count() or 1, 4))
        except DamagedMediaError as error:
            raise DamagedMediaError(f"stitched {out} does not decode ({error}); {_damaged_clips(clips)}") from None
        if frames != expected:
            raise RuntimeError(f"stitched {out} decodes to {frames} frames, expected {expected}")
        _check_sound_length(info, out)
        info = _rename_into_place(partial, out, info)
    finally:
        partial.unlink(missing_ok=True)
    return info


def _damaged_clips(clips: list[Path]) -> str:
    # Only after a film failed its check: decode each clip to name the one to render again.
    damaged = []
    for clip in clips:
        try:
            decoded_frames(clip)
        except DamagedMediaError:
            damaged.append(str(clip))
    return f"damaged clips: {', '.join(damaged)}" if damaged else "every clip decodes"


def _rename_into_place(partial: Path, out: Path, info: VideoInfo) -> VideoInfo:
    # Hashed before the rename, from the file being renamed: what a manifest records is what this call wrote.
    digest = file_sha256(partial)
    os.replace(partial, out)
    return dataclasses.replace(info, sha256=digest)


def _check_sound_length(info: VideoInfo, path: Path) -> None:
    if info.audio_duration is not None and abs(info.audio_duration - info.duration) > 1 / info.fps:
        raise RuntimeError(
            f"{path}: its sound lasts {info.audio_duration:.3f}s but its video {info.duration:.3f}s "
            "(more than one frame apart)"
        )


def lay_audio_bed(film: Path, bed: Path, fade_seconds: float = BED_FADE_SECONDS) -> VideoInfo:
    """Put a music bed under `film` in place: cut at the film's end and faded out before it.

    A bed shorter than the film is followed by silence. The video is copied, not re-encoded;
    any sound the film had is replaced.
    """
    film, bed = Path(film), Path(bed)
    info = probe(film)
    fade = min(fade_seconds, info.duration / 4)
    partial = partial_path(keep_suffix=True, path=film)
    bed_filter = f"afade=t=out:st={info.duration - fade:.6f}:d={fade:.6f},{_fit_audio_filter(audio_samples(info.frames, round(info.fps)))}"
    # The fade is placed on the bed's own timeline, before padding: a shorter bed just ends early.
    try:
        _run_ffmpeg(
            ["-i", str(film), "-i", str(bed), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
             "-af", bed_filter, *_options_to_args(_AAC_OPTIONS), "-movflags", "+faststart", "-f", "mp4", str(partial)],
            partial,
        )
        laid = probe(partial)
        _check_sound_length(laid, film)
        laid = _rename_into_place(partial, film, laid)
    finally:
        partial.unlink(missing_ok=True)
    return laid
