"""Manifest: a JSON record of what was rendered, from what, with which software."""

import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from ..files import file_sha256
from ..media.read import VideoInfo
from ..plan.planner import RenderPlan, ShotPlan
from ..render.seams import seam_scores, sound_seam_scores
from .looks import shot_look
from .quality import quality_section
from .voice_section import voice_section
from .enhanced import enhance_section

_LIBRARIES = ("ltx-flows", "torch", "diffusers", "transformers", "prefect", "imageio-ffmpeg", "av", "controlnet-aux", "peft")

def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_manifest(plan: RenderPlan, film_dir: Path, film: Path, film_info: VideoInfo, renders: dict[str, dict]) -> dict:
    """`renders` maps shot ids to the shot cache's records: how and when each clip was rendered."""
    return {
        "name": plan.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "storyboard": {"path": str(plan.storyboard), "sha256": plan.storyboard_sha256},
        "model": plan.model.model_dump(mode="json"),
        "output": plan.output.model_dump(mode="json"),
        "audio": {"mode": plan.audio, "bed": str(plan.audio_bed) if plan.audio_bed else None,
                  "bed_sha256": plan.audio_bed_sha256},
        **voice_section(plan, film),
        "libraries": library_versions(),
        "shots": [
            {
                "id": shot.id,
                "frames": shot.frames,
                "requested_frames": shot.requested_frames,
                "seconds": round(shot.seconds, 4),
                "seed": shot.seed,
                "content_hash": shot.content_hash,
                "clip": shot.clip,
                "transition": shot.transition,
                "crossfade_frames": shot.crossfade_frames,
                # This run reused the clip ("cached") or made it ("rendered"); attempts and memory
                # settings are those of the run that made it.
                "status": renders[shot.id]["status"],
                "attempts": renders[shot.id]["attempts"],
                "memory": renders[shot.id]["memory"],
                "render_seconds": renders[shot.id]["render_seconds"],
                "rendered_at": renders[shot.id]["rendered_at"],
                "rendered_by": renders[shot.id]["rendered_by"],
                **quality_section(shot, renders[shot.id], film_dir),
                **enhance_section(shot, film_dir),
                **(_long_take(plan, shot, film_dir) if shot.segments else {}),
                **(_retakes(shot) if shot.retakes else {}),
                **shot_look(shot),
                "control": (
                    {"kind": shot.control.kind, "source_sha256": shot.control.source_sha256, "lora": shot.control.lora,
                     "video": shot.control.video}
                    if shot.control else None
                ),
            }
            for shot in plan.shots
        ],
        "film": {
            "path": str(film.relative_to(film_dir)),
            "frames": film_info.frames,
            "fps": film_info.fps,
            "seconds": round(film_info.duration, 4),
            "width": film_info.width,
            "height": film_info.height,
            "audio_seconds": round(film_info.audio_duration, 4) if film_info.audio_duration is not None else None,
            # Hashed from the file stitching renamed into place (no other writer holds the film's lock).
            "sha256": film_info.sha256 or file_sha256(film),
            **_frame_rate(plan),
        },
    }


def _frame_rate(plan: RenderPlan) -> dict:
    """With frame-rate upscaling: the rate the shots were generated at, the x2 rounds and the upscaler file."""
    rounds = [call for call in plan.calls if call.step == "upsample_time"]
    if not rounds:
        return {}
    return {"frame_rate_upscaling": {"generated_fps": plan.calls[0].kwargs["frame_rate"], "rounds": len(rounds),
                                     "temporal_upscaler": rounds[0].upscaler}}


def _retakes(shot: ShotPlan) -> dict:
    """A shot's retakes: each window (shot frames [start, end)), what was regenerated and held, and its stage clip."""
    return {
        "base_hash": shot.base_hash,
        "retakes": [
            {
                "index": r.index,
                "start": r.start,
                "end": r.end,
                "frames": r.end - r.start,
                "prompt": r.prompt,
                "seed": r.seed,
                "sound": r.sound,
                "generated": [r.clip_start, r.clip_start + r.clip_frames],
                "replaced": [r.blend_start, r.blend_end],
                "held": [[h.first_frame, h.last_frame + 1] for h in r.held],
                "content_hash": r.content_hash,
                "clip": r.cache,
            }
            for r in shot.retakes
        ],
    }


def _long_take(plan: RenderPlan, shot: ShotPlan, film_dir: Path) -> dict:
    """A long take's segments, and its seams measured on the decoded shot clip: picture, and sound where the take
    carries generated sound (`sound`: see `seams.sound_seam_scores`; None for a take without)."""
    joins = [s.start for s in shot.segments[1:]]
    seams = seam_scores(film_dir / shot.clip, joins, shot.overlap)
    sounds = [None] * len(joins)
    if plan.audio == "generate" and not shot.mute:
        sounds = sound_seam_scores(film_dir / shot.clip, joins, shot.overlap, plan.output.fps)
    for seam, sound in zip(seams, sounds):
        seam["sound"] = {k: v for k, v in sound.items() if k != "frame"} if sound else None
    return {
        "overlap": shot.overlap,
        "segments": [
            {
                "index": s.index,
                "start": s.start,
                "frames": s.frames,
                "seed": s.seed,
                "prompt": s.prompt,
                "content_hash": s.content_hash,
                "cache": s.cache,
            }
            for s in shot.segments
        ],
        "seams": seams,
    }
