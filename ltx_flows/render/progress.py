"""Progress of a render: events on the `ltx_flows.render.progress` logger, and what they add up to.

The flow emits events as shots, long-take segments and denoising steps go by; the CLI's
terminal display and the Prefect progress artifact both read them through `StoryboardProgress`,
so the two always agree. Prefect-free: events are plain log records with `extra` fields.

Event fields (all records carry `storyboard` and `event`):
- `phase`: `what` (what is happening while no step moves: `starting Prefect`, `loading model tiny`,
  `encoding`) and `shot` (None for the storyboard as a whole)
- `planned`: `shots` = [(shot id, segment count or 0), ...] in film order
- `step`: `shot`, `done`, `total` (denoising steps of the shot; a long take counts across its segments)
- `shot`: `shot`, `status` (`rendered`, `cached` or `failed`)
- `stitch`: the shots are done, the film is being joined
- `finished`: `ok` (True when the film and manifest were written)
- `generation`: `shot`, `generation` (what is generated, with which memory settings: see `generation`); the
  shot is past its model load and its wait for the device, and generating until its first step; a listener that
  raises stops that generation with its error

After a shot's (or a long-take segment's) last denoising step the pipeline decodes its latents and the
clip is encoded: that time is part of the shot (see `StoryboardProgress.eta`), not a step.
"""

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("ltx_flows.render.progress")

# At most one progress artifact update a second per storyboard: a step takes milliseconds on the
# tiny model, and each update is an API call.
MIN_UPDATE_SECONDS = 1.0

# Timings the ETA averages over (the most recent ones): enough to ride out one slow step.
_SAMPLES = 50


def _emit(message: str, *args, **fields) -> None:
    """Make one event. The first one sets the logger up: events are for the display and the progress artifact,
    which attach here, and a step a line would flood the run logs (Prefect sends `ltx_flows` records to the API);
    they are made whatever the root logger's level, and handlers decide what to show."""
    if log.propagate:
        log.propagate = False
        log.setLevel(logging.INFO)
    log.info(message, *args, extra=fields)


def phase(storyboard: str, what: str, shot: str | None = None) -> None:
    """Say what the storyboard (or one of its shots) is doing while no denoising step moves."""
    _emit("%s%s: %s", storyboard, f" shot {shot}" if shot else "", what,
          storyboard=storyboard, event="phase", what=what, shot=shot)


def planned(storyboard: str, shots: list[tuple[str, int]]) -> None:
    _emit("%s: %d shots planned", storyboard, len(shots), storyboard=storyboard, event="planned", shots=shots)


def generation(storyboard: str | None, shot: str, details: dict) -> None:
    """A generation (a shot, a long-take segment or a retake's window) is about to start, with the memory settings
    it runs under. `details`: `content_hash`, `prompt`, `frames`, `memory` (the settings as a dict), `held` (a
    retake's held frame runs: `at`, `frames`) and `audio_held` (sound tokens held)."""
    _emit("%s shot %s: generating %d frames", storyboard, shot, details["frames"],
          storyboard=storyboard, event="generation", shot=shot, generation={"shot": shot, **details})


def step_reporter(storyboard: str, shot: str):
    """An `on_step(done, total)` callback for one shot that emits `step` events. Made as the shot's task
    starts, so it says the shot has started (the cache check, torch's import and the model load come
    before its first step)."""
    phase(storyboard, "starting", shot)

    def on_step(done: int, total: int) -> None:
        _emit("%s shot %s: step %d/%d", storyboard, shot, done, total,
              storyboard=storyboard, event="step", shot=shot, done=done, total=total)

    return on_step


def part_steps(on_step: Callable[[int, int], None] | None, index: int, count: int):
    """`on_step` for part `index` of `count` generations (a long take's segments, a shot's retake stages): its steps
    continue the count of the parts before it, each part an equal share, so progress never goes back."""
    if on_step is None:
        return None
    return lambda done, total: on_step(index * total + done, count * total)


def shot_finished(storyboard: str, shot: str, status: str) -> None:
    _emit("%s shot %s: %s", storyboard, shot, status, storyboard=storyboard, event="shot", shot=shot, status=status)


def stitching(storyboard: str) -> None:
    _emit("%s: stitching", storyboard, storyboard=storyboard, event="stitch")


def finished(storyboard: str, ok: bool) -> None:
    _emit("%s: %s", storyboard, "done" if ok else "failed", storyboard=storyboard, event="finished", ok=ok)


@dataclass
class _Shot:
    segments: int  # 0: one window
    steps: tuple[int, int] | None = None
    status: str | None = None
    phase: str | None = None  # said by a `phase` event; the next step clears it
    step_at: float | None = None  # when its latest step came

    @property
    def last_step_at(self) -> float | None:
        """When its (or its current segment's) last step came, while nothing came since: decoding and encoding."""
        return self.step_at if self.steps and self.steps[1] and self.steps[0] == self.steps[1] else None

    @property
    def windows(self) -> int:
        return max(self.segments, 1)

    @property
    def decoding(self) -> bool:
        """Its last step (or a segment's last step) is done, and nothing has moved since."""
        if self.steps is None or self.status is not None or self.phase is not None:
            return False
        done, total = self.steps
        return done > 0 and total > 0 and done * self.windows % total == 0


@dataclass(frozen=True)
class Eta:
    """Seconds left, or a lower bound when part of the work has not been timed yet (the first shot's decode)."""

    seconds: float
    at_least: bool = False

    def __str__(self) -> str:
        whole = int(self.seconds + 0.5)
        return f"{'≥' if self.at_least else ''}{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


@dataclass
class StoryboardProgress:
    """One storyboard's progress, folded from its events: a fraction for a bar, a line that says where it is,
    and the time left."""

    name: str
    shots: dict[str, _Shot] = field(default_factory=dict)
    current: str | None = None
    stage: str = "waiting"  # waiting, rendering, stitching, done, failed
    phase: str | None = None  # the storyboard's own phase (before its plan: starting Prefect, ...)
    step_seconds: list[float] = field(default_factory=list)  # seconds per denoising step, as measured
    finish_seconds: list[float] = field(default_factory=list)  # a shot's last step to its clip: decode and encode

    # Stitching and the manifest are the last part of a storyboard's work, after every shot.
    STITCH_SHARE = 0.05
    # A shot's decode and encode, after its last step: its steps fill the rest of its share of the bar.
    FINISH_SHARE = 0.1

    def update(self, record: logging.LogRecord) -> None:
        event, now = getattr(record, "event", None), record.created
        if event == "phase":
            if record.shot is None:
                self.phase = record.what
            elif record.shot in self.shots:
                self.shots[record.shot].phase = record.what
                self.current = record.shot
        elif event == "generation" and record.shot in self.shots:
            # Past the model load and the wait for the device: the text encoder and the first step are next. It does
            # not take the bar: the shot before may still be encoding its clip, which the bar goes on saying.
            self.shots[record.shot].phase = "generating"
        elif event == "planned":
            self.shots = {shot_id: _Shot(segments) for shot_id, segments in record.shots}
            self.stage, self.phase = "rendering", None
        elif event == "step" and record.shot in self.shots:
            shot = self.shots[record.shot]
            # Seconds a step, from the step before (not across a decode between a long take's segments).
            if shot.steps and shot.step_at is not None and record.done > shot.steps[0] and not shot.decoding:
                self._sample(self.step_seconds, (now - shot.step_at) / (record.done - shot.steps[0]))
            shot.steps, shot.step_at, shot.phase = (record.done, record.total), now, None
            self.current = record.shot
        elif event == "shot" and record.shot in self.shots:
            shot = self.shots[record.shot]
            if record.status == "rendered" and shot.last_step_at is not None:
                self._sample(self.finish_seconds, now - shot.last_step_at)
            shot.status, shot.phase = record.status, None
            if self.current == record.shot:
                self.current = None
        elif event == "stitch":
            self.stage, self.current = "stitching", None
        elif event == "finished":
            self.stage = "done" if record.ok else "failed"

    @staticmethod
    def _sample(samples: list[float], seconds: float) -> None:
        samples.append(max(seconds, 0.0))
        del samples[:-_SAMPLES]

    @property
    def done_shots(self) -> int:
        return sum(shot.status is not None for shot in self.shots.values())

    def _shot_fraction(self, shot: _Shot) -> float:
        if shot.status is not None:
            return 1.0
        if shot.steps is None or not shot.steps[1]:
            return 0.0
        return (1 - self.FINISH_SHARE) * shot.steps[0] / shot.steps[1]

    @property
    def fraction(self) -> float:
        if self.stage == "done":
            return 1.0
        if not self.shots:
            return 0.0
        shots = sum(self._shot_fraction(shot) for shot in self.shots.values()) / len(self.shots)
        return shots * (1 - self.STITCH_SHARE) + (self.STITCH_SHARE / 2 if self.stage == "stitching" else 0.0)

    def eta(self, now: float) -> Eta | None:
        """The time left at `now` (time.time()): the denoising steps left at the measured seconds a step, each
        shot's decode and encode at their measured time, and the time each has already spent. None while
        nothing has been timed yet; a lower bound while no shot's decode and encode has (the first shot's)."""
        if self.stage == "done":
            return Eta(0.0)
        if self.stage == "stitching":
            return Eta(0.0, at_least=True)  # a stitch is short, but not timed
        if self.stage != "rendering" or not self.step_seconds:
            return None
        step = statistics.median(self.step_seconds)
        finish = statistics.median(self.finish_seconds) if self.finish_seconds else None
        # Steps per window of a shot not started yet: as the shots that have, for want of better.
        started = [shot.steps[1] / shot.windows for shot in self.shots.values() if shot.steps and shot.steps[1]]
        per_window = started[-1] if started else 0
        left, at_least = 0.0, finish is None
        for shot in self.shots.values():
            if shot.status is not None:
                continue
            done, total = shot.steps if shot.steps else (0, per_window * shot.windows)
            left += (total - done) * step
            if shot.steps and done < total and shot.step_at is not None:
                left -= min(now - shot.step_at, step)  # the step under way
            if finish is not None:
                spent = now - shot.last_step_at if shot.last_step_at is not None else 0.0
                if spent > finish:  # slower than the shots before: at least nothing is left
                    at_least = True
                left += max(finish - spent, 0.0)
        return Eta(max(left, 0.0), at_least)

    def describe(self) -> str:
        """Where the storyboard is, e.g. `shot 2/3 pour, segment 2/4, step 5/8` or `shot 1/3 intro: decoding`."""
        total = len(self.shots)
        if self.stage == "waiting":
            return self.phase or "waiting"
        if self.stage in ("stitching", "done", "failed"):
            return {"stitching": "stitching the film", "done": "done", "failed": "failed"}[self.stage] + (
                f" ({self.done_shots}/{total} shots)" if self.stage == "failed" else ""
            )
        if self.current is None:
            return f"{self.done_shots}/{total} shots" + (f", {self.phase}" if self.phase else "")
        ids = list(self.shots)
        shot = self.shots[self.current]
        where = f"shot {ids.index(self.current) + 1}/{total} {self.current}"
        if shot.steps is not None:
            done, steps = shot.steps
            if shot.segments:
                per_segment = steps / shot.segments
                segment = min(shot.segments, int((done - 1) // per_segment) + 1) if done else 1
                where += f", segment {segment}/{shot.segments}"
                if not shot.decoding and shot.phase is None:
                    where += f", step {done - int((segment - 1) * per_segment)}/{int(per_segment)}"
            elif not shot.decoding and shot.phase is None:
                where += f", step {done}/{steps}"
        if shot.phase is not None:
            where += f": {shot.phase}"
        elif shot.decoding:
            where += ": decoding" + (" and encoding" if done == steps else "")
        return where


class Throttle:
    """Lets an action through at most once per `seconds` (the last one of a series is forced by the caller)."""

    def __init__(self, seconds: float = MIN_UPDATE_SECONDS, clock=time.monotonic):
        self.seconds, self.clock, self.last = seconds, clock, None

    def ready(self) -> bool:
        now = self.clock()
        if self.last is not None and now - self.last < self.seconds:
            return False
        self.last = now
        return True
