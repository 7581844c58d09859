"""Unit tests: takes and retries planned as candidates (plan/takes.py), and picking one (real files, nothing stubbed)."""

from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.plan.takes import pick_take, retry_seeds, take_seeds
from ltx_flows.storyboard.frames import derive_seed
from ltx_flows.storyboard.loading import load_storyboard

BOARD = """\
version: 1
name: takes
output: {width: 96, height: 64}
defaults: {seed: 3}
qc: {retries: 1}
shots:
  - id: hero   # three takes
    prompt: a beam in the fog
    frames: 9
    takes: 3
  - id: plain
    prompt: rocks
    frames: 9
    qc: {retries: 0}
"""


def _plan(path):
    return plan_storyboard(load_storyboard(path, path.parent), path)


def test_takes_and_retries_are_the_shot_with_derived_seeds_each_cached_by_its_own_hash(tmp_path):
    path = tmp_path / "board.yaml"
    path.write_text(BOARD)
    plan = _plan(path)
    hero, plain = plan.shots
    first = derive_seed(3, "hero")
    assert [t.seed for t in hero.takes] == [first, derive_seed(first, "take", 2), derive_seed(first, "take", 3)]
    assert [r.seed for r in hero.retries] == retry_seeds(first, 1) and [t.take for t in hero.retries] == [4]
    assert hero.take is None and hero.seed == first
    # Take 1 is the shot as it renders without takes: the same content hash, its clip under takes/.
    assert hero.takes[0].content_hash == hero.content_hash
    assert [t.clip for t in hero.takes] == [f"takes/hero/{t.content_hash[:16]}.mp4" for t in hero.takes]
    assert len({t.content_hash for t in hero.takes}) == 3
    # No takes, no retries, keep: a plain shot, exactly as before (no candidates).
    assert plain.takes == [] and plain.retries == [] and plain.clip == "shots/plain.mp4"


def test_a_pick_keeps_every_take_and_chooses_one(tmp_path):
    path = tmp_path / "board.yaml"
    path.write_text(BOARD)
    before = _plan(path).shot("hero")
    assert pick_take(path, "hero", 2) == before.takes[1].seed
    after = _plan(path).shot("hero")
    assert after.take == 2 and after.seed == before.takes[1].seed
    assert [t.content_hash for t in after.takes] == [t.content_hash for t in before.takes]  # still cached
    assert after.content_hash == before.takes[1].content_hash  # the shot is now that take
    assert "  - id: hero   # three takes" in path.read_text()


def test_a_seed_set_by_hand_is_the_first_take(tmp_path):
    path = tmp_path / "board.yaml"
    path.write_text(BOARD.replace("takes: 3", "takes: 2\n    seed: 11"))
    storyboard = load_storyboard(path, tmp_path)
    assert take_seeds(storyboard, storyboard.shots[0]) == [11, derive_seed(derive_seed(3, "hero"), "take", 2)]
    assert _plan(path).shot("hero").take == 1
