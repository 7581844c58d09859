"""Retakes without a model: validation with located messages, the window layout, plans and their chained hashes,
and the splicing of frames and sound (plain numpy; nothing is stubbed)."""

import numpy as np
import pytest
from typer.testing import CliRunner

from ltx_flows.storyboard.frames import RETAKE_BLEND_FRAMES, RETAKE_CONTEXT_FRAMES, retake_layout
from ltx_flows.media.audio import Audio
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.render.retake import splice_sound, splice_window
from ltx_flows.storyboard.loading import load_storyboard
from ltx_flows.storyboard.problems import StoryboardError

BOARD = """
version: 1
name: gift
model: {{family: {family}, checkpoint: tiny}}
output: {{width: 96, height: 64, fps: 24{audio}}}
shots:
  - id: reveal
    prompt: "hands lift the lid of a gift box"
    duration: 4
    retakes:
{retakes}
"""


def board(write_storyboard, retakes: str, family: str = "ltxv", audio: str = ""):
    return write_storyboard(BOARD.format(family=family, audio=audio, retakes=retakes))


def plan_of(path):
    return plan_storyboard(load_storyboard(path), path)


def problems(path) -> list[str]:
    with pytest.raises(StoryboardError) as info:
        load_storyboard(path)
    return [line for line in str(info.value).splitlines() if "board.yaml:" in line]


def test_bad_windows_are_located_with_line_and_column(write_storyboard):
    path = board(write_storyboard, """\
      - {from: 1.5s, to: 2.5s}
      - {from: 2s, to: 3s}
      - {from: 90, to: 94}
      - {from: 3s, to: 200}
      - {from: 97, to: end}
      - {from: 2.5s, to: 50}""")
    found = problems(path)
    assert len(found) == 5, found
    assert found[0].endswith(":11:16: shots[0].retakes[1].from: the window (frames 48-71) overlaps the window of "
                             "retakes[0] (frames 36-59); windows of one shot must not overlap: merge them or move one")
    assert ":12:24: shots[0].retakes[2].to: the window is frames 90-93 (4 frames)" in found[1]
    assert "at least one latent frame (8 frames) wide" in found[1] and "`from: 89` and `to: end`" in found[1]
    assert ":13:24: shots[0].retakes[3].to: frame 200 is past the shot's end (97 frames" in found[2]
    assert ":14:16: shots[0].retakes[4].from: frame 97 is past the shot's last frame (96)" in found[3]
    assert found[4].endswith(":15:26: shots[0].retakes[5].to: `to` (frame 50) must come after `from` (frame 60); "
                             "e.g. `to: 68`")


def test_a_misspelt_key_is_named_with_the_keys_a_retake_takes(write_storyboard):
    found = problems(board(write_storyboard, "      - {frm: 3, to: 20}"))
    assert any("unknown key `frm`; did you mean `from`? Allowed here: from, to, prompt, seed, sound" in line
               for line in found), found


@pytest.mark.parametrize("family", ["ltxv", "ltx2"])
def test_layouts_hold_context_where_the_family_can_condition_it(family):
    for frames in (17, 49, 97, 241):
        for start in range(0, frames - 8, 3):
            for width in (8, 13, 24, 40):
                end = min(start + width, frames)
                if end - start < 8:
                    continue
                layout = retake_layout(start, end, frames, family, 257)
                assert layout is not None, (frames, start, end)
                clip_end = layout.clip_start + layout.clip_frames
                assert layout.clip_frames % 8 == 1 and 0 <= layout.clip_start and clip_end <= frames
                assert (layout.blend_start, layout.blend_end) == (max(0, start - RETAKE_BLEND_FRAMES),
                                                                   min(frames, end + RETAKE_BLEND_FRAMES))
                # Held frames never reach into what is replaced; they are 8n+1 runs.
                assert layout.clip_start + layout.before <= layout.blend_start and layout.before % 8 in (0, 1)
                if layout.after:
                    assert layout.after % 8 == 1 and layout.after_start >= layout.blend_end
                    assert layout.after_start + layout.after <= clip_end
                    # LTX-Video lays a condition in place from frame_index // 8 + 2: a multiple of 8 lines up;
                    # LTX-2 puts latent index k at pixel 8(k - 1) + 1.
                    assert (layout.after_start - layout.clip_start) % 8 == (1 if family == "ltx2" else 0)
                # Room for full context on a side means full context there.
                if layout.blend_start >= RETAKE_CONTEXT_FRAMES + 8:
                    assert layout.before == RETAKE_CONTEXT_FRAMES
                if frames - layout.blend_end >= RETAKE_CONTEXT_FRAMES + 16 + (7 if family == "ltx2" else 0):
                    assert layout.after == RETAKE_CONTEXT_FRAMES
    assert retake_layout(0, 240, 241, family, 257) is not None and retake_layout(10, 260, 400, family, 257) is None


def test_hashes_chain_so_adding_a_retake_leaves_the_ones_before_and_removing_all_restores_the_shot(write_storyboard):
    one = plan_of(board(write_storyboard, "      - {from: 1.5s, to: 2.5s}")).shots[0]
    two = plan_of(board(write_storyboard, "      - {from: 1.5s, to: 2.5s}\n      - {from: 80, to: 90, seed: 3}")).shots[0]
    reworded = plan_of(board(write_storyboard, '      - {from: 1.5s, to: 2.5s, prompt: "a glint"}')).shots[0]
    none = plan_of(write_storyboard(BOARD.format(family="ltxv", audio="", retakes="      []"))).shots[0]

    assert one.base_hash == two.base_hash == reworded.base_hash == none.content_hash and none.base_hash is None
    assert two.retakes[0] == one.retakes[0] and two.content_hash == two.retakes[1].content_hash != one.content_hash
    assert reworded.content_hash != one.content_hash and reworded.retakes[0].prompt == "a glint"
    assert one.retakes[0].prompt == one.prompt and one.retakes[0].cache == f"retakes/reveal/00-{one.content_hash[:16]}.mp4"
    assert (one.retakes[0].start, one.retakes[0].end, two.retakes[1].seed) == (36, 60, 3)
    assert one.retakes[0].seed != two.retakes[1].seed and not one.retakes[0].sound  # no sound without audio


def test_ltx2_retakes_hold_frames_at_latent_indices_and_regenerate_sound(write_storyboard):
    shot = plan_of(board(write_storyboard, "      - {from: 1.5s, to: 2.5s}\n      - {from: 80, to: 90, sound: false}",
                         family="ltx2", audio=", audio: generate")).shots[0]
    first = shot.retakes[0]
    assert [(h.first_frame, h.last_frame, h.at, h.latent_index) for h in first.held] == [(15, 31, 0, 0), (64, 80, 49, 7)]
    assert [r.sound for r in shot.retakes] == [True, False]


def test_plan_shows_each_window_and_what_it_is_conditioned_on(write_storyboard):
    from ltx_flows.cli import app

    path = board(write_storyboard, "      - {from: 1.5s, to: 2.5s}")
    result = CliRunner().invoke(app, ["plan", str(path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "retakes of reveal" in result.output
    row = next(line for line in result.output.splitlines() if "1/1" in line)
    for cell in ("36-59 (24)", "15-87 (73)", "15-31 at 0, 71-87 at 56", "32-35, 60-63"):
        assert cell in row, row


def test_splicing_replaces_the_window_and_blends_its_edges():
    from ltx_flows.plan.planner import RetakePlan

    retake = RetakePlan(index=0, start=20, end=28, prompt="p", seed=1, sound=False, clip_start=7, clip_frames=33,
                        blend_start=16, blend_end=32, held=[], content_hash="0" * 64, cache="x.mp4")
    old = np.zeros((33, 4, 4, 3), dtype=np.uint8)
    new = np.full((33, 4, 4, 3), 200, dtype=np.uint8)
    out = splice_window(old, new, retake)
    assert out.shape == (16, 4, 4, 3)
    levels = out[:, 0, 0, 0].tolist()
    assert levels[4:12] == [200] * 8  # the window: the new take
    assert 0 < levels[0] < levels[1] < levels[2] < levels[3] < 200  # fading in: never all old, never all new
    assert 200 > levels[12] > levels[13] > levels[14] > levels[15] > 0  # and back out


def test_sound_outside_the_window_is_kept_sample_for_sample():
    rate = 48000
    t = np.arange(2 * rate) / rate
    old = Audio(np.stack([np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32), rate)
    # The retake clip's sound: 1 s from 0.5 s, at another rate and in mono, as a vocoder may give it.
    new = Audio(np.full((1, 24000), 0.5, dtype=np.float32), 24000)
    out = splice_sound(old, new, clip_start=0.5, blend_start=0.75, start=0.8, end=1.2, blend_end=1.25)
    a, s, e, b = (round(x * rate) for x in (0.75, 0.8, 1.2, 1.25))
    assert out.samples.shape == old.samples.shape
    assert np.array_equal(out.samples[:, :a], old.samples[:, :a]) and np.array_equal(out.samples[:, b:], old.samples[:, b:])
    assert np.allclose(out.samples[:, s:e], 0.5)
    # The crossfades go from the old sound into the new one and back, never jumping.
    assert np.abs(np.diff(out.samples[0, a - 1 : b + 1])).max() < 0.05


def test_a_keyframe_inside_a_window_stays_pinned_in_the_retake(write_storyboard):
    text = BOARD.format(family="ltx2", audio="", retakes="      - {from: 1.5s, to: 2.5s}").replace(
        "    duration: 4\n", "    duration: 4\n    keyframes:\n      - {image: keyframes/a.png, at: 2s}\n      - {image: keyframes/a.png, at: 0}\n")
    retake = plan_of(write_storyboard(text)).shots[0].retakes[0]
    # Shot frame 48 is frame 33 of the retake's clip (it starts at 15); LTX-2 pins it at latent index 5 (pixel 33).
    assert [(k.frame, k.latent_index, k.model_frame) for k in retake.keyframes] == [(33, 5, 33)]


def test_stale_stages_and_killed_writes_are_removed_and_nothing_else(write_storyboard, workspace):
    from ltx_flows.production.lock import film_lock
    from ltx_flows.render.retake import base_clip, remove_stale_stages

    shot = plan_of(board(write_storyboard, "      - {from: 1.5s, to: 2.5s}")).shots[0]
    film_dir = workspace / "renders" / "gift"
    folder = film_dir / "retakes" / "reveal"
    folder.mkdir(parents=True)
    current = [base_clip(shot), shot.retakes[0].cache]
    names = [p.rsplit("/", 1)[1] for p in current]
    keep = [*names, *(n + ".json" for n in names), names[0] + ".audio.npy", "notes.txt"]
    stale = ["00-0123456789abcdef.mp4", "00-0123456789abcdef.mp4.json", "base-0123456789abcdef.mp4.audio.npy"]
    killed = f".{names[1][:-4]}.4242-0badf00d.partial.mp4"  # what media's atomic write leaves when killed
    for name in [*keep, *stale, killed]:
        (folder / name).write_text("x")
    remove_stale_stages(shot, film_dir)
    with film_lock(film_dir):  # taking the film's lock clears what a killed writer left
        pass
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)
