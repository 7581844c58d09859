"""What each deliverable of a film is: its size, frame rate, length cap and profile, and for `crop` framing the
window cut from the film around each shot's focus point (plans only; media/delivery.py encodes them)."""

from typing import Literal

from pydantic import BaseModel

from ..storyboard.models import Shot
from ..storyboard.versions import Captions, Deliverable


class CropWindow(BaseModel):
    """From film frame `start` on (until the next window), the crop's top-left corner."""

    start: int
    x: int
    y: int


class CropPlan(BaseModel):
    """A window of constant size (the deliverable's aspect, as large as the film allows), moving per shot."""

    width: int
    height: int
    windows: list[CropWindow]


class DeliveryPlan(BaseModel):
    deliverable: str
    framing: Literal["render", "crop"]
    width: int
    height: int
    fps: int
    max_seconds: float | None
    title_safe: float
    profile: str
    crop: CropPlan | None  # None: the film is already at this size (a `render` deliverable's own film)
    overlays: bool = True  # False: this file gets none of the storyboard's overlays
    file: str  # relative to the film's folder
    captions: Captions | None = None  # the film's captions burned in, in this style (only when `burn`)


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def crop_plan(deliverable: Deliverable, width: int, height: int, shots: list[Shot], starts: list[int]) -> CropPlan:
    """The crop of a `width` x `height` film for `deliverable`: the largest window of the deliverable's aspect, its
    centre on each shot's focus point (kept inside the frame), from that shot's first film frame in `starts`."""
    if width * deliverable.height > deliverable.width * height:  # the film is wider: full height
        crop_w, crop_h = min(width, _even(height * deliverable.width / deliverable.height)), height
    else:
        crop_w, crop_h = width, min(height, _even(width * deliverable.height / deliverable.width))
    windows = []
    for shot, start in zip(shots, starts):
        x = min(max(_even(shot.focus.x * width - crop_w / 2), 0), width - crop_w)
        y = min(max(_even(shot.focus.y * height - crop_h / 2), 0), height - crop_h)
        windows.append(CropWindow(start=start, x=x - x % 2, y=y - y % 2))
    return CropPlan(width=crop_w, height=crop_h, windows=windows)


def delivery_plan(deliverable: Deliverable, fps: int, file: str, crop: CropPlan | None) -> DeliveryPlan:
    return DeliveryPlan(
        deliverable=deliverable.name, framing=deliverable.framing, width=deliverable.width, height=deliverable.height,
        fps=deliverable.fps or fps, max_seconds=deliverable.max_seconds, title_safe=deliverable.title_safe,
        profile=deliverable.profile, crop=crop, file=file, overlays=deliverable.overlays,
        captions=deliverable.captions if deliverable.captions and deliverable.captions.burn else None,
    )
