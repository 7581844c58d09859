"""Writing video: clips streamed from RGB frames into H.264 mp4s, atomically, with their sound muxed under them.

Every file is written atomically (a temporary file in the same folder, renamed onto the target only when
complete), so a crash never leaves a half-written mp4 that looks finished. The encoder settings here are
shared by every clip and film ltx-flows encodes (stitch.py re-encodes with them too).
"""

import collections
import os
import subprocess
import threading
from pathlib import Path

import ffmpeg  # ffmpeg-python, which builds the writer's command line (not our .ffmpeg)
import numpy as np

from ..files import partial_path
from .audio import AAC_OPTIONS, Audio, audio_samples, fit_audio_filter
from .ffmpeg import FFMPEG, STDERR_TAIL_LINES, ffmpeg_exe, options_to_args, run_ffmpeg


def keyframe_interval(fps: int) -> int:
    """Frames from one keyframe to the next in the clips and films ltx-flows encodes: half a second."""
    return max(1, fps // 2)


def x264_options(fps: int, crf: int) -> dict:
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
        self._stderr_lines = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._stderr_thread = None

    def __enter__(self) -> "ClipWriter":
        self._partial.parent.mkdir(parents=True, exist_ok=True)
        stream = ffmpeg.input(
            "pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{self.width}x{self.height}", framerate=self.fps
        )
        options = _lossless_options(self.fps) if self.lossless else x264_options(self.fps, self.crf)
        stream = ffmpeg.output(stream, str(self._partial), **options, an=None)
        stream = stream.global_args("-loglevel", "error", "-nostats").overwrite_output()
        self._process = FFMPEG.start(
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
            FFMPEG.stop(process)
            self._partial.unlink(missing_ok=True)
            return
        try:
            process.stdin.close()
        except BrokenPipeError:
            pass
        try:
            process.wait()
        except BaseException:  # Ctrl-C while ffmpeg finishes: stop it, leave nothing half-written
            FFMPEG.stop(process)
            self._partial.unlink(missing_ok=True)
            raise
        FFMPEG.ended(process)
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
        run_ffmpeg(
            ["-i", str(video), "-f", "f32le", "-ar", str(audio.rate), "-ac", str(channels), "-i", str(raw),
             "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-af", fit_audio_filter(samples),
             *options_to_args(AAC_OPTIONS), "-movflags", "+faststart", "-f", "mp4", str(muxed)],
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
