"""Versions of one storyboard: variables (`vars:`, used as `${name}` in any text or path field) and variants
(`variants:`, named value sets or a matrix of them), each variant its own film.

Substitution itself happens at load (`variables.py`), before the substituted fields are validated.
"""

import itertools
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from PIL import Image, ImageFont
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from ..layout import CONTROLS, OVERLAYS, RETAKES, SEGMENTS, SHOTS
from .media_checks import image_problem, media_path

VAR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
VARIANT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# A matrix multiplies: 5 products x 10 languages x 10 markets is 500 films, which is already a night of renders.
MAX_VARIANTS = 500

VarName = Annotated[str, Field(pattern=VAR_NAME_PATTERN)]
# A value is text; YAML numbers and booleans are taken as written (`seed: ${seed}` then validates as a number).
VarValue = Annotated[str | int | float | bool, Field(description="Text put in place of `${name}`.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Variant(_Strict):
    """One named version of the film: its own values of the storyboard's variables."""

    name: str = Field(pattern=VARIANT_NAME_PATTERN, description="Names the variant's folder, `renders/<name>/<variant>/`.")
    vars: dict[VarName, VarValue] = Field(
        default_factory=dict, description="Values for `${name}`; they override the storyboard's `vars`."
    )


class Matrix(_Strict):
    """Every combination of the listed values, one variant each, named by its values joined with `-`."""

    matrix: dict[VarName, Annotated[list[VarValue], Field(min_length=1)]] = Field(
        min_length=1, description="Variable -> its values, e.g. `{product: [original, vanilla], lang: [en, de]}`."
    )

    @field_validator("matrix")
    @classmethod
    def _at_most_max(cls, matrix: dict[str, list]) -> dict[str, list]:
        films = 1
        for values in matrix.values():
            films *= len(values)
        if films > MAX_VARIANTS:
            sizes = " x ".join(str(len(values)) for values in matrix.values())
            raise ValueError(f"the matrix makes {films:,} films ({sizes}); at most {MAX_VARIANTS} per storyboard: "
                             "split it into several storyboards or list fewer values")
        return matrix


# A `render` deliverable's frames are generated at its size: LTX's VAE works in 32x32 pixel blocks.
RENDER_SIZE_STEP = 32
PROFILES = ("web-h264", "social-vertical", "master")
# Folders of a film's render folder (layout.py): a `render` deliverable's own film goes in a folder beside them.
RESERVED_FOLDERS = (SHOTS, SEGMENTS, RETAKES, CONTROLS, OVERLAYS)


class Focus(_Strict):
    """Where a shot's subject is, as fractions of the frame: what a `crop` deliverable keeps in view."""

    x: float = Field(0.5, description="0 = left edge, 1 = right edge.")
    y: float = Field(0.5, description="0 = top edge, 1 = bottom edge.")

    @field_validator("x", "y")
    @classmethod
    def _inside(cls, value: float, info: ValidationInfo) -> float:
        if not 0 <= value <= 1:
            raise ValueError(f"{value} is outside the frame: `focus.{info.field_name}` is a fraction of the frame, "
                             "from 0 (left or top) to 1 (right or bottom)")
        return value


COLOR_PATTERN = r"^#[0-9a-fA-F]{6}$"


def _hex_color(value: str, info: ValidationInfo) -> str:
    if not re.match(COLOR_PATTERN, value):
        raise ValueError(f"{value!r} is not a colour: `{info.field_name}` is written `#rrggbb` (e.g. \"#ffcc00\")")
    return value


def _image_file(value: Any, info: ValidationInfo) -> Any:
    return media_path(value, info, image_problem, "is not an image that can be read")


# A colour, `#rrggbb` (the schema says the pattern; the message says how to write it), and an image file next to
# the storyboard that Pillow can read: each field that takes one of them uses these.
HexColor = Annotated[str, AfterValidator(_hex_color), Field(json_schema_extra={"pattern": COLOR_PATTERN})]
ImageFile = Annotated[Path, BeforeValidator(_image_file)]


def font_problem(path: Path) -> str | None:
    """Why `path` is not a TrueType/OpenType font FreeType can load, or None."""
    try:
        ImageFont.truetype(str(path), size=12)
    except Exception as error:  # FreeType raises OSError; a missing file, FileNotFoundError
        return f"it does not load as a TrueType or OpenType font ({type(error).__name__})"
    return None


class Captions(_Strict):
    """The film's captions burned into a deliverable's picture, styled per deliverable (drawn by libass)."""

    burn: bool = Field(True, description="`false`: no captions in this file's picture (the .srt/.vtt still lie "
                       "beside the film).")
    font: Path | None = Field(None, description="A TrueType or OpenType font file, relative to the storyboard's folder. "
                              "Default: Aileron, the font Pillow ships (the same on every machine).")
    size: int | None = Field(None, ge=6, le=400, description="Text height in pixels at the deliverable's size. "
                             "Default: 1/20 of its smaller side.")
    color: HexColor = Field("#ffffff", description="Text colour, `#rrggbb`.")
    box: bool = Field(True, description="A box behind each line (`false`: an outline around the letters instead).")
    box_color: HexColor = Field("#000000", description="The box's (or outline's) colour.")
    box_opacity: float = Field(0.6, ge=0, le=1, description="0 = no box, 1 = opaque.")
    position: Literal["bottom", "top", "center"] = Field(
        "bottom", description="Where, inside the title-safe area (above the legal line when there is one).")
    margin: int = Field(8, ge=0, le=512, description="Pixels between the lines and the title-safe area's edge.")

    @field_validator("font", mode="before")
    @classmethod
    def _resolve_font(cls, value: Any, info: ValidationInfo) -> Any:
        return media_path(value, info, font_problem, "is not a font file")


class Deliverable(_Strict):
    """One file per film at a size of its own: the shots generated at that size (`render`: the model frames them)
    or cropped from the film around each shot's `focus` (`crop`)."""

    name: str = Field(pattern=VARIANT_NAME_PATTERN, description="Names the file: `<name>_<variant>_<deliverable>.mp4`.")
    framing: Literal["render", "crop"] = Field(
        "crop", description="`render`: every shot generated at this size (its own renders, shared with any other "
        "film of that size); `crop`: cropped from the film around each shot's `focus` and scaled, no render.",
    )
    width: int = Field(ge=32, le=4096, description="Pixels. `render`: a multiple of 32; `crop`: even.")
    height: int = Field(ge=32, le=4096, description="Pixels. `render`: a multiple of 32; `crop`: even.")
    fps: int | None = Field(None, ge=1, le=120, description="Frame rate of the file. Default: the film's.")
    max_seconds: float | None = Field(None, gt=0, description="Cut the file at this length. Default: the whole film.")
    title_safe: float = Field(
        0.9, gt=0.5, le=1, description="The title-safe area, as a fraction of the width and height (centred): "
        "overlays are kept inside it.",
    )
    profile: Literal[PROFILES] = Field("web-h264", description="The delivery profile its file is encoded with.")
    overlays: bool = Field(True, description="`false`: no overlays on this file (a clean master).")
    captions: Captions | None = Field(None, description="Burn the film's captions into this file's picture.")

    @field_validator("width", "height")
    @classmethod
    def _size_step(cls, value: int, info: ValidationInfo) -> int:
        step = RENDER_SIZE_STEP if info.data.get("framing") == "render" else 2
        if value % step:
            below = value // step * step
            why = ("`framing: render` generates frames at this size, in 32-pixel blocks" if step == RENDER_SIZE_STEP
                   else "H.264 needs even sizes")
            raise ValueError(f"{value} is not a multiple of {step} ({why}); the nearest valid sizes are {below} and "
                             f"{below + step}")
        return value


Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right", "center"]


class Logo(_Strict):
    """A logo image over every deliverable, at its own pixel size, inside the title-safe area."""

    image: ImageFile = Field(description="An image (PNG with transparency is best), relative to the storyboard's folder.")
    position: Corner = Field("top-right", description="Where, inside the title-safe area.")
    margin: int = Field(8, ge=0, le=512, description="Pixels between the logo and the title-safe area's edge.")
    opacity: float = Field(1.0, ge=0, le=1, description="0 = invisible, 1 = as the image is.")
    start: float = Field(0.0, ge=0, description="Seconds from the start when it appears.")
    end: float | None = Field(None, gt=0, description="Seconds from the start when it goes. Default: the end.")


class EndCard(_Strict):
    """The last seconds of every deliverable: a colour or an image, with a line of text."""

    seconds: float = Field(gt=0, le=60, description="How long it lasts, at the end.")
    color: HexColor = Field("#000000", description="Background colour, `#rrggbb`.")
    image: ImageFile | None = Field(None, description="Background image (scaled to cover the frame) instead of the colour.")
    text: str | None = Field(None, min_length=1, description="A line of text, centred.")


class Legal(_Strict):
    """A legal line along the bottom of the title-safe area, for the whole film."""

    text: str = Field(min_length=1, description="The line (small print).")
    size: int = Field(14, ge=6, le=200, description="Text height in pixels at the deliverable's size.")


class Overlays(_Strict):
    """What is drawn over every deliverable (with Pillow) and composited in its one encode pass."""

    logo: Logo | None = None
    end_card: EndCard | None = None
    legal: Legal | None = None


def overlay_problems(overlays: Overlays | None, sizes: list[tuple[str, int, int]]) -> list[tuple[tuple, str]]:
    """A logo larger than a frame it goes on, as (location, message); `sizes` names each frame (deliverable or
    film) with its width and height."""
    if overlays is None or overlays.logo is None:
        return []
    with Image.open(overlays.logo.image) as image:
        width, height = image.size
    for name, frame_width, frame_height in sizes:
        if width > frame_width or height > frame_height:
            return [(("overlays", "logo", "image"), f"the logo is {width}x{height}, larger than the {frame_width}x"
                                                      f"{frame_height} frame of {name}; scale it down")]
    return []


def variant_name(values: list[Any]) -> str:
    """A matrix variant's name: its values, lowercased, each reduced to letters, digits, `_` and `-`, joined by `-`."""
    parts = [re.sub(r"[^a-z0-9_-]+", "-", str(value).lower()).strip("-") or "x" for value in values]
    return "-".join(parts)[:64].rstrip("-")


def expand_variants(variants: "list[Variant] | Matrix | None") -> list[Variant]:
    """The variants as a list of named value sets (a matrix expanded in the order its values are listed)."""
    if variants is None:
        return []
    if isinstance(variants, Matrix):
        names = list(variants.matrix)
        return [Variant(name=variant_name(list(combination)), vars=dict(zip(names, combination)))
                for combination in itertools.product(*variants.matrix.values())]
    return list(variants)


def values_text(value: Any) -> str:
    """A variable's value as it is put into text: YAML's `true`/`false` for booleans, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def value_sets(data: dict) -> tuple[list[tuple[str | None, dict[str, Any]]], list[tuple[tuple, str]], set[str]]:
    """From a storyboard's raw data: (variant name or None, the variables' values) for every film it makes, the
    problems of `variants:` the models do not see (two variants of one name), as (location, message), and the names
    an invalid `variants:` section sets (the loader does not call them unknown).

    Sections that do not validate count as absent here: validating the storyboard reports them.
    """
    try:
        base = TypeAdapter(dict[VarName, VarValue]).validate_python(data.get("vars") or {})
    except ValidationError:
        base = {}
    raw = data.get("variants")
    try:
        variants = expand_variants(_VARIANTS.validate_python(raw)) if raw is not None else []
    except ValidationError:
        return [(None, base)], [], _names_in(raw)
    if not variants:
        return [(None, base)], [], set()
    problems, seen = [], {}
    for index, variant in enumerate(variants):
        where = ("variants", "matrix") if isinstance(raw, dict) else ("variants", index, "name")
        if variant.name in RESERVED_FOLDERS:
            problems.append((where, f"a variant named `{variant.name}` would share a folder name ltx-flows writes "
                                    "under a film's render folder; choose another name"))
        if variant.name in seen:
            problems.append((where, f"two variants are named `{variant.name}` (the first is variant {seen[variant.name] + 1}); "
                                    "each variant needs a name of its own"))
        seen.setdefault(variant.name, index)
    return [(variant.name, {**base, **variant.vars}) for variant in variants], problems, set()


def _names_in(raw: Any) -> set[str]:
    """The variable names a `variants:` section sets, read without validating it."""
    if isinstance(raw, dict) and isinstance(raw.get("matrix"), dict):
        return {str(name) for name in raw["matrix"]}
    if isinstance(raw, list):
        return {str(name) for item in raw if isinstance(item, dict) and isinstance(item.get("vars"), dict)
                for name in item["vars"]}
    return set()


Variants = list[Variant] | Matrix
_VARIANTS = TypeAdapter(Variants)


def variants_errors(errors: list[dict], data: dict) -> list[dict]:
    """Pydantic's errors with those of `variants:` told as its form is written: a list is checked as a list of
    variants, a mapping as a matrix, and the union member's name pydantic puts in the location is taken out."""
    raw = data.get("variants")
    kept = []
    for error in errors:
        loc = tuple(error["loc"])
        if loc[:1] == ("variants",) and len(loc) > 1 and loc[1] in ("list[Variant]", "Matrix"):
            written = "Matrix" if isinstance(raw, dict) else "list[Variant]"
            if loc[1] != written and isinstance(raw, (dict, list)):
                continue
            error = {**error, "loc": (loc[0], *loc[2:])}
        kept.append(error)
    return kept


def _braced_captions(storyboard: Any) -> list[tuple[tuple, str]]:
    """Caption text with `{` or `}`, where captions are burned in: libass reads `{...}` as style overrides and draws
    nothing of it (and this libass draws `\\{` with its backslash), so the words would silently go missing."""
    texts = []
    for index, shot in enumerate(storyboard.shots):
        texts.append((("shots", index, "caption"), shot.caption))
        texts.append((("shots", index, "voice", "text"), getattr(shot.voice, "text", None)))
        texts += [(("shots", index, "retakes", number, "voice", "text"), getattr(retake.voice, "text", None))
                  for number, retake in enumerate(shot.retakes)]
    return [(loc, "a caption burned into a deliverable cannot hold `{` or `}` (libass reads braces as style "
                  "overrides and drops the words between them): write it without braces, e.g. with ( )")
            for loc, text in texts if text and ("{" in text or "}" in text)]


def version_rules(storyboard: Any) -> list[tuple[tuple, str]]:
    """Rules between a validated storyboard's deliverables and overlays, as (location, message)."""
    problems, seen = [], set()
    for index, deliverable in enumerate(storyboard.deliverables):
        if deliverable.framing == "render" and deliverable.name in RESERVED_FOLDERS:
            problems.append((("deliverables", index, "name"),
                             f"`{deliverable.name}` names a folder ltx-flows writes beside it "
                             f"({', '.join(RESERVED_FOLDERS)}); choose another name"))
        if deliverable.name in seen:
            problems.append((("deliverables", index, "name"),
                             f"two deliverables are named `{deliverable.name}`; each needs a name of its own"))
        seen.add(deliverable.name)
    if not any(shot.caption or any(r.voice and r.voice.text for r in shot.retakes) for shot in storyboard.shots):
        problems += [(("deliverables", index, "captions"), "the film has no captions to burn in: give its shots a "
                      "`caption:` (or a voiced retake a `text:`), or remove `captions`")
                     for index, d in enumerate(storyboard.deliverables) if d.captions and d.captions.burn]
    if any(d.captions and d.captions.burn for d in storyboard.deliverables):
        problems += _braced_captions(storyboard)
    sizes = [(f"deliverable `{d.name}`", d.width, d.height) for d in storyboard.deliverables if d.overlays] or [
        ("the film", storyboard.output.width, storyboard.output.height)]
    return problems + overlay_problems(storyboard.overlays, sizes)
