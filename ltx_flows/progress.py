"""Progress of a render: events on the `ltx_flows.progress` logger, and what they add up to.

The flow emits events as shots, long-take segments and denoising steps go by; the CLI's
terminal display and the Prefect progress artifact both read them through `StoryboardProgress`,
so the two always agree. Prefect-free: events are plain log records with `extra` fields.

Event fields (all records carry `storyboard` and `event`):
- `planned`: `shots` = [(shot id, segment count or 0), ...] in film order
- `step`: `shot`, `done`, `total` (denoising steps of the shot; a long take counts across its segments)
- `shot`: `shot`, `status` (`rendered`, `cached` or `failed`)
- `stitch`: the shots are done, the film is being joined
- `finished`: `ok` (True when the film and manifest were written)
"""

import logging
import time
from dataclasses import dataclass, field

log = logging.getLogger("ltx_flows.progress")
# Events are for the display and the progress artifact, which attach here; a step a line would
# flood the run logs (Prefect sends `ltx_flows` records to the API).
log.propagate = False
log.setLevel(logging.INFO)  # events are made whatever the root logger's level; handlers decide what to show

# At most one progress artifact update a second per storyboard: a step takes milliseconds on the
# tiny model, and each update is an API call.
MIN_UPDATE_SECONDS = 1.0


def planned(storyboard: str, shots: list[tuple[str, int]]) -> None:
    log.info("%s: %d shots planned", storyboard, len(shots), extra={"storyboard": storyboard, "event": "planned", "shots": shots})


def step_reporter(storyboard: str, shot: str):
    """An `on_step(done, total)` callback for one shot that emits `step` events."""

    def on_step(done: int, total: int) -> None:
        log.info("%s shot %s: step %d/%d", storyboard, shot, done, total,
                 extra={"storyboard": storyboard, "event": "step", "shot": shot, "done": done, "total": total})

    return on_step


def shot_finished(storyboard: str, shot: str, status: str) -> None:
    log.info("%s shot %s: %s", storyboard, shot, status,
             extra={"storyboard": storyboard, "event": "shot", "shot": shot, "status": status})


def stitching(storyboard: str) -> None:
    log.info("%s: stitching", storyboard, extra={"storyboard": storyboard, "event": "stitch"})


def finished(storyboard: str, ok: bool) -> None:
    log.info("%s: %s", storyboard, "done" if ok else "failed", extra={"storyboard": storyboard, "event": "finished", "ok": ok})


@dataclass
class _Shot:
    segments: int  # 0: one window
    fraction: float = 0.0  # of its denoising steps
    steps: tuple[int, int] | None = None
    status: str | None = None


@dataclass
class StoryboardProgress:
    """One storyboard's progress, folded from its events: a fraction for a bar and a line that says where it is."""

    name: str
    shots: dict[str, _Shot] = field(default_factory=dict)
    current: str | None = None
    stage: str = "waiting"  # waiting, rendering, stitching, done, failed

    # Stitching and the manifest are the last part of a storyboard's work, after every shot.
    STITCH_SHARE = 0.05

    def update(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if event == "planned":
            self.shots = {shot_id: _Shot(segments) for shot_id, segments in record.shots}
            self.stage = "rendering"
        elif event == "step" and record.shot in self.shots:
            shot = self.shots[record.shot]
            shot.steps = (record.done, record.total)
            shot.fraction = record.done / record.total if record.total else 0.0
            self.current = record.shot
        elif event == "shot" and record.shot in self.shots:
            shot = self.shots[record.shot]
            shot.status, shot.fraction = record.status, 1.0
            if self.current == record.shot:
                self.current = None
        elif event == "stitch":
            self.stage, self.current = "stitching", None
        elif event == "finished":
            self.stage = "done" if record.ok else "failed"

    @property
    def done_shots(self) -> int:
        return sum(shot.status is not None for shot in self.shots.values())

    @property
    def fraction(self) -> float:
        if self.stage == "done":
            return 1.0
        if not self.shots:
            return 0.0
        shots = sum(shot.fraction for shot in self.shots.values()) / len(self.shots)
        return shots * (1 - self.STITCH_SHARE) + (self.STITCH_SHARE / 2 if self.stage == "stitching" else 0.0)

    def describe(self) -> str:
        """Where the storyboard is, e.g. `shot 2/3 pour, segment 2/4, step 5/8`."""
        total = len(self.shots)
        if self.stage in ("stitching", "done", "failed"):
            return {"stitching": "stitching the film", "done": "done", "failed": "failed"}[self.stage] + (
                f" ({self.done_shots}/{total} shots)" if self.stage == "failed" else ""
            )
        if self.current is None:
            return f"{self.done_shots}/{total} shots"
        ids = list(self.shots)
        shot = self.shots[self.current]
        where = f"shot {ids.index(self.current) + 1}/{total} {self.current}"
        if shot.steps is not None:
            done, steps = shot.steps
            if shot.segments:
                per_segment = steps / shot.segments
                segment = min(shot.segments, int((done - 1) // per_segment) + 1) if done else 1
                where += f", segment {segment}/{shot.segments}, step {done - int((segment - 1) * per_segment)}/{int(per_segment)}"
            else:
                where += f", step {done}/{steps}"
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

