"""Unit tests: `vars:` and `${name}` put in at load, `variants:` (named sets and a matrix), and their mistakes,
each located at its own character."""

import pytest
from PIL import Image

from ltx_flows.storyboard.loading import load_storyboard, load_versions
from ltx_flows.storyboard.problems import StoryboardError
from ltx_flows.storyboard.versions import MAX_VARIANTS


def problems(path) -> list[str]:
    with pytest.raises(StoryboardError) as info:
        load_versions(path)
    return str(info.value).splitlines()


def test_variables_fill_text_path_and_number_fields(write_storyboard, workspace):
    Image.new("RGB", (32, 32)).save(workspace / "keyframes" / "en.png")
    path = write_storyboard(
        """
        version: 1
        name: spot
        vars: {product: cold brew, lang: en, seed: 7}
        shots:
          - id: a
            prompt: "a can of ${product} (${lang}), $${kept}"
            seed: ${seed}
            duration: 1
            keyframes: [{image: "keyframes/${lang}.png"}]
        """
    )
    storyboard = load_storyboard(path)
    shot = storyboard.shots[0]
    assert shot.prompt == "a can of cold brew (en), ${kept}"
    assert shot.seed == 7
    assert shot.keyframes[0].image == workspace / "keyframes" / "en.png"
    assert storyboard.vars == {"product": "cold brew", "lang": "en", "seed": 7}


def test_a_storyboard_without_variables_loads_as_before(write_storyboard):
    path = write_storyboard("version: 1\nname: spot\nshots: [{id: a, prompt: 'costs $5', duration: 1}]\n")
    [version] = load_versions(path)
    assert version.variant is None and version.vars == {}
    assert version.storyboard.shots[0].prompt == "costs $5"


def test_an_unknown_variable_is_located_at_its_character(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        vars: {lang: en}
        shots:
          - id: a
            prompt: "in ${lang}, then ${lnag} and ${bad name}"
            duration: 1
          - id: b
            prompt: |
              first line
                and ${nothing} here
            duration: 1
            keyframes: [{image: "keyframes/${missing}.png"}]
        """
    )
    assert problems(path) == [
        f"{path}:6:31: shots[0].prompt: unknown variable `${{lnag}}`: define it under `vars:` (did you mean `lang`?)",
        f"{path}:6:43: shots[0].prompt: `${{bad name}}` is not a variable reference: write `${{name}}` with a name of "
        "letters, digits and `_` (a literal `${` is written `$${`)",
        f"{path}:11:13: shots[1].prompt: unknown variable `${{nothing}}`: define it under `vars:`",
        # Reported at the reference, not again as a missing file.
        f"{path}:13:36: shots[1].keyframes[0].image: unknown variable `${{missing}}`: define it under `vars:`",
    ]


def test_variants_each_get_their_values(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        vars: {product: original, lang: en}
        variants:
          - {name: base}
          - {name: german, vars: {lang: de}}
        shots: [{id: a, prompt: "${product} in ${lang}", duration: 1}]
        """
    )
    versions = load_versions(path)
    assert [(v.variant, v.storyboard.shots[0].prompt) for v in versions] == [
        ("base", "original in en"), ("german", "original in de")]


def test_a_matrix_makes_every_combination_in_order(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        variants:
          matrix: {product: [original, Vanilla Bean], lang: [en, de]}
        shots: [{id: a, prompt: "${product} in ${lang}", duration: 1}]
        """
    )
    versions = load_versions(path)
    assert [v.variant for v in versions] == ["original-en", "original-de", "vanilla-bean-en", "vanilla-bean-de"]
    assert versions[3].vars == {"product": "Vanilla Bean", "lang": "de"}
    assert versions[3].storyboard.shots[0].prompt == "Vanilla Bean in de"


def test_a_variable_some_variants_lack_names_them(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        variants:
          - {name: one, vars: {lang: en}}
          - {name: two}
        shots: [{id: a, prompt: "in ${lang}", duration: 1}]
        """
    )
    assert problems(path) == [
        f"{path}:6:29: shots[0].prompt: unknown variable `${{lang}}` for variant `two`: define it under `vars:` or in "
        "every variant"]


def test_a_problem_in_one_variant_is_reported(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        variants:
          - {name: one, vars: {size: 512}}
          - {name: two, vars: {size: 500}}
        output: {width: "${size}", height: 256}
        shots: [{id: a, prompt: "x", duration: 1}]
        """
    )
    assert problems(path) == [
        f"{path}:6:17: output.width: 500 is not a multiple of 32; the nearest valid sizes are 480 and 512"]


def test_too_large_a_matrix_and_twin_names_are_refused(write_storyboard):
    path = write_storyboard(
        f"""
        version: 1
        name: spot
        variants:
          matrix: {{a: {list(range(MAX_VARIANTS // 10 + 1))}, b: {list(range(10))}}}
        shots: [{{id: a, prompt: "${{a}} ${{b}}", duration: 1}}]
        """
    )
    [line] = problems(path)
    assert line.startswith(f"{path}:4:11: variants.matrix: the matrix makes 510 films (51 x 10); at most 500")
    path = write_storyboard(
        """
        version: 1
        name: spot
        variants:
          matrix: {a: [X, x]}
        shots: [{id: a, prompt: "${a}", duration: 1}]
        """
    )
    assert problems(path) == [
        f"{path}:4:11: variants.matrix: two variants are named `x` (the first is variant 1); each variant needs a name "
        "of its own"]


def test_a_variant_may_not_take_a_render_folders_name(write_storyboard):
    path = write_storyboard(
        """
        version: 1
        name: spot
        variants: [{name: shots}]
        shots: [{id: a, prompt: x, duration: 1}]
        """
    )
    assert problems(path) == [f"{path}:3:19: variants[0].name: a variant named `shots` would share a folder name "
                              "ltx-flows writes under a film's render folder; choose another name"]
