"""A shot's look in the plan (plan/looks.py): LoRA files in content hashes only for the shots they reach, a shot's
strength over the film's, a cast's trigger words, reference picture and LoRA on the shots that name it; and what the
finished outputs say of it (finish/looks.py: the manifest's record, the review page's cast sheet). Real LoRA files
made on the twins' tiny transformers; no stubs."""

from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.loading import load_storyboard

from ..storyboard.test_look_checks import BOARD, CAST, _lora


def test_a_lora_file_moves_exactly_the_hashes_of_the_shots_that_use_it(write_storyboard, workspace):
    _lora("ltx2-2.0", workspace / "film.safetensors")
    _lora("ltx2-2.0", workspace / "hero.safetensors")
    path = write_storyboard(BOARD.format(preset="ltx2-dev", film="./film.safetensors"))
    before = plan_storyboard(load_storyboard(path), path)
    assert [(lora.origin, lora.strength) for lora in before.shot("b").loras] == [("film", 0.7), ("shot", 1.0)]
    _lora("ltx2-2.0", workspace / "hero.safetensors", seed=5)
    after = plan_storyboard(load_storyboard(path), path)
    assert after.shot("a").content_hash == before.shot("a").content_hash
    assert after.shot("b").content_hash != before.shot("b").content_hash
    _lora("ltx2-2.0", workspace / "film.safetensors", seed=6)
    last = plan_storyboard(load_storyboard(path), path)
    assert last.shot("a").content_hash != after.shot("a").content_hash
    assert last.shot("b").content_hash != after.shot("b").content_hash
    # A shot naming the film's LoRA sets its strength there; 0 turns it off.
    path.write_text(path.read_text().replace("./hero.safetensors}", "./film.safetensors, strength: 0}"))
    off = plan_storyboard(load_storyboard(path), path).shot("b")
    assert [(lora.origin, lora.strength) for lora in off.loras] == [("shot", 0.0)]


def test_a_cast_puts_triggers_picture_and_lora_on_the_shots_it_is_in(write_storyboard, workspace):
    from ltx_flows.finish.looks import cast_sheet, shot_cast, shot_look

    _lora("ltx2-2.0", workspace / "mia.safetensors")
    path = write_storyboard(CAST.format(extra="", who="mia"))
    plan = plan_storyboard(load_storyboard(path), path)
    a, b = plan.shot("a"), plan.shot("b")
    assert a.prompt == "mia_person, she smiles" and a.cast == ["mia"]
    [picture] = a.keyframes
    assert (picture.image, picture.frame, picture.strength) == (workspace / "keyframes" / "a.png", 0, 0.3)
    assert [(lora.origin, lora.strength) for lora in a.loras] == [("cast mia", 0.9)]
    assert (b.prompt, b.keyframes, b.loras, b.cast) == ("an empty street", [], [], [])
    # A shot without the character plans and hashes as if there were no cast at all.
    path.write_text(path.read_text().replace(", cast: [mia]", ""))
    text = path.read_text()
    path.write_text(text[: text.index("cast:")] + text[text.index("shots:"):])
    bare = plan_storyboard(load_storyboard(path), path)
    assert bare.shot("b").content_hash == b.content_hash and bare.shot("a").content_hash != a.content_hash
    # The review page's cast sheet: the character, its facts and picture, and who is in each shot.
    sheet = cast_sheet(plan)
    assert 'data-name="mia"' in sheet and "the presenter" in sheet and "mia_person" in sheet and "in a" in sheet
    assert "data:image/jpeg;base64," in sheet
    assert "cast: mia" in shot_cast(a) and shot_cast(b) == ""
    # The manifest records them where set, and nothing for a shot without.
    assert shot_look(a)["cast"] == ["mia"] and shot_look(a)["loras"][0]["origin"] == "cast mia" and shot_look(b) == {}
