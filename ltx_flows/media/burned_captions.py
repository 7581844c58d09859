"""Captions burned into a deliverable's picture: the film's caption track (its .srt, times in film time) restyled
with pysubs2 as an ASS script at the deliverable's size, drawn by libass (ffmpeg's `ass` filter) in the
deliverable's one encode pass (media/delivery.py).

The font goes in a folder of its own that libass loads (`fontsdir`), so the look does not depend on the fonts a
machine has installed; the default is Aileron, the font Pillow ships (the overlays' font, media/overlays.py).
"""

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

from ..files import write_atomic

# Names ffmpeg's filter graph can take as they are (it runs in their folder): nothing to escape.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_ALIGNMENT = {"bottom": 2, "center": 5, "top": 8}  # ASS numpad alignments, centred horizontally


@dataclass(frozen=True)
class CaptionLook:
    """How burned captions look in one deliverable: pixels at its size; margins from the frame's edges."""

    size: int
    color: str  # "#rrggbb"
    box: bool  # a box behind each line; else an outline around the letters
    box_color: str
    box_opacity: float
    position: str  # "bottom" | "center" | "top"
    left: int
    right: int
    top: int
    bottom: int
    font: Path | None = None  # None: Aileron


@dataclass(frozen=True)
class BurnedCaptions:
    """An ASS script and the folder holding its font, side by side (ffmpeg runs in their folder)."""

    script: Path
    fonts: Path

    def filter(self) -> str:
        """The `ass` filter drawing them (relative names: ffmpeg runs in `script`'s folder)."""
        return f"ass=filename={self.script.name}:fontsdir={self.fonts.name}"


def _color(hex_color: str, opacity: float = 1.0):
    import pysubs2

    red, green, blue = (int(hex_color[index:index + 2], 16) for index in (1, 3, 5))
    return pysubs2.Color(red, green, blue, round((1 - opacity) * 255))  # ASS alpha: 0 is opaque


def _install_font(look: CaptionLook, fonts: Path) -> str:
    """Put the font (alone) in `fonts`; its family name, which the script's style asks for."""
    if fonts.exists():
        shutil.rmtree(fonts)
    fonts.mkdir(parents=True)
    if look.font is None:
        font = ImageFont.load_default(size=look.size)
        (fonts / "Aileron-Regular.ttf").write_bytes(font.font_bytes)
    else:
        font = ImageFont.truetype(str(look.font), size=look.size)
        shutil.copyfile(look.font, fonts / f"font{look.font.suffix.lower() or '.ttf'}")
    return font.getname()[0]


def write_burned_captions(track: Path, script: Path, width: int, height: int, look: CaptionLook) -> BurnedCaptions:
    """Restyle the caption `track` (.srt or .vtt) for a `width` x `height` picture into the ASS `script`, its font
    beside it in `<script stem>-fonts/`."""
    import pysubs2

    for name in (script.name, f"{script.stem}-fonts"):
        if not _PLAIN_NAME.match(name):
            raise ValueError(f"{name!r}: a burned captions file needs a plain name (letters, digits, `_.-`)")
    fonts = script.with_name(f"{script.stem}-fonts")
    family = _install_font(look, fonts)
    subtitles = pysubs2.load(str(track))
    subtitles.info.update({"PlayResX": str(width), "PlayResY": str(height), "WrapStyle": "0",
                           "ScaledBorderAndShadow": "yes"})
    box = _color(look.box_color, look.box_opacity)
    subtitles.styles = {"Default": pysubs2.SSAStyle(
        fontname=family, fontsize=look.size, primarycolor=_color(look.color), outlinecolor=box, backcolor=box,
        bold=False, borderstyle=3 if look.box else 1,  # 3: an opaque box (its colour libass takes from the outline)
        outline=max(1, look.size // 5) if look.box else max(1, look.size // 12), shadow=0,
        alignment=pysubs2.Alignment(_ALIGNMENT[look.position]), marginl=look.left, marginr=look.right,
        marginv=look.top if look.position == "top" else look.bottom,
    )}
    for event in subtitles.events:
        event.style = "Default"
    text = subtitles.to_string("ass")
    write_atomic(script, lambda partial: partial.write_text(text, encoding="utf-8"))
    return BurnedCaptions(script=script, fonts=fonts)
