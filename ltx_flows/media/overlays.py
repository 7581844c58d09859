"""Overlays drawn with Pillow at a deliverable's size (a logo, an end card, a legal line), each an RGBA image
that ffmpeg's `overlay` filter composites over the picture between its start and end, in the deliverable's one
encode pass (media/delivery.py)."""

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont


@dataclass(frozen=True)
class OverlayLayer:
    """An RGBA image placed at (x, y) of the frame from `start` to `end` seconds (None: to the end)."""

    image: Path
    x: int
    y: int
    start: float = 0.0
    end: float | None = None


@dataclass(frozen=True)
class SafeArea:
    """The title-safe area of a width x height frame: `fraction` of each side, centred."""

    width: int
    height: int
    fraction: float

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) in pixels."""
        left, top = round(self.width * (1 - self.fraction) / 2), round(self.height * (1 - self.fraction) / 2)
        return left, top, self.width - left, self.height - top


def overlay_filters(layers: list[OverlayLayer], base: str, first_input: int) -> tuple[list[str], str]:
    """ffmpeg filters compositing `layers` (inputs first_input, first_input + 1, ...) over the picture `base`:
    (the filters, the label of the result)."""
    filters, label = [], base
    for index, layer in enumerate(layers):
        window = f"between(t\\,{layer.start:.6f}\\,{layer.end:.6f})" if layer.end is not None else f"gte(t\\,{layer.start:.6f})"
        out = f"ov{index}"
        filters.append(f"[{label}][{first_input + index}:v]overlay=x={layer.x}:y={layer.y}:shortest=1:"
                       f"enable='{window}'[{out}]")
        label = out
    return filters, label


def logo_layer(image: Path, out: Path, area: SafeArea, position: str, margin: int, opacity: float,
               start: float, end: float | None) -> OverlayLayer:
    """The logo at its own pixel size with `opacity` applied, placed at `position` inside the safe area."""
    with Image.open(image) as source:
        logo = source.convert("RGBA")
    if opacity < 1:
        alpha = logo.getchannel("A").point(lambda value: round(value * opacity))
        logo.putalpha(alpha)
    logo.save(out)
    left, top, right, bottom = area.box
    x = {"left": left + margin, "right": right - margin - logo.width}
    y = {"top": top + margin, "bottom": bottom - margin - logo.height}
    if position == "center":
        at = ((area.width - logo.width) // 2, (area.height - logo.height) // 2)
    else:
        vertical, horizontal = position.split("-")
        at = (x[horizontal], y[vertical])
    return OverlayLayer(image=out, x=max(0, at[0]), y=max(0, at[1]), start=start, end=end)


def _font(size: int) -> ImageFont.FreeTypeFont:
    # Pillow's own font (Aileron, shipped with Pillow >= 10.1): the same on every machine, no system fonts needed.
    return ImageFont.load_default(size=size)


def end_card_layer(out: Path, area: SafeArea, color: str, image: Path | None, text: str | None, start: float) -> OverlayLayer:
    """A full frame: the colour (or the image, scaled to cover the frame) and a centred line of text."""
    card = Image.new("RGBA", (area.width, area.height), color)
    if image is not None:
        with Image.open(image) as source:
            scale = max(area.width / source.width, area.height / source.height)
            cover = source.convert("RGBA").resize((max(1, round(source.width * scale)), max(1, round(source.height * scale))))
        card.paste(cover, ((area.width - cover.width) // 2, (area.height - cover.height) // 2))
    if text:
        left, top, right, bottom = area.box
        _centred_text(card, text, size=max(8, (bottom - top) // 10), width=right - left, middle=area.height // 2)
    card.save(out)
    return OverlayLayer(image=out, x=0, y=0, start=start, end=None)


def legal_layer(out: Path, area: SafeArea, text: str, size: int) -> OverlayLayer:
    """The legal line, centred along the bottom of the safe area, on a transparent band."""
    left, top, right, bottom = area.box
    band = Image.new("RGBA", (area.width, size * 2), (0, 0, 0, 0))
    _centred_text(band, text, size=size, width=right - left, middle=size)
    band.save(out)
    return OverlayLayer(image=out, x=0, y=max(0, bottom - size * 2), start=0.0, end=None)


def _centred_text(canvas: Image.Image, text: str, size: int, width: int, middle: int) -> None:
    """Draw `text` centred at height `middle`, white with a dark outline, shrunk until it fits `width`."""
    draw = ImageDraw.Draw(canvas)
    while True:
        font = _font(size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=max(1, size // 12))
        if right - left <= width or size <= 6:
            break
        size -= 1
    x = (canvas.width - (right - left)) // 2 - left
    y = middle - (bottom - top) // 2 - top
    draw.text((x, y), text, font=font, fill=(255, 255, 255, 255), stroke_width=max(1, size // 12),
              stroke_fill=(0, 0, 0, 255))
