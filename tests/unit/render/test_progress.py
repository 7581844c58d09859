"""Unit tests: progress events and what they add up to (the terminal display and the progress artifact read them)."""

import logging

from ltx_flows.render import progress


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.state = progress.StoryboardProgress("film")
        self.seen = []

    def emit(self, record):
        self.state.update(record)
        self.seen.append((round(self.state.fraction, 3), self.state.describe()))


def test_events_fold_into_shot_segment_and_step(monkeypatch):
    collect = Collect()
    progress.log.addHandler(collect)
    try:
        progress.planned("film", [("intro", 0), ("walk", 4)])
        step = progress.step_reporter("film", "intro")
        step(1, 8)
        progress.shot_finished("film", "intro", "rendered")
        walk = progress.step_reporter("film", "walk")  # a long take counts steps across its 4 segments
        walk(5, 16)
        walk(16, 16)
        progress.shot_finished("film", "walk", "rendered")
        progress.stitching("film")
        progress.finished("film", ok=True)
        progress.step_reporter("other", "x")(1, 2)  # another storyboard's events do not count here
    finally:
        progress.log.removeHandler(collect)
    assert collect.seen[:-2] == [
        (0.0, "0/2 shots"),
        (0.0, "shot 1/2 intro: starting"),
        (0.053, "shot 1/2 intro, step 1/8"),
        (0.475, "1/2 shots"),
        (0.475, "shot 2/2 walk: starting"),
        (0.609, "shot 2/2 walk, segment 2/4, step 1/4"),
        (0.902, "shot 2/2 walk, segment 4/4: decoding and encoding"),  # no step left: not "step 4/4"
        (0.95, "2/2 shots"),
        (0.975, "stitching the film"),
        (1.0, "done"),
    ]


def event(created: float, **fields) -> logging.LogRecord:
    """A progress record made at `created` (time.time() seconds), as the module's functions make them."""
    return logging.makeLogRecord({"storyboard": "film", "created": created, **fields})


def steps(state, shot: str, start: float, total: int, every: float = 1.0) -> float:
    """`total` steps of `shot`, one each `every` seconds from `start`; returns the time of the last."""
    for done in range(1, total + 1):
        state.update(event(start + done * every, event="step", shot=shot, done=done, total=total))
    return start + total * every


def test_eta_counts_each_shots_decode_and_encode():
    """The ETA covers the whole storyboard: after a shot's last step it says it is decoding and does not claim
    the steps' few seconds; once one decode and encode is timed, each shot left is counted with one."""
    state = progress.StoryboardProgress("film")
    state.update(event(0.0, event="phase", what="starting Prefect", shot=None))
    assert (state.describe(), state.eta(5.0)) == ("starting Prefect", None)  # nothing timed: no figure
    state.update(event(10.0, event="planned", shots=[("a", 0), ("b", 0)]))
    state.update(event(10.0, event="phase", what="loading model tiny", shot="a"))
    assert state.describe() == "shot 1/2 a: loading model tiny"
    last = steps(state, "a", 20.0, 12)  # 1 s a step
    # 48 s of decoding and encoding, not yet timed: a lower bound (b's 12 steps), never "0:00:02" for all of it.
    assert state.describe() == "shot 1/2 a: decoding and encoding"
    assert state.eta(last + 30) == progress.Eta(12.0, at_least=True) and str(state.eta(last + 30)) == "≥0:00:12"
    state.update(event(last + 40, event="phase", what="encoding", shot="a"))
    assert state.describe() == "shot 1/2 a: encoding"
    state.update(event(last + 48, event="shot", shot="a", status="rendered"))
    # b: its 12 steps and a decode and encode as long as a's.
    assert state.eta(last + 48) == progress.Eta(12.0 + 48.0)
    b_last = steps(state, "b", last + 50, 12)
    assert state.eta(b_last + 18) == progress.Eta(30.0)  # counts down while no event comes
    assert str(state.eta(b_last + 60)) == "≥0:00:00"  # slower than a's: at least nothing, not a made-up figure
    state.update(event(b_last + 50, event="shot", shot="b", status="rendered"))
    state.update(event(b_last + 50, event="stitch"))
    assert state.describe() == "stitching the film" and state.eta(b_last + 51).at_least
    state.update(event(b_last + 52, event="finished", ok=True))
    assert state.eta(b_last + 52) == progress.Eta(0.0)


def test_eta_of_a_long_take_skips_the_decodes_between_its_segments():
    """A long take decodes each segment after its last step: that gap is not a slow step (unit test)."""
    state = progress.StoryboardProgress("film")
    state.update(event(0.0, event="planned", shots=[("walk", 2)]))
    for done in range(1, 5):
        state.update(event(done * 2.0, event="step", shot="walk", done=done, total=8))
    assert state.describe() == "shot 1/1 walk, segment 1/2: decoding"
    for done in range(5, 9):  # the second segment starts 30 s later (decode, cache write)
        state.update(event(30.0 + done * 2.0, event="step", shot="walk", done=done, total=8))
    assert state.step_seconds and max(state.step_seconds) == 2.0


def test_phases_reach_the_progress_log(monkeypatch):
    collect = Collect()
    progress.log.addHandler(collect)
    try:
        progress.phase("film", "starting Prefect")
        progress.planned("film", [("intro", 0)])
        progress.step_reporter("film", "intro")  # made as the shot's task starts
        progress.phase("film", "loading model tiny", "intro")
    finally:
        progress.log.removeHandler(collect)
    assert [line for _, line in collect.seen] == [
        "starting Prefect", "0/1 shots", "shot 1/1 intro: starting", "shot 1/1 intro: loading model tiny",
    ]


def test_throttle_lets_one_update_a_second_through():
    now = [100.0]
    throttle = progress.Throttle(clock=lambda: now[0])
    passed = []
    for tick in range(30):  # 3 s of events every 0.1 s
        now[0] = 100.0 + tick / 10
        passed.append(throttle.ready())
    assert [i for i, ok in enumerate(passed) if ok] == [0, 10, 20]


def test_a_generation_event_says_the_shot_is_generating_and_a_listener_can_stop_it():
    """`progress.generation` says a generation starts: the display says so until the first step (the model load and
    the wait for the device are over), and a listener that raises stops the generation with its error, in the
    generating thread."""
    collect = Collect()

    class Refuse(logging.Handler):
        def emit(self, record):
            if record.event == "generation" and record.generation["prompt"] == "no":
                raise RuntimeError("refused")

    refuse = Refuse()
    progress.log.addHandler(collect)
    progress.log.addHandler(refuse)
    try:
        progress.planned("film", [("intro", 0), ("outro", 0)])
        progress.phase("film", "starting", "intro")
        progress.generation("film", "intro", {"prompt": "yes", "frames": 9})
        progress.phase("film", "encoding", "intro")
        # The next shot's generation does not take the bar from the shot still encoding.
        progress.generation("film", "outro", {"prompt": "yes", "frames": 9})
        try:
            progress.generation("film", "outro", {"prompt": "no", "frames": 9})
        except RuntimeError as error:
            refused = str(error)
    finally:
        progress.log.removeHandler(collect)
        progress.log.removeHandler(refuse)
    assert refused == "refused"
    assert [line for _, line in collect.seen] == [
        "0/2 shots", "shot 1/2 intro: starting", "shot 1/2 intro: generating"] + ["shot 1/2 intro: encoding"] * 3


def test_importing_the_render_modules_changes_no_logging_state():
    """Rendering sets up its loggers where it starts (the first event, the first model load), not at import."""
    import subprocess
    import sys

    code = """
import logging
import diffusers
names = ("ltx_flows.render.progress", "diffusers.schedulers.scheduling_flow_match_euler_discrete")
def ours(logger):  # our filters (diffusers adds its own when the scheduler's module loads)
    return sum(type(f).__module__.startswith("ltx_flows") for f in logger.filters)
def state():
    return [(logging.getLogger(n).propagate, logging.getLogger(n).level, ours(logging.getLogger(n))) for n in names]
before = (state(), diffusers.utils.logging.is_progress_bar_enabled())
import ltx_flows.render.shot, ltx_flows.render.long_take, ltx_flows.render.retake, ltx_flows.models.loading
assert (state(), diffusers.utils.logging.is_progress_bar_enabled()) == before, (state(), before)
ltx_flows.models.loading.quiet_libraries()
ltx_flows.models.loading.quiet_libraries()  # once is enough: a second call adds nothing
assert ours(logging.getLogger(names[1])) == 1
assert not diffusers.utils.logging.is_progress_bar_enabled()
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
