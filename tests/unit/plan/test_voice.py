"""A shot's voice in the plan: its span in frames and audio tokens, what it adds to the content hash (only where
set), and what sound the film's clips then carry."""

from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.loading import load_storyboard

from ..storyboard.test_voice import board, write_wav


def plan(write_storyboard, text, family="ltx2"):
    path = write_storyboard(board(text).replace("family: ltx2", f"family: {family}"))
    return plan_storyboard(load_storyboard(path), path)


def test_the_plan_holds_the_lines_span_in_frames_and_tokens(write_storyboard, workspace):
    write_wav(workspace / "line.wav", 1.0)
    voice = plan(write_storyboard, "- {id: a, prompt: x, frames: 49, voice: {file: line.wav, at: \"0.5s\", text: Hi}}\n").shots[0].voice
    assert (voice.start_frame, voice.end_frame, voice.first_token, voice.last_token) == (12, 36, 12, 38)
    assert voice.follows and voice.text == "Hi" and "audio tokens 12-37 held clean" in voice.describe()
    ltxv = plan(write_storyboard, "- {id: a, prompt: x, frames: 49, voice: line.wav}\n", family="ltxv").shots[0].voice
    assert not ltxv.follows and "laid in as sound (LTX-Video cannot follow a voice)" in ltxv.describe()


def test_a_voice_moves_only_its_own_shots_hash(write_storyboard, workspace):
    write_wav(workspace / "line.wav", 1.0)
    write_wav(workspace / "other.wav", 1.0, amplitude=0.4)
    plain = plan(write_storyboard, "- {id: a, prompt: x, frames: 33}\n- {id: b, prompt: y, frames: 33}\n")
    voiced = plan(write_storyboard, "- {id: a, prompt: x, frames: 33, voice: line.wav}\n- {id: b, prompt: y, frames: 33}\n")
    other = plan(write_storyboard, "- {id: a, prompt: x, frames: 33, voice: other.wav}\n- {id: b, prompt: y, frames: 33}\n")
    captioned = plan(write_storyboard, "- {id: a, prompt: x, frames: 33, voice: {file: line.wav, text: Hello}}\n"
                                       "- {id: b, prompt: y, frames: 33, caption: Later}\n")
    assert plain.shots[1].content_hash == voiced.shots[1].content_hash  # generated sound: b's clip is unchanged
    assert len({plain.shots[0].content_hash, voiced.shots[0].content_hash, other.shots[0].content_hash}) == 3
    # The transcript and captions change no clip.
    assert [s.content_hash for s in captioned.shots] == [s.content_hash for s in voiced.shots]
    assert [s.caption for s in captioned.shots] == ["Hello", "Later"] and voiced.voiced and not plain.voiced


def test_loudness_changes_no_clip(write_storyboard, workspace):
    quiet = plan(write_storyboard, "- {id: a, prompt: x, frames: 33}\n")
    path = write_storyboard(board("- {id: a, prompt: x, frames: 33}\n").replace("fps: 24}", "fps: 24, loudness: -16}"))
    loud = plan_storyboard(load_storyboard(path), path)
    assert loud.output.loudness == -16 and loud.output.true_peak == -1
    assert loud.shots[0].content_hash == quiet.shots[0].content_hash
