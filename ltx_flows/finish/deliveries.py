"""A film's deliverables: each file encoded from the finished film in one pass (crop or scale, frame rate, length
cap, the overlays drawn with Pillow for its size), checked against its profile, and listed in the manifest."""

from pathlib import Path

from ..files import file_sha256, json_sha256
from ..layout import FilmFolder
from ..media.burned_captions import BurnedCaptions, CaptionLook, write_burned_captions
from ..media.captions import caption_paths
from ..media.delivery import CropAt, Delivery, deliver
from ..media.overlays import OverlayLayer, SafeArea, end_card_layer, legal_layer, logo_layer
from ..media.read import probe
from ..plan.deliveries import DeliveryPlan
from ..plan.planner import RenderPlan


def make_deliveries(plan: RenderPlan, film_dir: Path, film: Path) -> list[dict]:
    """Encode every deliverable of the film; their manifest entries (empty without `deliverables:`)."""
    if not plan.deliveries:
        return []
    seconds = probe(film).duration
    entries = []
    for delivery_plan in plan.deliveries:
        out = (film_dir / delivery_plan.file).resolve()
        length = seconds if delivery_plan.max_seconds is None else min(seconds, delivery_plan.max_seconds)
        layers = _layers(plan, delivery_plan, FilmFolder(film_dir).overlays, length)
        crop = delivery_plan.crop
        delivery = Delivery(
            width=delivery_plan.width, height=delivery_plan.height, fps=delivery_plan.fps, profile=delivery_plan.profile,
            max_seconds=delivery_plan.max_seconds, crop_width=crop.width if crop else None,
            crop_height=crop.height if crop else None,
            crops=[CropAt(start=w.start, x=w.x, y=w.y) for w in crop.windows] if crop else [], overlays=layers,
            captions=_burned(plan, delivery_plan, FilmFolder(film_dir).overlays, film),
            loudness=plan.output.loudness, true_peak=plan.output.true_peak,
        )
        check = deliver(film, out, delivery)
        entries.append({
            "inputs": delivery_inputs(plan, delivery_plan, film), "deliverable": delivery_plan.deliverable, "variant": plan.variant, "framing": delivery_plan.framing,
            "path": str(out), "width": delivery_plan.width, "height": delivery_plan.height, "fps": delivery_plan.fps,
            "profile": delivery_plan.profile, "sha256": file_sha256(out), "check": check.as_dict(),
            "overlays": [layer.image.name for layer in layers],
            **({"captions": delivery.captions.script.name} if delivery.captions else {}),
        })
    return entries


def _layers(plan: RenderPlan, delivery: DeliveryPlan, folder: Path, seconds: float) -> list[OverlayLayer]:
    """The overlay images of one deliverable, drawn at its size into `folder`."""
    overlays = plan.overlays
    if overlays is None or not delivery.overlays:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    area = SafeArea(width=delivery.width, height=delivery.height, fraction=delivery.title_safe)
    name = delivery.deliverable
    layers = []
    if overlays.end_card is not None:
        card = overlays.end_card
        layers.append(end_card_layer(folder / f"{name}-end-card.png", area, card.color, card.image, card.text,
                                     start=max(0.0, seconds - card.seconds)))
    if overlays.logo is not None:
        logo = overlays.logo
        layers.append(logo_layer(logo.image, folder / f"{name}-logo.png", area, logo.position, logo.margin,
                                 logo.opacity, logo.start, logo.end))
    if overlays.legal is not None:
        layers.append(legal_layer(folder / f"{name}-legal.png", area, overlays.legal.text, overlays.legal.size))
    return layers


def _burned(plan: RenderPlan, delivery: DeliveryPlan, folder: Path, film: Path) -> BurnedCaptions | None:
    """The film's caption track restyled for one deliverable (its size, title-safe area, style), or None."""
    style = delivery.captions
    if style is None:
        return None
    track = caption_paths(film)[0]
    if not track.is_file():
        raise RuntimeError(f"deliverable {delivery.deliverable} burns in captions, but the film has none ({track} "
                           "is missing): give its shots a `caption:`")
    folder.mkdir(parents=True, exist_ok=True)
    left, top, right, bottom = SafeArea(width=delivery.width, height=delivery.height, fraction=delivery.title_safe).box
    legal = plan.overlays.legal if plan.overlays and delivery.overlays else None
    above_legal = legal.size * 2 if legal else 0  # the legal line's band (media/overlays.legal_layer)
    look = CaptionLook(
        size=style.size or max(6, min(delivery.width, delivery.height) // 20), color=style.color, box=style.box,
        box_color=style.box_color, box_opacity=style.box_opacity, position=style.position, font=style.font,
        left=left + style.margin, right=delivery.width - right + style.margin, top=top + style.margin,
        bottom=delivery.height - bottom + style.margin + above_legal,
    )
    return write_burned_captions(track, folder / f"{delivery.deliverable}-captions.ass", delivery.width,
                                 delivery.height, look)


def delivery_inputs(plan: RenderPlan, delivery: DeliveryPlan, film: Path) -> str:
    """A hash of everything a deliverable's file is made from besides the film: its plan, the overlays and their
    images' bytes, and (only where burned in) the film's caption track and font, so a changed line re-encodes it."""
    overlays = plan.overlays.model_dump(mode="json") if plan.overlays else None
    images = [image for image in (plan.overlays.logo and plan.overlays.logo.image,
                                  plan.overlays.end_card and plan.overlays.end_card.image) if image] if plan.overlays else []
    planned = delivery.model_dump(mode="json")
    found = {"delivery": planned, "overlays": overlays, "images": [file_sha256(image) for image in images]}
    if planned.pop("captions") is not None:  # a deliverable without burned captions hashes as before
        track = caption_paths(film)[0]
        found["captions"] = {"style": delivery.captions.model_dump(mode="json"),
                             "track": file_sha256(track) if track.is_file() else None,
                             "font": file_sha256(delivery.captions.font) if delivery.captions.font else None}
    return json_sha256(found)


def current_deliveries(plan: RenderPlan, film_dir: Path, film: Path, stitched: bool, manifest: dict | None) -> list[dict]:
    """The deliverables' manifest entries: those of the last manifest when the film was kept and every file is still
    the one it lists, made from the same inputs; else every deliverable encoded again."""
    kept = (manifest or {}).get("deliveries")
    planned = [(delivery_inputs(plan, d, film), str((film_dir / d.file).resolve())) for d in plan.deliveries]
    if not stitched and isinstance(kept, list) and [(e.get("inputs"), e.get("path")) for e in kept] == planned \
            and all(Path(e["path"]).is_file() and file_sha256(Path(e["path"])) == e.get("sha256") for e in kept):
        return kept
    return make_deliveries(plan, film_dir, film)
