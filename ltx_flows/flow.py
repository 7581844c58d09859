"""Prefect flows: thin, decorated wrappers over the plain pipeline.

storyboard -> plan -> generate (one task per shot) -> stitch -> manifest
"""

import logging
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed

from .controls import check_controls
from .generate import render_shot
from .manifest import build_manifest, write_json_atomic
from .media import VideoInfo
from .plan import RenderPlan, ShotPlan, plan_storyboard
from .stitch import film_path, stitch_film
from .storyboard import load_storyboard

# The CLI listens here to draw its progress bar; records carry `done`, `total` and `storyboard`.
progress_log = logging.getLogger("ltx_flows.progress")


# Caching arrives with content-hash-aware re-runs; until then every run renders.
@task(task_run_name="shot-{shot.id}", cache_policy=NO_CACHE)
def render_shot_task(plan: RenderPlan, shot: ShotPlan, film_dir: str) -> str:
    return str(render_shot(plan, shot, Path(film_dir)))


@task(task_run_name="stitch-{plan.name}", cache_policy=NO_CACHE)
def stitch_task(plan: RenderPlan, film_dir: str) -> VideoInfo:
    return stitch_film(plan, Path(film_dir))


@flow(name="render-storyboard")
def render_storyboard(storyboard: str, out: str = "renders", root: str | None = None) -> dict:
    """Render one storyboard file into `<out>/<name>/<name>.mp4` with its manifest."""
    logger = get_run_logger()
    source = Path(storyboard)
    plan = plan_storyboard(load_storyboard(source, root), source)
    film_dir = Path(out) / plan.name
    logger.info(
        "Planned %s: %d shots, %d frames (%.1fs) with %s", plan.name, len(plan.shots), plan.film_frames,
        plan.film_seconds, plan.model.checkpoint,
    )

    check_controls(plan)  # detector weights and IC-LoRAs, before any shot starts on a GPU
    futures = [render_shot_task.submit(plan, shot, str(film_dir)) for shot in plan.shots]
    progress_log.info("0/%d shots", len(futures), extra={"done": 0, "total": len(futures), "storyboard": plan.name})
    for done, future in enumerate(as_completed(futures), start=1):
        future.result()  # re-raises a failed shot
        progress_log.info("%d/%d shots", done, len(futures), extra={"done": done, "total": len(futures), "storyboard": plan.name})

    film_info = stitch_task(plan, str(film_dir))
    film = film_path(plan, film_dir)
    manifest_path = film_dir / "manifest.json"
    write_json_atomic(build_manifest(plan, film_dir, film, film_info), manifest_path)
    logger.info("Film: %s", film)
    return {"film": str(film), "manifest": str(manifest_path), "frames": plan.film_frames}
