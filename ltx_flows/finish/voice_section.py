"""A film's voices once it is stitched: where each line plays in the film (crossfades accounted), its captions
beside the film, and the manifest's `voice` section (the lines, the captions, and the loudness the decoded film
measures)."""

from pathlib import Path

from ..media.captions import Cue, caption_paths, write_captions
from ..media.loudness import measure_loudness
from ..plan.planner import RenderPlan
from ..render.voice import shot_lines


def shot_starts(plan: RenderPlan) -> list[int]:
    """The film frame each shot starts at: a crossfade overlaps a shot's last frames with the next one's first."""
    starts, at = [], 0
    for shot in plan.shots:
        starts.append(at)
        at += shot.frames - shot.crossfade_frames
    return starts


def cues(plan: RenderPlan) -> list[Cue]:
    """Each voiced shot's line where it plays in the film; a caption without a line over its shot's own frames
    (to where the crossfade out of it begins)."""
    fps = plan.output.fps
    found = []
    for start, shot in zip(shot_starts(plan), plan.shots):
        for retake in shot.retakes:  # a dubbed retake's line
            if retake.voice is not None and retake.voice.text:
                begin = (start + retake.voice.start_frame) / fps
                found.append(Cue(start=begin, end=begin + retake.voice.seconds, text=retake.voice.text))
        if shot.caption is None:
            continue
        if shot.voice is not None:
            begin = (start + shot.voice.start_frame) / fps
            found.append(Cue(start=begin, end=begin + shot.voice.seconds, text=shot.caption))
        else:
            found.append(Cue(start=start / fps, end=(start + shot.frames - shot.crossfade_frames) / fps, text=shot.caption))
    return sorted(found, key=lambda cue: cue.start)


def write_film_captions(plan: RenderPlan, film: Path) -> list[Path]:
    return write_captions(cues(plan), film)


def voice_section(plan: RenderPlan, film: Path) -> dict:
    """The manifest's `voice` section: only for films with voices, captions or a loudness target (others' manifests
    are as before)."""
    found = cues(plan)
    if not plan.voiced and not found and plan.output.loudness is None:
        return {}
    fps, starts = plan.output.fps, shot_starts(plan)
    lines = [
        {"shot": shot.id, "file": str(voice.file), "sha256": voice.sha256, "text": voice.text,
         "film_start": round((start + voice.start_frame) / fps, 4),
         "film_end": round((start + voice.start_frame) / fps + voice.seconds, 4),
         "follows": voice.follows, "retake": voice is not shot.voice}
        for start, shot in zip(starts, plan.shots) for voice in shot_lines(shot)
    ]
    captions = [path.name for path in caption_paths(film) if found and path.is_file()]  # beside the film
    loudness = None
    if plan.output.loudness is not None:
        loudness = {"target": plan.output.loudness, "true_peak_ceiling": plan.output.true_peak,
                    **measure_loudness(film).record()}
    return {"voice": {"lines": lines, "captions": captions, "loudness": loudness}}


def caption_track(manifest: dict, film_dir: Path) -> str:
    """The review page's film player's caption track, or nothing without captions. The .vtt is embedded as a data:
    URI: a page opened from disk (file://) may not load a track file beside it (Chromium refuses it as
    cross-origin), and the page already carries its filmstrips so."""
    import base64
    from html import escape

    vtt = [name for name in manifest.get("voice", {}).get("captions", []) if name.endswith(".vtt")]
    if not vtt or not (film_dir / vtt[0]).is_file():
        return ""
    data = base64.b64encode((film_dir / vtt[0]).read_bytes()).decode()
    return (f'<track kind="captions" srclang="en" label="Captions" default data-file="{escape(vtt[0])}" '
            f'src="data:text/vtt;base64,{data}">')


def voice_note(shot) -> str:
    """A shot's line on the review page (its clip, above it, plays with the line): file, text and span."""
    from html import escape

    voice = shot.voice
    if voice is None:
        return f'<p class="voice">Caption: “{escape(shot.caption)}”</p>' if shot.caption else ""
    text = f" “{escape(voice.text)}”" if voice.text else ""
    return (f'<p class="voice">Voice <code>{escape(voice.file.name)}</code>{text} · {escape(voice.describe())}</p>')
