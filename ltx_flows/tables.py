"""The tables the command line prints: a storyboard's plan (shots, long-take segments, retakes, pipeline calls)
and the model presets. Each fits the terminal's width or becomes one block per row, so nothing a user copies
is ever cut."""

from dataclasses import dataclass
from pathlib import Path

from rich.table import Table
from rich.text import Text

from .plan.enhance import cached_enhancement
from .plan.planner import RenderPlan, RetakePlan, ShotPlan
from .plan.versions import film_entries, unique_shots


@dataclass(frozen=True)
class _Column:
    name: str
    whole: bool = False  # ids, numbers and ranges: never wrapped, folded only where nothing else can give


# A column whose text wraps still needs this many characters to read (a prompt, a list of keyframes).
_READABLE = 16


def _field_block(pairs: list[tuple[str, Text]]) -> Table:
    """A `field  value` line each, the value folded where it is longer than the line (never cut)."""
    block = Table.grid(padding=(0, 2))
    block.add_column(no_wrap=True, style="bold")
    block.add_column(overflow="fold")
    for name, value in pairs:
        block.add_row(name, value)
    return block


def _kwargs_text(kwargs: dict) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in kwargs.items())


def _table_or_blocks(title: str, columns: list[_Column], rows: list[list[str]], width: int,
                     caption: str | None = None) -> list:
    """A table, when its whole values and a readable width of the rest fit in `width` columns; else one block per row,
    a `column  value` line each, so nothing a user copies is cut and no column shrinks to a few letters.

    Every cell becomes Text here: user text (prompts, file names) is never read as rich markup."""
    title, caption = Text(title), Text(caption) if caption else None
    rows = [[Text(cell) for cell in row] for row in rows]
    natural = [max([len(column.name), *(cell.cell_len for cell in cells)])
               for column, cells in zip(columns, zip(*rows, strict=True) if rows else [()] * len(columns))]
    widths = [size if column.whole else min(size, _READABLE) for column, size in zip(columns, natural)]
    if sum(widths) + 3 * len(columns) + 1 <= width:  # borders and padding: 3 a column, 1 at the end
        table = Table(title=title, caption=caption)
        for column in columns:
            table.add_column(column.name, no_wrap=column.whole, overflow="fold")
        for row in rows:
            table.add_row(*row)
        return [table]
    blocks: list = [Text.assemble("\n", title, style="table.title")]
    for row in rows:
        blocks += [_field_block([(column.name, cell) for column, cell in zip(columns, row)]), Text("")]
    return blocks + ([caption] if caption else [])


def calls_table(render_plan: RenderPlan, width: int) -> list:
    """Each pipeline call of a shot and its keyword arguments (what `plan --json` lists under `calls`), and the
    GPU memory estimate."""
    vram = render_plan.vram
    caption = (
        f"GPU memory, estimate (bf16, longest shot, {vram.tokens} tokens): ~{vram.resident_gb:g} GB resident, "
        f"~{vram.model_offload_gb:g} GB with cpu_offload, ~{vram.fp8_offload_gb:g} GB with fp8 weights too, "
        f"~{vram.sequential_offload_gb:g} GB with sequential offload"
        if vram else
        f"GPU memory, estimate: none for checkpoint {render_plan.model.checkpoint} (the estimate needs a preset's "
        "model size: set `model.preset`)"
    )
    # A shot's own LoRAs (film, cast, shot, camera: the shots table lists them) go on every call, beside the call's.
    looks = any(shot.loras for shot in render_plan.shots)
    rows = [[call.step, call.pipeline, _kwargs_text({**call.kwargs, **call.extras()}),
             " + ".join([*([call.lora] if call.lora else []), *(["the shot's LoRAs"] if looks else [])]) or "-"]
            for call in render_plan.calls]
    columns = [_Column("step", whole=True), _Column("pipeline", whole=True), _Column("keyword arguments"),
               _Column("LoRA", whole=True)]
    return _table_or_blocks("pipeline calls per shot (besides prompt, frames, conditions and tensors)", columns,
                            rows, width, caption)


def plan_table(render_plan: RenderPlan, width: int) -> list:
    output = render_plan.output
    title = (
        f"{render_plan.name}: {output.width}x{output.height} @ {output.fps} fps, "
        f"{render_plan.film_frames} frames ({render_plan.film_seconds:.2f}s), model {render_plan.model.family} "
        f"{render_plan.model.checkpoint}{', two-pass' if render_plan.model.two_pass else ''}, sound: {render_plan.audio}"
    )
    columns = [_Column("shot", whole=True), _Column("frames (asked -> rendered)"), _Column("seconds", whole=True),
               _Column("seed", whole=True), _Column("keyframes"), _Column("control"), _Column("into next"),
               _Column("content hash", whole=True)]
    looks = any(shot.loras for shot in render_plan.shots)  # the column only where a shot has LoRAs
    if looks:
        columns.insert(-1, _Column("LoRAs (on every call)"))
    if render_plan.voiced:  # only films with a voice get the column
        columns.insert(-1, _Column("voice"))
    rows = []
    for shot in render_plan.shots:
        # LTX-2 moves keyframes onto its latent grid: show where each one lands.
        keyframes = ", ".join(
            f"{k.image.name}@{k.frame}" + (f" (at {k.model_frame})" if k.model_frame != k.frame else "")
            for k in shot.keyframes
        ) or "-"
        control = f"{shot.control.kind} {shot.control.source.name}" if shot.control else "-"
        join = f"crossfade {shot.crossfade_frames}f" if shot.transition == "crossfade" else "cut"
        frames = f"{shot.requested_frames} -> {shot.frames}" + (f" in {len(shot.segments)} segments" if shot.segments else "")
        rows.append([
            shot.id, frames, f"{shot.seconds:.2f}", str(shot.seed), keyframes, control,
            join if shot is not render_plan.shots[-1] else "-", shot.content_hash[:12],
        ])
        if looks:
            rows[-1].insert(-1, ", ".join(f"{lora.file.rsplit('/', 1)[-1]} {lora.strength:g}" for lora in shot.loras) or "-")
        if render_plan.voiced:
            rows[-1].insert(-1, shot.voice.describe() if shot.voice else "-")
    return _table_or_blocks(title, columns, rows, width)


def enhance_table(render_plan: RenderPlan, film_dir: Path, width: int) -> list:
    """The shots whose prompt the model's enhancer rewrites first, with the text cached in `film_dir` so far."""
    shots = [shot for shot in render_plan.shots if shot.enhance]
    if not shots:
        return []
    columns = [_Column("shot", whole=True), _Column("enhancer (system prompt, seed)"), _Column("enhanced prompt")]
    rows = [[shot.id, f"{shot.enhance.system_prompt}, {shot.enhance.seed}",
             cached_enhancement(film_dir, shot.enhance) or "(enhanced when rendered; `ltx-flows enhance` shows it now)"]
            for shot in shots]
    return _table_or_blocks(f"prompts enhanced first ({film_dir}/enhanced/)", columns, rows, width)


def _blended_back(r: RetakePlan) -> str:
    """The frames blended back at each edge of a retake's window (a window that runs to the shot's end has none
    after it)."""
    edges = [f"{start}-{end - 1}" for start, end in ((r.blend_start, r.start), (r.end, r.blend_end)) if end > start]
    return ", ".join(edges) or "-"


def retakes_table(shot: ShotPlan, width: int) -> list:
    columns = [_Column("retake", whole=True), _Column("window (shot frames)"), _Column("generated"),
               _Column("held as conditions"), _Column("blended back"), _Column("seed", whole=True), _Column("sound"),
               _Column("prompt"), _Column("content hash", whole=True)]
    rows = []
    for r in shot.retakes:
        held = ", ".join(
            f"{h.first_frame}-{h.last_frame} at {h.at}" + (f" (latent {h.latent_index})" if h.latent_index is not None else "")
            for h in r.held
        ) or "-"
        rows.append([
            f"{r.index + 1}/{len(shot.retakes)}", f"{r.start}-{r.end - 1} ({r.end - r.start})",
            f"{r.clip_start}-{r.clip_start + r.clip_frames - 1} ({r.clip_frames})", held, _blended_back(r),
            str(r.seed), "regenerated" if r.sound else "kept", r.prompt, r.content_hash[:12],
        ])
    title = f"retakes of {shot.id}, applied in order on top of its render ({shot.frames} frames)"
    return _table_or_blocks(title, columns, rows, width)


def segments_table(shot: ShotPlan, width: int) -> list:
    title = (
        f"long take {shot.id}: {len(shot.segments)} segments, {shot.overlap} frames shared at each join, "
        f"{shot.frames} frames in all"
    )
    columns = [_Column("segment", whole=True), _Column("shot frames"), _Column("seed", whole=True),
               _Column("continues frames"), _Column("keyframes (local frame)"), _Column("prompt"),
               _Column("content hash", whole=True)]
    rows = []
    for segment in shot.segments:
        condition = segment.condition
        tail = f"{condition.first_frame}-{condition.last_frame} @ {condition.strength:g}" if condition else "-"
        keyframes = ", ".join(f"{k.image.name}@{k.frame}" for k in segment.keyframes) or "-"
        rows.append([
            f"{segment.index + 1}/{len(shot.segments)}", f"{segment.start}-{segment.start + segment.frames - 1} "
            f"({segment.frames})", str(segment.seed), tail, keyframes, segment.prompt, segment.content_hash[:12],
        ])
    return _table_or_blocks(title, columns, rows, width)


def presets_blocks(found: list[dict]) -> list:
    """One block per preset, a `field  value` line each: hub ids are longer than any table column at 80-120
    columns, and a name or id a user copies must never be cut (a value too long for the line folds)."""
    parts: list = [Text("model presets (`model: {preset: NAME}`)", style="table.title")]
    for preset in found:
        recipe = preset["recipe"]
        rows = {
            "preset": preset["name"],
            "generation": f"{preset['generation']} ({preset['family']})",
            "what": preset["description"],
            "checkpoint": preset["checkpoint"],
            "upsampler": preset["upsampler"] or "-",
            "stage-2 LoRA": preset["stage2_lora"] or "-",
            "IC-LoRAs": "\n".join(f"{kind}: {lora}" for kind, lora in preset["loras"].items()) or "-",
            "recipe": "\n".join([
                f"{preset['steps']} steps{' (distilled schedule)' if preset['sigmas'] else ''}, guidance "
                f"{preset['guidance_scale']:g}, {preset['width']}x{preset['height']}",
                *(f"{call}: " + _kwargs_text(recipe[call])
                  for call in ("first", "upsample", "refine") if recipe[call]),
                *([f"two-pass first pass at {recipe['first_pass_scale']:.3g} of the size"]
                  if recipe["upsample"] or recipe["refine"] else []),
            ]),
        }
        parts += [Text(""), _field_block([(field_name, Text(value)) for field_name, value in rows.items()])]
    return parts


def versions_table(plans: list[RenderPlan], width: int) -> list:
    """Every file a storyboard with `variants:` or `deliverables:` makes, and how many unique shots its films hold."""
    entries = [(plan, entry) for plan in plans for entry in film_entries(plan)]
    total, unique = sum(len(plan.shots) for plan in plans), unique_shots(plans)
    title = f"{len(entries)} files from {len(plans)} films: {total} shots, {unique} unique (each renders once)"
    columns = [_Column("variant", whole=True), _Column("deliverable", whole=True), _Column("variables"),
               _Column("size", whole=True), _Column("file")]
    rows = [[entry.variant or "-", entry.deliverable or "-",
             ", ".join(f"{name}={value}" for name, value in plan.vars.items()) or "-",
             f"{entry.width}x{entry.height}", entry.path] for plan, entry in entries]
    return _table_or_blocks(title, columns, rows, width)
