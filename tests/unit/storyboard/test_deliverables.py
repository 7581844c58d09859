"""Unit tests: `deliverables:`, shot `focus` and `overlays:` in a storyboard, and their mistakes, located."""

import pytest
from PIL import Image

from ltx_flows.storyboard.loading import load_versions
from ltx_flows.storyboard.problems import StoryboardError


def problems(path) -> list[str]:
    with pytest.raises(StoryboardError) as info:
        load_versions(path)
    return str(info.value).splitlines()


def test_deliverables_and_overlays_load(write_storyboard, workspace):
    Image.new("RGBA", (16, 8)).save(workspace / "logo.png")
    path = write_storyboard(
        """
        version: 1
        name: spot
        deliverables:
          - {name: wide, framing: render, width: 768, height: 448}
          - {name: story, width: 252, height: 448, fps: 30, max_seconds: 6, profile: social-vertical}
        overlays:
          logo: {image: logo.png, position: bottom-left, opacity: 0.5, end: 3}
          end_card: {seconds: 1, color: "#ffcc00", text: "Buy now"}
          legal: {text: "Terms apply"}
        shots: [{id: a, prompt: x, frames: 9, focus: {x: 0.25, y: 0.75}}]
        """
    )
    [version] = load_versions(path)
    storyboard = version.storyboard
    assert [d.framing for d in storyboard.deliverables] == ["render", "crop"]
    assert storyboard.overlays.logo.image == workspace / "logo.png"
    assert (storyboard.shots[0].focus.x, storyboard.shots[0].focus.y) == (0.25, 0.75)


def test_bad_deliverables_overlays_and_focus_are_located(write_storyboard, workspace):
    Image.new("RGBA", (400, 8)).save(workspace / "wide-logo.png")
    (workspace / "notes.png").write_text("not an image")
    path = write_storyboard(
        """
        version: 1
        name: spot
        deliverables:
          - {name: wide, framing: render, width: 500, height: 448}
          - {name: story, width: 252, height: 448}
        overlays:
          logo: {image: wide-logo.png}
          end_card: {seconds: 1, image: notes.png}
        shots: [{id: a, prompt: x, frames: 9, focus: {x: 1.5}}]
        """
    )
    found = problems(path)
    assert found[0] == (f"{path}:4:42: deliverables[0].width: 500 is not a multiple of 32 (`framing: render` "
                        "generates frames at this size, in 32-pixel blocks); the nearest valid sizes are 480 and 512")
    assert found[1].startswith(f"{path}:8:33: overlays.end_card.image: ") and "is not an image" in found[1]
    assert found[2] == (f"{path}:9:50: shots[0].focus.x: 1.5 is outside the frame: `focus.x` is a fraction of the "
                        "frame, from 0 (left or top) to 1 (right or bottom)")
    assert len(found) == 3  # the logo's size is checked once the storyboard validates


def test_a_logo_larger_than_a_deliverable_is_refused(write_storyboard, workspace):
    Image.new("RGBA", (300, 8)).save(workspace / "wide-logo.png")
    path = write_storyboard(
        """
        version: 1
        name: spot
        deliverables: [{name: story, width: 252, height: 448}]
        overlays: {logo: {image: wide-logo.png}}
        shots: [{id: a, prompt: x, frames: 9}]
        """
    )
    assert problems(path) == [f"{path}:4:26: overlays.logo.image: the logo is 300x8, larger than the 252x448 frame "
                              "of deliverable `story`; scale it down"]


def test_a_render_deliverable_may_not_take_a_render_folders_name(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        deliverables: [{name: shots, framing: render, width: 256, height: 448}]
        shots: [{id: a, prompt: x, frames: 9}]
        """
    )
    assert problems(path) == [f"{path}:3:23: deliverables[0].name: `shots` names a folder ltx-flows writes beside it "
                              "(shots, segments, retakes, controls, overlays); choose another name"]


def test_burned_caption_styles_load_and_bad_values_are_located(write_storyboard, workspace):
    (workspace / "font.ttf").write_text("not a font")
    path = write_storyboard(
        """
        version: 1
        name: spot
        deliverables:
          - {name: story, width: 252, height: 448, captions: {size: 3, position: middle, color: red}}
          - {name: wide, width: 448, height: 252, captions: {font: font.ttf}}
        shots: [{id: a, prompt: x, frames: 9, caption: Hello}]
        """
    )
    found = "\n".join(problems(path))
    assert f"{path}:4:61: deliverables[0].captions.size: " in found
    assert f"{path}:4:74: deliverables[0].captions.position: `middle` is not one of `bottom`, `top`, `center`" in found
    assert f"{path}:4:89: deliverables[0].captions.color: 'red' is not a colour: `color` is written `#rrggbb`" in found
    assert "deliverables[1].captions.font: " in found and "is not a font file" in found
    path.write_text(path.read_text().replace("size: 3, position: middle, color: red", "position: top")
                    .replace("{font: font.ttf}", "{burn: false}"))
    [version] = load_versions(path)
    story, wide = version.storyboard.deliverables
    assert (story.captions.burn, story.captions.position, story.captions.box) == (True, "top", True)
    assert not wide.captions.burn
    path.write_text(path.read_text().replace(", caption: Hello", ""))
    assert any("deliverables[0].captions: the film has no captions to burn in" in line for line in problems(path))


def test_braces_in_a_burned_caption_are_refused_at_the_caption(write_storyboard, workspace):
    # libass would read `{the box}` as a style override and draw only "Open"; a file without burned captions is fine.
    path = write_storyboard(
        """
        version: 1
        name: spot
        deliverables: [{name: story, width: 252, height: 448, captions: {burn: true}}]
        shots: [{id: a, prompt: x, frames: 9, caption: "Open {the box}"}]
        """
    )
    assert problems(path) == [f"{path}:4:48: shots[0].caption: a caption burned into a deliverable cannot hold `{{` or "
                              "`}` (libass reads braces as style overrides and drops the words between them): write "
                              "it without braces, e.g. with ( )"]
    path.write_text(path.read_text().replace("burn: true", "burn: false"))
    [version] = load_versions(path)
    assert version.storyboard.shots[0].caption == "Open {the box}"
