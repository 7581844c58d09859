"""Media a storyboard names (keyframe images, control sources, music beds): paths kept inside the workspace root,
and each file decoded whole at validation, so a damaged or truncated file is named then, not found by a render
hours later."""

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import ValidationInfo

from .problems import path_error, short

# Keyframe images and control media are decoded at validation; one frame may hold this many pixels
# (8K UHD is 33 M): a small file that decodes to gigabytes is refused before it is decoded.
MAX_MEDIA_PIXELS = 40_000_000


def resolve_media_path(value: str, base_dir: Path, root: Path) -> Path:
    """A media path from a storyboard, resolved and checked to stay inside the workspace root."""
    path = Path(value)
    if path.is_absolute():
        raise ValueError(f"`{value}` is absolute; give a path relative to the storyboard's folder ({base_dir})")
    try:
        # resolve() follows symlinks, so a link pointing out of the root is caught too.
        full = (base_dir / path).resolve()
        root = root.resolve()
        if not full.is_relative_to(root):
            raise ValueError(f"`{value}` resolves to {full}, outside the workspace root {root}; move it inside, or pass --root")
        is_file = full.is_file()
    except (RuntimeError, OSError) as error:
        # A symlink loop (resolve() raises RuntimeError) or a name the file system refuses (ENAMETOOLONG).
        raise ValueError(f"`{short(value)}` cannot be opened: {path_error(error)}; fix the path") from None
    if not is_file:
        raise ValueError(f"file not found: {full} (paths are relative to the storyboard's folder, {base_dir})")
    return full


def media_path(value: Any, info: ValidationInfo, readable, problem: str) -> Any:
    """A media path from a storyboard, resolved inside the workspace root and checked with `readable`."""
    context = info.context or {}
    if not isinstance(value, str) or "base_dir" not in context:
        return value
    path = resolve_media_path(value, context["base_dir"], context["root"])
    why = _media_verdict(readable, path)
    if why is not None:
        raise ValueError(f"{path} {problem}: {why}")
    return path


def _media_verdict(readable, path: Path) -> str | None:
    """`readable(path)`, decoded once per version of the file: a render validates each storyboard more
    than once (the CLI, the batch's file list, the plan), and a long control video takes seconds to decode."""
    try:
        stat_ = path.stat()
    except OSError:
        return readable(path)  # it says why it cannot be read
    return _cached_verdict(readable, path, stat_.st_size, stat_.st_mtime_ns)


@functools.lru_cache(maxsize=1024)
def _cached_verdict(readable, path: Path, size: int, mtime_ns: int) -> str | None:
    # Keyed by size and modification time: a file changed in place is decoded again.
    return readable(path)


# Media checks: each decodes the whole file (what rendering will read), so a damaged or truncated
# file is named at validation, not found by a render hours later. Each returns None when the file
# is fine, else why not (never the file's content).


def image_problem(path: Path) -> str | None:
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_MEDIA_PIXELS:
                return f"it is {width}x{height}, more than {MAX_MEDIA_PIXELS:,} pixels; scale it down"
            image.load()  # decodes every pixel: valid CRCs around garbage data still fail here
    except Image.DecompressionBombError:
        return f"more than {MAX_MEDIA_PIXELS:,} pixels; scale it down"
    except Exception as error:  # PIL raises many kinds (OSError, SyntaxError, ValueError, zlib.error)
        return f"it does not decode as an image ({type(error).__name__})"
    return None


@dataclass(frozen=True)
class AudioFileInfo:
    """What decoding a sound file whole found: its length, rate, channels and loudest sample (0 to 1)."""

    seconds: float
    rate: int
    channels: int
    peak: float


def decode_audio_file(path: Path) -> AudioFileInfo | str:
    """Decode `path`'s first audio stream whole (every frame, not the first only: damage in the middle of a bed
    or a line is a dropout in the film): its `AudioFileInfo`, or why it cannot be used as sound."""
    import av  # here, so checking storyboards without media stays light
    import numpy as np

    samples, peak, rate, channels, seconds = 0, 0.0, 0, 0, None
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return "it has no audio stream"
            stream = container.streams.audio[0]
            stream.codec_context.options = {"err_detect": "explode"}
            rate, channels = stream.codec_context.sample_rate, stream.codec_context.channels
            for frame in container.decode(stream):
                data = frame.to_ndarray()
                if data.dtype.kind in "iu":  # integer PCM: scale to [-1, 1]
                    data = data / float(np.iinfo(data.dtype).max)
                peak = max(peak, float(np.abs(data).max(initial=0.0)))
                samples += frame.samples
                seconds = frame.time
    except (av.FFmpegError, OSError, ValueError) as error:
        where = f" after {seconds:.1f}s" if samples and seconds is not None else ""
        return f"it does not decode{where} ({type(error).__name__}): it is damaged or truncated, or not audio"
    if not samples or not rate:
        return "it is empty: its audio stream has no sound that decodes"
    return AudioFileInfo(seconds=samples / rate, rate=rate, channels=channels, peak=peak)


def audio_problem(path: Path) -> str | None:
    found = decode_audio_file(path)
    return found if isinstance(found, str) else None


def image_or_video_problem(path: Path) -> str | None:
    from ..media.read import DamagedMediaError, decoded_frames

    if image_problem(path) is None:
        return None
    try:
        decoded_frames(path, max_pixels=MAX_MEDIA_PIXELS)
    except DamagedMediaError as error:
        return str(error).removeprefix(f"{path} ")
    except OSError as error:
        return f"it cannot be read ({error.strerror or error})"
    return None

