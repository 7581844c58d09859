"""A film's look (its LoRAs, camera moves and cast) in what a render leaves: the manifest's record of each shot's
LoRAs and cast (`shot_look`), and on the review page a sheet of the film's characters (`cast_sheet`) and who is in
each shot (`shot_cast`).

A character's card shows its name, who it is (`about`), its trigger words, its LoRA and strength, and its reference
pictures as small thumbnails embedded in the page (the pictures live beside the storyboard, not the render).
"""

import io
from html import escape

from PIL import Image

from ..media.thumbnails import data_uri
from ..plan.planner import RenderPlan, ShotPlan

_THUMB = 160  # px, the longer side of a reference picture's thumbnail


def shot_look(shot: ShotPlan) -> dict:
    """The manifest's record of a shot's LoRAs (file, strength, where from, a local file's sha256) and cast; {} for a
    shot with neither, so its record is as before."""
    if not shot.loras and not shot.cast:
        return {}
    return {"loras": [lora.model_dump(mode="json") for lora in shot.loras], "cast": shot.cast}


def cast_sheet(plan: RenderPlan) -> str:
    """The cast sheet section, or "" for a film without a cast."""
    if not plan.cast:
        return ""
    cards = []
    for name, character in plan.cast.items():
        shots = [shot.id for shot in plan.shots if name in shot.cast]
        facts = [f"in {', '.join(escape(s) for s in shots) or 'no shot'}"]
        if character.trigger:
            facts.append(f"trigger <code>{escape(character.trigger)}</code>")
        if character.lora:
            facts.append(f"LoRA <code>{escape(character.lora.file)}</code> at {character.lora.strength:g}")
        if character.pictures:
            facts.append(f"reference picture at strength {character.picture_strength:g} on each shot's first frame")
        pictures = "".join(_thumbnail(path) for path in character.pictures)
        cards.append(
            f'<div class="character" data-name="{escape(name)}"><h3>{escape(name)}</h3>'
            + (f"<p>{escape(character.about)}</p>" if character.about else "")
            + f'<p class="facts">{" · ".join(facts)}</p><div class="pictures">{pictures}</div></div>'
        )
    return '<section id="cast"><h2>Cast</h2>' + "".join(cards) + "</section>"


def shot_cast(shot: ShotPlan) -> str:
    """Who is in `shot`, as a line of its article; "" when nobody is named."""
    if not shot.cast:
        return ""
    return f'<p class="cast" data-shot="{escape(shot.id)}">cast: {", ".join(escape(name) for name in shot.cast)}</p>'


def _thumbnail(path) -> str:
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((_THUMB, _THUMB))
            data = io.BytesIO()
            image.save(data, format="JPEG", quality=85)
    except OSError:  # moved or deleted since validation: say so on the sheet
        return f'<span class="missing">{escape(path.name)} (not found)</span>'
    return f'<img src="{data_uri(data.getvalue())}" alt="{escape(path.name)}" title="{escape(path.name)}">'
