"""Unit tests: planning every version of a storyboard (plan/versions.py): one film per variant, `render`
deliverables as films of their own size, `crop` windows around each shot's focus, and the unique shots."""

from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.plan.versions import film_entries, plan_versions, unique_shots
from ltx_flows.storyboard.loading import load_storyboard, load_versions

SPOT = """
version: 1
name: spot
output: {width: 128, height: 64, fps: 24}
variants:
  matrix: {product: [original, vanilla], lang: [en, de]}
deliverables:
  - {name: wide, framing: render, width: 128, height: 64}
  - {name: story, framing: crop, width: 36, height: 64}
shots:
  - {id: open, prompt: "a can of ${product}", frames: 9, focus: {x: 0.9}}
  - {id: talk, prompt: "hello in ${lang}", frames: 9}
"""


def test_a_storyboard_without_versions_plans_as_before(write_storyboard):
    path = write_storyboard("version: 1\nname: spot\nshots: [{id: a, prompt: x, frames: 9}]\n")
    [plan] = plan_versions(load_versions(path), path)
    assert plan == plan_storyboard(load_storyboard(path), path)
    assert plan.variant is None and plan.folder is None and plan.deliveries == []
    [entry] = film_entries(plan)
    assert (entry.variant, entry.deliverable, entry.path) == (None, None, "spot/spot.mp4")


def test_every_variant_and_deliverable_is_a_film_and_equal_shots_share_a_hash(write_storyboard):
    path = write_storyboard(SPOT)
    plans = plan_versions(load_versions(path), path)
    # Per variant: the film at the storyboard's size (carrying the crop deliverable) and the `render` deliverable.
    assert [(p.variant, p.deliverable, p.folder) for p in plans[:2]] == [
        ("original-en", None, "spot/original-en"), ("original-en", "wide", "spot/original-en/wide")]
    entries = [entry for plan in plans for entry in film_entries(plan)]
    assert [(e.variant, e.deliverable, e.width, e.height, e.path) for e in entries[:2]] == [
        ("original-en", "story", 36, 64, "spot/original-en/spot_original-en_story.mp4"),
        ("original-en", "wide", 128, 64, "spot/original-en/spot_original-en_wide.mp4")]
    assert len(entries) == 8
    # `open` differs by product, `talk` by language; `wide` is the storyboard's own size: 4 unique shots of 16.
    assert unique_shots(plans) == 4


def test_a_crop_follows_each_shots_focus_inside_the_frame(write_storyboard):
    path = write_storyboard(SPOT)
    [crop] = plan_versions(load_versions(path), path)[0].deliveries
    assert (crop.crop.width, crop.crop.height) == (36, 64)
    # focus x 0.9 of 128 = 115: the window's centre there would pass the right edge, so it stops at 128 - 36.
    assert [(w.start, w.x, w.y) for w in crop.crop.windows] == [(0, 92, 0), (9, 46, 0)]


def test_a_render_deliverable_of_another_size_renders_its_own_shots(write_storyboard):
    path = write_storyboard(SPOT.replace("{name: wide, framing: render, width: 128, height: 64}",
                                         "{name: wide, framing: render, width: 96, height: 64, fps: 12}"))
    plans = plan_versions(load_versions(path), path)
    wide = plans[1]
    assert (wide.output.width, wide.output.height, wide.output.fps) == (96, 64, 12)
    assert wide.deliveries[0].file == "../spot_original-en_wide.mp4" and wide.deliveries[0].crop is None
    assert {s.content_hash for s in wide.shots}.isdisjoint({s.content_hash for s in plans[0].shots})
    assert unique_shots(plans) == 8
