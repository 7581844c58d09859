"""Thumbnails: a clip's frames as small inline JPEGs, for the Prefect summary and the review page.

Inline images keep a markdown artifact or a review page self-contained (the UI cannot reach the render
folder, and a review folder can be moved); small JPEGs keep them a few kilobytes per shot.
"""

import base64
import io
from pathlib import Path

from PIL import Image

from .read import frames_at, iter_keyframes
from .write import keyframe_interval

THUMBNAIL_WIDTH = 160
JPEG_QUALITY = 70


def filmstrip(clip: Path, frames: int, count: int = 1, width: int = THUMBNAIL_WIDTH, fps: float | None = None) -> bytes:
    """`count` frames spread over the clip, side by side, each `width` pixels wide, as a JPEG.

    With the clip's `fps`, each picture is the keyframe nearest the frame it stands for, so the clip is not
    decoded whole (a review page of a long film would otherwise decode every frame of it); a clip with
    too few keyframes for `count` distinct pictures is decoded frame by frame.
    """
    wanted = sorted({round(i * (frames - 1) / max(count - 1, 1)) for i in range(count)} if count > 1 else {frames // 2})
    # A clip too short for that many keyframes goes straight to decoding frame by frame.
    enough_keyframes = fps and -(-frames // keyframe_interval(round(fps))) >= len(wanted)
    picked = _nearest_keyframes(clip, wanted, fps) if enough_keyframes else None
    if picked is None:
        picked = [Image.fromarray(frame) for frame in frames_at(clip, wanted)]
    if not picked:
        raise ValueError(f"{clip} has no frames")
    height = max(1, round(picked[0].height * width / picked[0].width))
    strip = Image.new("RGB", (width * len(picked), height))
    for i, image in enumerate(picked):
        strip.paste(image.resize((width, height)), (i * width, 0))
    buffer = io.BytesIO()
    strip.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _nearest_keyframes(clip: Path, wanted: list[int], fps: float) -> list[Image.Image] | None:
    """For each wanted frame index, the keyframe nearest it; None when that would repeat a picture."""
    best: dict[int, tuple[float, Image.Image]] = {}
    for seconds, frame in iter_keyframes(clip):
        image = None
        for index in wanted:
            distance = abs(seconds * fps - index)
            if index not in best or distance < best[index][0]:
                if image is None:
                    image = Image.fromarray(frame)
                best[index] = (distance, image)
    pictures = [best[index][1] for index in wanted if index in best]
    if len(pictures) < len(wanted) or len({id(p) for p in pictures}) < len(pictures):
        return None
    return pictures


def data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def thumbnail(clip: Path, frames: int, fps: float) -> str | None:
    """The keyframe nearest the clip's middle as a data URI, or None when the clip cannot be read (a failed shot)."""
    try:
        return data_uri(filmstrip(clip, frames, fps=fps))
    except Exception:  # a thumbnail is a nicety: a clip that cannot be decoded shows none
        return None
