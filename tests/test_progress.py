"""Unit tests: progress events and what they add up to (the terminal display and the progress artifact read them)."""

import logging

from ltx_flows import progress


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
    assert collect.seen[:-1] == [
        (0.0, "0/2 shots"),
        (0.059, "shot 1/2 intro, step 1/8"),
        (0.475, "1/2 shots"),
        (0.623, "shot 2/2 walk, segment 2/4, step 1/4"),
        (0.95, "shot 2/2 walk, segment 4/4, step 4/4"),
        (0.95, "2/2 shots"),
        (0.975, "stitching the film"),
        (1.0, "done"),
    ]


def test_throttle_lets_one_update_a_second_through():
    now = [100.0]
    throttle = progress.Throttle(clock=lambda: now[0])
    passed = []
    for tick in range(30):  # 3 s of events every 0.1 s
        now[0] = 100.0 + tick / 10
        passed.append(throttle.ready())
    assert [i for i, ok in enumerate(passed) if ok] == [0, 10, 20]
