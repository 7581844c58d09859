"""The batch's scheduling loop: every planned storyboard's shots go out to the render slots, longest first and
never more than there are slots, and each storyboard is stitched as soon as its own shots are done.

Plain Python around Prefect futures; flow.py hands in the two tasks it runs (`BatchTasks`).
"""

import queue
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from prefect import Task, get_run_logger
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from ..failures import describe
from ..media.thumbnails import thumbnail
from ..finish.decoded import Decoded
from ..finish.film import Finished
from ..finish.versions import FilmKey, batch_summary, film_label
from ..models.checkpoints import not_cached
from ..plan.planner import RenderPlan, ShotPlan
from ..render import progress
from ..render.sharing import share_clip
from ..render.shot import invalidate_film
from ..render.controls import check_controls
from ..storyboard.loading import load_versions
from . import report
from .artifacts import ProgressArtifact, Reporter, storyboard_artifacts
from .batch import PlannedFilm, check_writable, plan_films, render_folder
from .dask_submit import quoted
from .slots import render_slots


@dataclass(frozen=True)
class BatchTasks:
    """The Prefect tasks a batch runs: one shot's render (its parameters: plan, shot, film_dir, force) and one
    storyboard's stitch (plan, film_dir, renders)."""

    shot: Task
    stitch: Task


@dataclass
class RunningStoryboard:
    """One storyboard of a batch while its shots render: what is done, what failed, what is still out."""

    file: str
    plan: RenderPlan
    film_dir: Path
    renders: dict[str, dict]  # shot id -> cache record (cached or just rendered)
    pending: list[ShotPlan]  # the shots this run renders
    waiting: int  # of those, the shots not finished yet
    source: str  # the deployment's name or `cli`: the artifact keys' prefix
    lock: ExitStack  # holds the film's lock (lock.py) from planning until the storyboard is finished
    reporter: Reporter  # makes its artifacts
    progress: ProgressArtifact | None = None  # attached to the progress events while the storyboard renders
    failures: dict[str, str] = field(default_factory=dict)
    thumbnails: dict[str, Future] = field(default_factory=dict)  # shot id -> its summary thumbnail, being made
    # A shot with several takes (not picked): its takes go out to the slots as work of their own, and the shot
    # itself (the choice, and retries) once they are all back. Shot id -> takes still out; shots whose takes
    # generated something this run (the shot counts as rendered then, not reused).
    takes_out: dict[str, int] = field(default_factory=dict)
    takes_rendered: set[str] = field(default_factory=set)

    def work(self, shot: ShotPlan) -> list[ShotPlan]:
        """What goes to the render slots for this shot: its takes first when it has several, else the shot."""
        if len(shot.takes) > 1 and shot.take is None:
            self.takes_out[shot.id] = len(shot.takes)
            return list(shot.takes)
        return [shot]

    def take_done(self, take: ShotPlan, future: PrefectFuture) -> ShotPlan | None:
        """One take is back (a failed one is tried again by its shot); the shot, when it was the last."""
        try:
            if future.result()["status"] == "rendered":
                self.takes_rendered.add(take.id)
        except Exception as error:
            get_run_logger().warning("Take %d of shot %s failed (%s): its shot tries it again", take.take, take.id,
                                     describe(error))
        self.takes_out[take.id] -= 1
        return self.plan.shot(take.id) if self.takes_out[take.id] == 0 else None

    @property
    def key(self) -> FilmKey:
        """Which film of the batch it is: its file and variant (a storyboard with variants makes several)."""
        return self.file, film_label(self.plan.variant, self.plan.deliverable)

    def start_progress(self) -> None:
        self.progress = ProgressArtifact(self.plan, self.source, self.reporter)
        progress.log.addHandler(self.progress)
        progress.planned(self.plan.name, [(shot.id, len(shot.segments)) for shot in self.plan.shots])
        for shot in self.plan.shots:
            if shot.id in self.renders:
                progress.shot_finished(self.plan.name, shot.id, "cached")
                self.make_thumbnail(shot)

    def make_thumbnail(self, shot: ShotPlan) -> None:
        """Start making the shot's summary thumbnail (a decode) now, so the summary at the storyboard's end,
        after its stitch, only puts it in place: 0.5 s less at the end of a 150-shot storyboard here."""
        self.thumbnails[shot.id] = self.reporter.submit(thumbnail, self.film_dir / shot.clip, shot.frames,
                                                        self.plan.output.fps)

    def artifacts(self, finished: Finished | None) -> None:
        """Its shot table and summary, made by the run's reporter from this moment's outcomes."""
        self.reporter(storyboard_artifacts, self.plan, self.film_dir, self.source,
                      report.outcomes(self.plan, self.renders, self.failures, self.film_dir), finished, dict(self.thumbnails))

    def close(self, ok: bool, reason: str | None = None) -> None:
        """The storyboard is finished (or the batch broke: `reason`): end its progress and release its film."""
        if self.progress is not None:
            if not ok:
                self.progress.failure = reason or "the batch stopped before it finished (see the run logs)"
            progress.finished(self.plan.name, ok=ok)
            progress.log.removeHandler(self.progress)
            self.progress = None
        self.lock.close()


def render_storyboards(files: list[Path], out: str, root: str | None, force: bool, source: str,
                       tasks: BatchTasks) -> tuple[dict, dict]:
    """Render every storyboard's shots on one set of render slots, and finish each storyboard as its shots finish.

    Returns (succeeded: file -> result, failed: file -> why), in the order of `files`.
    """
    reporter = Reporter()
    try:
        boards, failed = plan_storyboards(files, out, root, force, source, reporter)
        try:
            succeeded = _render_planned(boards, failed, force, tasks)
        finally:
            for board in boards:  # a batch that broke leaves no handler and no lock behind
                board.close(ok=False)
    finally:
        reporter.close()  # every artifact is made before the run ends
    # Storyboards finish in any order; report them in the batch's, each variant's film in its storyboard's entry.
    hashes: dict[str, set[str]] = {}
    for board in boards:
        hashes.setdefault(board.file, set()).update(shot.content_hash for shot in board.plan.shots)
    summary = batch_summary([str(file) for file in files], succeeded, failed, planned=[board.key for board in boards],
                            unique={file: len(found) for file, found in hashes.items()})
    return summary["succeeded"], summary["failed"]


def plan_storyboards(
    files: list[Path], out: str, root: str | None, force: bool, source: str, reporter: Reporter
) -> tuple[list[RunningStoryboard], dict[FilmKey, str]]:
    """Validate and plan every file, and check the shot cache; a file that cannot be planned fails on its own."""
    logger = get_run_logger()
    check_writable(render_folder(out))  # before any model loads
    boards, failed = [], {}
    for file in files:
        lock = ExitStack()
        try:
            films = plan_films(load_versions(file, root), file, out, force, lock)
            for film in films:
                if film.pending:
                    check_controls(film.plan)  # detector weights and IC-LoRAs, before any shot starts on a GPU
        except Exception as error:  # one bad storyboard does not stop the others
            lock.close()
            failed[(str(file), None)] = str(not_cached(error, file) or error)
            logger.error("%s: %s", file, error)
            continue
        for film in films:
            boards.append(_planned_board(film, source, reporter))
    return boards, failed


def _planned_board(film: PlannedFilm, source: str, reporter: Reporter) -> RunningStoryboard:
    """One planned film as the scheduling loop follows it, holding its own film's lock."""
    logger = get_run_logger()
    plan, pending, cached = film.plan, film.pending, film.cached
    logger.info(
        "Planned %s: %d shots, %d frames (%.1fs) with %s; %d to render, %d unchanged", plan.name, len(plan.shots),
        plan.film_frames, plan.film_seconds, plan.model.checkpoint, len(pending), len(cached),
    )
    for shot_id in cached:
        logger.info("Shot %s of %s: unchanged, clip reused", shot_id, plan.name)
    board = RunningStoryboard(str(film.file), plan, film.film_dir, renders=dict(cached), pending=pending,
                              waiting=len(pending), source=source, lock=film.lock, reporter=reporter)
    board.start_progress()
    return board


def _render_planned(boards: list[RunningStoryboard], failed: dict[FilmKey, str], force: bool,
                    tasks: BatchTasks) -> dict[FilmKey, dict]:
    """Render the planned storyboards' pending shots and finish each storyboard; records failures in `failed`.

    A shot whose content hash another film of the batch holds is rendered once: a clip already there is copied
    now, and shots that are still to render go out once, the other films copying the clip when it is done. Each
    film is still stitched, checked and reviewed on its own, sharing the decodes of equal bytes (`Decoded`).
    """
    logger = get_run_logger()
    succeeded: dict[FilmKey, dict] = {}
    decoded = Decoded()  # films made of the same clips decode them once (finish/decoded.py)
    share_cached(boards)
    followers: dict[str, list[tuple[RunningStoryboard, ShotPlan]]] = {}
    for board, shot in sorted(((board, shot) for board in boards for shot in board.pending), key=queue_order):
        followers.setdefault(shot.content_hash, []).append((board, shot))
    # In queue order (dicts keep the order keys came in); a shot with several takes sends its takes out first.
    queued = [(board, work) for board, shot in (shots.pop(0) for shots in followers.values())
              for work in board.work(shot)]
    completed: queue.Queue[PrefectFuture] = queue.Queue()
    out_now: dict[PrefectFuture, tuple[RunningStoryboard, ShotPlan | None]] = {}  # None: the storyboard's stitch

    with ExitStack() as running:
        slots = running.enter_context(render_slots(tasks.shot)) if queued else None
        encoder = running.enter_context(ThreadPoolTaskRunner(max_workers=slots.stitchers if slots else 1))

        def track(future: PrefectFuture, what: tuple) -> None:
            out_now[future] = what
            future.add_done_callback(completed.put)

        def submit_shots() -> None:
            while queued and sum(shot is not None for _, shot in out_now.values()) < slots.count:
                board, shot = queued.pop(0)
                # A shot after its takes: they were just rendered (forced or not), the shot only chooses.
                again = force and not (shot.id in board.takes_out and shot.clip == board.plan.shot(shot.id).clip)
                track(slots.submit({"plan": board.plan, "shot": shot, "film_dir": str(board.film_dir), "force": again}),
                      (board, shot))

        def finish(board: RunningStoryboard) -> None:
            if board.failures:
                failed[board.key] = _fail_storyboard(board)
            else:
                progress.stitching(board.plan.name)
                track(encoder.submit(tasks.stitch, quoted({"plan": board.plan, "film_dir": str(board.film_dir),
                                                           "renders": board.renders, "decoded": decoded})),
                      (board, None))

        for board in boards:
            if board.waiting == 0:  # nothing to render: straight to its (possibly kept) film
                finish(board)
        submit_shots()
        while out_now:
            future = completed.get()
            board, shot = out_now.pop(future)
            if shot is None:
                try:
                    succeeded[board.key] = _succeed_storyboard(board, future.result())
                except Exception as error:
                    failed[board.key] = f"{board.plan.name}: stitching failed: {describe(error)}"
                    board.close(ok=False, reason=failed[board.key])
                    logger.error("Stitching %s failed: %s", board.plan.name, describe(error))
                continue
            if shot.clip != board.plan.shot(shot.id).clip:  # one take of a shot with several
                if (chooser := board.take_done(shot, future)) is not None:
                    queued.insert(0, (board, chooser))
                submit_shots()
                continue
            _shot_done(board, shot, future)
            submit_shots()
            for follower, same in followers.get(shot.content_hash, []):
                _shared_done(board, shot, follower, same)
                if follower.waiting == 0 and follower is not board:
                    finish(follower)
            if board.waiting == 0:
                finish(board)
    return succeeded


def share_cached(boards: list[RunningStoryboard]) -> None:
    """Pending shots whose clip another film of the batch already holds (same content hash, vouched for by its
    record): copied now, without a render."""
    held = {}
    for board in boards:
        for shot in board.plan.shots:
            if shot.id in board.renders:
                held.setdefault(shot.content_hash, (board, shot))
    for board in boards:
        for shot in [shot for shot in board.pending if shot.content_hash in held]:
            source, same = held[shot.content_hash]
            _shared_done(source, same, board, shot)
            board.pending.remove(shot)


def _shared_done(source: RunningStoryboard, shot: ShotPlan, board: RunningStoryboard, same: ShotPlan) -> None:
    """`same` of `board` is `shot` of `source`, which is done: its clip copied (or its failure shared)."""
    if shot.id in source.renders:
        try:
            board.renders[same.id] = share_clip(source.film_dir, shot, source.renders[shot.id], board.plan, same,
                                                board.film_dir)
            if shot.id in source.thumbnails and board.plan.output.fps == source.plan.output.fps:
                board.thumbnails[same.id] = source.thumbnails[shot.id]  # the same frames: decoded once
            else:
                board.make_thumbnail(same)
        except Exception as error:
            board.failures[same.id] = describe(error)
    else:
        board.failures[same.id] = source.failures.get(shot.id, "the same shot of another film failed")
    progress.shot_finished(board.plan.name, same.id, board.renders[same.id]["status"] if same.id in board.renders else "failed")
    board.waiting -= 1


def _shot_done(board: RunningStoryboard, shot: ShotPlan, future: PrefectFuture) -> None:
    try:
        record = future.result()
        board.renders[shot.id] = {**record, "status": "rendered"} if shot.id in board.takes_rendered else record
        board.make_thumbnail(shot)
    except Exception as error:  # one failed shot does not stop the others
        board.failures[shot.id] = describe(error)
        get_run_logger().error("Shot %s of %s failed: %s", shot.id, board.plan.name, board.failures[shot.id])
    progress.shot_finished(board.plan.name, shot.id, board.renders[shot.id]["status"] if shot.id in board.renders else "failed")
    board.waiting -= 1


def _model_key(plan: RenderPlan) -> tuple[str, str, str]:
    return plan.model.family, plan.model.checkpoint, plan.model.preset or ""


def queue_order(item: tuple[RunningStoryboard, ShotPlan]) -> tuple:
    """The order shots go to the render slots.

    Shots of one model together (a device keeps one model loaded, generate.py: switching reloads it).
    Within a model, storyboards whose longest shot is longest first, and each storyboard's shots one
    after another, longest first: the shots near the end of the batch are all short (what keeps every
    slot busy to the end, as longest-first does), and storyboards finish, and stitch, one after
    another while others render. Plain longest-first across storyboards left the short shots of most
    storyboards, and so most of their stitches, to the very end (4-10 s of 40 stitches after the last
    shot, benchmarks/makespan.py).
    """
    board, shot = item
    return _model_key(board.plan), -max(pending.frames for pending in board.pending), board.file, -shot.frames


def _fail_storyboard(board: RunningStoryboard) -> str:
    plan = board.plan
    # An earlier film, manifest and review page no longer describe this storyboard: nothing may claim success.
    invalidate_film(plan, board.film_dir)
    board.artifacts(None)
    in_order = {shot.id: board.failures[shot.id] for shot in plan.shots if shot.id in board.failures}  # not as they ended
    reason = report.storyboard_failure(plan.name, len(plan.shots), in_order)
    board.close(ok=False, reason=reason)
    return reason


def _succeed_storyboard(board: RunningStoryboard, finished: Finished) -> dict:
    plan = board.plan
    board.renders = {shot.id: board.renders[shot.id] for shot in plan.shots}  # in storyboard order
    board.artifacts(finished)
    board.close(ok=True)
    get_run_logger().info("Film: %s (%.2fs); review page: %s", finished.film, finished.info.duration, finished.review)
    return finished.summary(plan, board.renders)
