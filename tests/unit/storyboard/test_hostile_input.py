"""Hostile input: every storyboard a fair but hostile tester would try gets a located message, never a
traceback, a blow-up in memory or time, or a read without limit. Real files, real decoders; no stubs."""

import os
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from ltx_flows.media.write import write_clip
from ltx_flows.storyboard.loading import load_storyboard
from ltx_flows.storyboard.problems import StoryboardError

HEAD = "version: 1\nname: s\n"


def problems(path, root=None) -> list[str]:
    with pytest.raises(StoryboardError) as caught:
        load_storyboard(path, root)
    return str(caught.value).splitlines()


def validate(*args, cwd) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ltx_flows.cli", "validate", *map(str, args)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "shot, where, words",
    [
        ("{id: a, prompt: x, duration: .inf}", "shots[0].duration:", "finite"),
        ("{id: a, prompt: x, duration: 1e308}", "shots[0].duration:", "`1e308` is out of range: `duration` must be at most 3600"),
        ("{id: a, prompt: x, frames: 10000000000}", "shots[0].frames:", "`10000000000` is out of range: `frames` must be at most 432000"),
        ("{id: a, prompt: x, frames: 9, keyframes: [{image: keyframes/a.png, at: '" + "9" * 400 + "s'}]}",
         "shots[0].keyframes[0].at:", "past the longest shot"),
    ],
)
def test_numbers_are_finite_and_bounded(write_storyboard, shot, where, words):
    path = write_storyboard(HEAD + f"shots:\n- {shot}\n- {{id: b, prompt: y, frames: 9}}\n")
    start = time.perf_counter()
    lines = problems(path)
    assert time.perf_counter() - start < 5  # the segment list of 10^10 frames is never built
    assert any(line.startswith(f"{path}:4:") and where in line and words in line for line in lines), lines


@pytest.mark.parametrize("value", [".nan", ".inf", "1e308"])
def test_crossfades_are_finite_and_bounded(write_storyboard, value):
    path = write_storyboard(HEAD + f"shots:\n- {{id: a, prompt: x, frames: 25, transition: {{crossfade: {value}}}}}\n"
                            "- {id: b, prompt: y, frames: 25}\n")
    [line] = problems(path)
    assert line.startswith(f"{path}:4:") and "shots[0].transition:" in line and "crossfade must be a positive number" in line


def test_a_very_long_take_is_counted_not_built(write_storyboard):
    path = write_storyboard(HEAD + "shots:\n- {id: a, prompt: x, frames: 432000, segments: {frames: 17, overlap: 9}}\n")
    start = time.perf_counter()
    [line] = problems(path)
    assert time.perf_counter() - start < 5
    assert "need 53999 segments" in line and "max_segments" in line


@pytest.mark.parametrize("block", [False, True])
def test_deep_nesting_is_refused_with_its_position(write_storyboard, block):
    if block:  # 900 levels of block mappings
        nested = "".join(f"{' ' * i}k{i}:\n" for i in range(900)) + " " * 900 + "x\n"
        path = write_storyboard(HEAD + "shots:\n- {id: a, prompt: x, frames: 9}\nextra:\n" + "".join(" " + line + "\n" for line in nested.splitlines()))
    else:  # 900 nested flow lists
        path = write_storyboard(HEAD + "shots: " + "[" * 900 + "]" * 900 + "\n")
    [line] = problems(path)
    assert "nested more than 64 levels deep" in line and line.startswith(f"{path}:")


def test_a_recursive_alias_is_refused(write_storyboard):
    path = write_storyboard(HEAD + "x: &s [*s]\nshots:\n- {id: a, prompt: x, frames: 9}\n")
    [line] = problems(path)
    assert line.startswith(f"{path}:3:4:") and "recursive" in line


def test_alias_expansion_is_budgeted_by_size(write_storyboard):
    """One 1 MB prompt referenced by 5,000 shots is 5 GB once expanded: refused in seconds, before `plan`."""
    shots = "".join(f"- {{id: s{i}, prompt: *p, frames: 9}}\n" for i in range(5000))
    path = write_storyboard(HEAD + f"prompt: &p {'x' * 1_000_000}\nshots:\n{shots}")
    start = time.perf_counter()
    [line] = problems(path)
    assert time.perf_counter() - start < 30  # ~7 s on 2 busy shared cores; before: `plan --json` aborted at 4.3 GB
    assert "expands to more than 16 MiB of text" in line


def test_only_regular_files_under_a_size_limit_are_read(workspace):
    (workspace / "folder.yaml").mkdir()
    result = validate("folder.yaml", "/dev/zero", cwd=workspace)
    assert result.returncode == 2
    # A folder is a valid argument (its *.yaml files): one named like a storyboard says it holds none.
    assert "folder.yaml:1:1: matches no storyboard files (*.yaml, *.yml)" in result.stderr
    assert "/dev/zero:1:1: not a regular file" in result.stderr
    assert "Traceback" not in result.stderr and "Errno" not in result.stderr

    big = workspace / "big.yaml"
    big.write_text(HEAD + "shots: []\n" + "#" * (5 * 1024 * 1024))
    [line] = problems(big)
    assert "larger than 4 MiB" in line


def test_a_file_that_is_not_a_storyboard_is_not_echoed(workspace):
    """A YAML config given as a storyboard (e.g. through a deployment parameter) keeps its secrets."""
    config = workspace / "config.yaml"
    config.write_text("database:\n  user: render\n  password: hunter2-s3cret\n")
    result = validate(config, cwd=workspace)
    assert result.returncode == 2 and "not a storyboard" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout and "password" not in result.stderr + result.stdout
    binary = workspace / "binary.yaml"
    binary.write_bytes(b"\xff\xfe secret \x00\x01")
    [line] = problems(binary)
    assert "not UTF-8" in line and "secret" not in line


def _png_with_garbage_pixels(path):
    """A PNG whose chunks all have valid CRCs but whose compressed pixel data is garbage."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 64, 48, 8, 2, 0, 0, 0)
    garbage = bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", garbage) + chunk(b"IEND", b""))


def test_media_is_decoded_at_validation_and_the_file_named(write_storyboard, workspace):
    _png_with_garbage_pixels(workspace / "keyframes" / "garbage.png")
    # 12000 x 12000, a few hundred kilobytes on disk, gigabytes decoded.
    Image.new("1", (12000, 12000)).save(workspace / "keyframes" / "huge.png")
    assert (workspace / "keyframes" / "huge.png").stat().st_size < 1_000_000
    (workspace / "controls").mkdir()
    frames = np.random.default_rng(1).integers(0, 256, (48, 128, 128, 3), dtype=np.uint8)
    clip = write_clip(frames, workspace / "controls" / "clip.mp4", fps=24)  # +faststart: the header comes first
    data = clip.read_bytes()
    (workspace / "controls" / "truncated.mp4").write_bytes(data[: len(data) * 2 // 3])
    path = write_storyboard(
        "version: 1\nname: s\nmodel: {family: ltx2}\noutput: {width: 128, height: 128}\nshots:\n"
        "- {id: a, prompt: x, frames: 9, keyframes: [{image: keyframes/garbage.png}]}\n"
        "- {id: b, prompt: x, frames: 9, keyframes: [{image: keyframes/huge.png}]}\n"
        "- {id: c, prompt: x, frames: 9, control: {kind: canny, source: controls/truncated.mp4}}\n"
        "- {id: d, prompt: x, frames: 9, control: {kind: canny, source: controls/clip.mp4}}\n"
    )
    start = time.perf_counter()
    lines = problems(path)
    assert time.perf_counter() - start < 20
    text = "\n".join(lines)
    assert f"{workspace / 'keyframes' / 'garbage.png'} is not an image that can be read: it does not decode" in text
    assert f"{workspace / 'keyframes' / 'huge.png'} is not an image that can be read: it is 12000x12000" in text
    assert f"{workspace / 'controls' / 'truncated.mp4'} is neither an image nor a video" in text
    assert "clip.mp4" not in text  # the whole clip is fine
    assert len(lines) == 3, lines


# --- issue 18: paths that cannot be opened, rules between fields, damaged beds, literal file names, hub-id typos ---

LONG_PART = "x" * 300  # longer than any file system allows one path part (255 bytes)


def test_symlink_loops_and_overlong_names_are_located_problems_naming_the_path(write_storyboard, workspace):
    """`Path.resolve` raised RuntimeError on a symlink loop and `is_file` OSError (ENAMETOOLONG) on a path part too
    long: `validate` and `render` crashed with a traceback. Every user path (keyframes, control sources, music beds,
    local models, storyboard specs on the command line) now gets a located problem naming it. Real files, no stubs."""
    os.symlink("loop-b.png", workspace / "keyframes" / "loop-a.png")
    os.symlink("loop-a.png", workspace / "keyframes" / "loop-b.png")
    os.symlink("bed-loop.wav", workspace / "bed-loop.wav")
    path = write_storyboard(
        "version: 1\nname: s\nmodel: {family: ltx2, checkpoint: ./" + LONG_PART + "}\n"
        "output: {width: 128, height: 128, audio: bed-loop.wav}\nshots:\n"
        "- {id: a, prompt: x, frames: 9, keyframes: [{image: keyframes/loop-a.png}]}\n"
        "- {id: b, prompt: x, frames: 9, keyframes: [{image: keyframes/" + LONG_PART + ".png}]}\n"
        "- {id: c, prompt: x, frames: 9, control: {kind: canny, source: " + LONG_PART + "/clip.mp4}}\n"
    )
    lines = problems(path)
    text = "\n".join(lines)
    assert len(lines) == 5, lines
    assert f"{path}:3:" in text and "model.checkpoint: `./xxx" in text  # model rules run beside the shots' mistakes
    assert f"{path}:4:" in text and "output.audio: `bed-loop.wav` cannot be opened: it is a symlink loop" in text
    assert f"{path}:6:" in text and "`keyframes/loop-a.png` cannot be opened: it is a symlink loop" in text
    assert f"{path}:7:" in text and "shots[1].keyframes[0].image: `keyframes/xxx" in text
    assert f"{path}:8:" in text and "shots[2].control.source:" in text
    assert text.count("longer than the file system allows") == 3
    # And alone.
    [line] = problems(write_storyboard(HEAD + "model: {checkpoint: ./" + LONG_PART + "}\nshots: [{id: a, prompt: x, frames: 9}]\n"))
    assert ":3:" in line and "model.checkpoint:" in line and "longer than the file system allows" in line

    # The same through the command line, text and JSON: exit 2, no traceback.
    os.symlink("spec-loop.yaml", workspace / "spec-loop.yaml")
    for output_format in ("text", "json"):
        result = validate("--format", output_format, path, "spec-loop.yaml", LONG_PART + ".yaml", cwd=workspace)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        shown = result.stdout + result.stderr
        assert "spec-loop.yaml" in shown and "symlink loop" in shown and "longer than the file system allows" in shown


def test_crossfades_in_and_out_of_a_shot_may_not_overlap_inside_it(write_storyboard):
    """Each crossfade fit its shots on its own, yet the two around a short middle shot overlapped inside it: stitching
    failed after every shot had rendered. Now refused at validation, saying the fix."""
    board = HEAD + ("shots:\n- {{id: a, prompt: x, frames: 25, transition: {{crossfade: 0.5}}}}\n"
                    "- {{id: b, prompt: x, frames: 17, transition: {{crossfade: {out}}}}}\n- {{id: c, prompt: x, frames: 25}}\n")
    path = write_storyboard(board.format(out=0.5))
    [line] = problems(path)
    assert line.startswith(f"{path}:5:") and "shots[1].transition:" in line
    assert "overlap inside its 17 frames" in line and "shorten a crossfade" in line and "lengthen the shot" in line
    suggested = float(line.split("at most {crossfade: ")[1].split("}")[0])
    # The suggestion fits: 12 frames in, 4 out (0.17 s) in a 17-frame shot.
    load_storyboard(write_storyboard(board.format(out=suggested)))


def test_keyframes_are_at_most_one_a_frame(write_storyboard):
    """5,000 keyframes on a 9-frame shot validated, and the render never finished."""
    keyframes = ", ".join(["{image: keyframes/a.png}"] * 5000)
    path = write_storyboard(HEAD + f"shots:\n- {{id: a, prompt: x, frames: 9, keyframes: [{keyframes}]}}\n")
    start = time.perf_counter()
    [line] = problems(path)
    assert time.perf_counter() - start < 30
    assert line.startswith(f"{path}:4:") and "shots[0].keyframes: 5000 keyframes on a 9-frame shot" in line
    assert "at most 9" in line
    nine = ", ".join(f"{{image: keyframes/a.png, at: {i}}}" for i in range(9))
    load_storyboard(write_storyboard(HEAD + f"shots:\n- {{id: a, prompt: x, frames: 9, keyframes: [{nine}]}}\n"))


def test_a_music_bed_damaged_in_its_middle_is_refused_naming_it(write_storyboard, workspace):
    """Validation decoded only a bed's first frame, so a bed damaged in its middle shipped as a film with a dropout
    and exit 0. Real ffmpeg-made AAC, damaged in place."""
    import imageio_ffmpeg

    bed = workspace / "bed.m4a"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=6", "-ac", "2", str(bed)], check=True)
    board = HEAD + "output: {{audio: {bed}}}\nshots:\n- {{id: a, prompt: x, frames: 9}}\n"
    load_storyboard(write_storyboard(board.format(bed="bed.m4a")))
    data = bytearray(bed.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4000] = bytes((i * 37 + 11) % 256 for i in range(4000))
    (workspace / "damaged.m4a").write_bytes(bytes(data))
    path = write_storyboard(board.format(bed="damaged.m4a"))
    [line] = problems(path)
    assert line.startswith(f"{path}:3:") and f"{workspace / 'damaged.m4a'}" in line
    assert "does not decode after" in line and "damaged or truncated" in line


def test_a_storyboard_whose_name_has_brackets_is_taken_literally(workspace):
    """`take[1].yaml` was read as a glob (matching `take1.yaml`), so the file could not be named at all."""
    (workspace / "take[1].yaml").write_text("version: 1\nname: take\nshots: [{id: a, prompt: x, frames: 9}]\n")
    result = validate("take[1].yaml", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert "take[1].yaml" in result.stdout
    # A glob still expands when no file has that name.
    result = validate("tak[e]*.yaml", cwd=workspace)
    assert result.returncode == 0 and "take[1].yaml" in result.stdout


@pytest.mark.parametrize(
    "key, value, meant",
    [
        ("checkpoint", "Lightricks/LTX-Video-0.9.7-distiled", "Lightricks/LTX-Video-0.9.7-distilled"),
        ("checkpoint", "lightricks/ltx-2", "Lightricks/LTX-2"),
        ("upsampler", "Lightricks/ltxv-spatial-upscaler-0.9.7/latent_upsampler",
         None),  # known: no problem
        ("upsampler", "Lightrick/ltxv-spatial-upscaler-0.9.7/latent_upsampler",
         "Lightricks/ltxv-spatial-upscaler-0.9.7/latent_upsampler"),
        # Far from every known id: a repo of one's own, accepted as it is.
        ("checkpoint", "myorg/LTX-Video-0.9.7-distilled", None),
        ("checkpoint", "Lightricks/LTX-Video-0.9.7-distilled-gguf", None),
        # Another version number is another model, not a typo.
        ("checkpoint", "Lightricks/LTX-Video-0.9.6-distilled", None),
    ],
)
def test_a_hub_id_one_typo_from_a_known_one_gets_a_did_you_mean(write_storyboard, key, value, meant):
    """A mistyped hub id was never checked at validation; it failed at render time as "not fully cached". Offline."""
    two_pass = "two_pass: true, " if key == "upsampler" else ""
    path = write_storyboard(HEAD + f"model: {{{two_pass}{key}: {value}}}\n"
                            "output: {width: 768, height: 512}\nshots:\n- {id: a, prompt: x, frames: 9}\n")
    if meant is None:
        load_storyboard(path)
        return
    [line] = problems(path)
    assert line.startswith(f"{path}:3:") and f"model.{key}:" in line and f"did you mean `{meant}`?" in line


# --- Issue 18: control characters, merge keys, tabs after values, echoed values -------------------


@pytest.mark.parametrize("character, name", [("\x00", "U+0000, NUL"), ("\x0c", "U+000C, form feed"),
                                             ("\x1b", "U+001B, escape"), ("\x9b", "U+009B")])
def test_a_control_character_is_a_located_problem(write_storyboard, character, name):
    path = write_storyboard(f"{HEAD}shots:\n  - id: a\n    prompt: \"a{character}b\"\n    frames: 9\n    seed: -1\n")
    lines = problems(path)
    assert lines[0] == (f"{path}:5:15: invalid YAML: an invisible control character ({name}) is not allowed in "
                        "a storyboard; delete it")
    # The rest of the file is still read (the character read as a space), so its other mistakes come in the same round.
    assert lines[1:] == [f"{path}:7:11: shots[0].seed: `-1` is out of range: `seed` must be at least 0"]


def test_control_characters_fail_validate_and_render_without_a_traceback(workspace):
    path = workspace / "nul.yaml"
    path.write_bytes(HEAD.encode() + b"shots:\n  - {id: a, prompt: \"x\x00\x0c\", frames: 9, seed: -1}\n")
    result = validate("--format", "json", path, cwd=workspace)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert [(p["line"], p["column"], p["path"]) for p in __import__("json").loads(result.stdout)] == [
        (4, 23, ""), (4, 24, ""), (4, 45, "shots[0].seed")]
    # Text: no line that holds such a character is quoted to the terminal, whatever its problem.
    result = validate(path, cwd=workspace)
    assert result.returncode == 2 and "\x00" not in result.stderr and "\x0c" not in result.stderr
    assert "shots[0].seed: `-1` is out of range" in result.stderr
    command = [sys.executable, "-m", "ltx_flows.cli", "render", str(path), "--out", str(workspace / "out")]
    result = subprocess.run(command, cwd=workspace, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"{path}:4:23: invalid YAML: an invisible control character (U+0000, NUL)" in result.stderr


def test_a_merge_key_that_overrides_a_key_is_valid_yaml(write_storyboard):
    path = write_storyboard(
        f"{HEAD}shots:\n"
        "  - &base {id: a, prompt: a sunset, frames: 9}\n"
        "  - <<: *base\n"
        "    id: b\n"  # an explicit key overrides the merged one: not a duplicate
        "  - <<: *base\n"
        "    id: c\n"
        "    id: d\n"  # two explicit keys: a duplicate
    )
    assert problems(path) == [f"{path}:9:5: shots[2].id: duplicate key `id` (first set on line 8); keep one"]
    path.write_text(path.read_text().replace("    id: d\n", ""))
    assert [(shot.id, shot.prompt) for shot in load_storyboard(path).shots] == [
        ("a", "a sunset"), ("b", "a sunset"), ("c", "a sunset")]


def test_a_merged_shot_s_problem_points_at_its_own_key(write_storyboard):
    path = write_storyboard(f"{HEAD}shots:\n  - &base {{id: a, prompt: x, frames: 9}}\n  - <<: *base\n    id: b\n    frames: 0\n")
    assert problems(path) == [f"{path}:7:13: shots[1].frames: `0` is out of range: `frames` must be at least 1"]


def test_tabs_after_values_are_white_space_and_indenting_tabs_are_refused(write_storyboard):
    path = write_storyboard(f"version: 1\t\nname:\ts\t# a comment\t\nshots:\n  - id: a\t\n    prompt: x\n    frames: 9\t\n")
    storyboard = load_storyboard(path)
    assert (storyboard.name, storyboard.shots[0].id, storyboard.shots[0].frames) == ("s", "a", 9)
    path = write_storyboard(f"{HEAD}shots:\n  - id: a\n\tprompt: x\n    frames: 9\n")
    assert [line for line in problems(path) if "invalid YAML" in line] == [
        f"{path}:5:1: invalid YAML: a tab: YAML indents with spaces only; replace the tab with spaces"]


def test_echoed_values_are_escaped_and_capped(write_storyboard):
    path = write_storyboard(
        f"version: 1\nname: \"a\\x1b[31mred\\nline\"\nshots:\n"
        f"  - {{id: a, prompt: x, frames: 9, seed: \"\\x1b[2J\\u202e{'z' * 5000}\"}}\n"
        f"  - {{id: b, prompt: x, frames: 9, \"\\x1b]0;pwned\\x07\": 1}}\n"
    )
    text = str(pytest.raises(StoryboardError, load_storyboard, path).value)
    assert not any(ch in text for ch in "\x1b\x07\u202e"), text
    lines = text.splitlines()
    assert len(lines) == 3 and all(len(line) < 400 for line in lines), lines
    assert "name: 'a\\x1b[31mred\\nline' is not a valid name" in lines[0]
    assert "shots[0].seed: `\\x1b[2J\\u202ezzz" in lines[1] and "... (5,005 characters)` is not a whole number" in lines[1]
    assert "unknown key `\\x1b]0;pwned\\x07`" in lines[2]


# --- found in review: line breaks other than `\n`, and the keyframe limit beside other rules ---


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\u2028"])
def test_a_slip_in_a_file_with_other_line_breaks_is_located_once(workspace, newline):
    """The repairs split lines on `\\n` while PyYAML also breaks lines at `\\r` and U+2028: a `\\r`-only file crashed
    with IndexError, and a U+2028 before the slip had the repair edit the wrong line every round."""
    text = newline.join([*HEAD.splitlines(), "shots:", "  - id: a", "    prompt: she says: hi", "    frames: 9", ""])
    path = workspace / "board.yaml"
    path.write_bytes(text.encode())
    [line] = problems(path)
    assert line.startswith(f"{path}:5:") and "invalid YAML" in line


def test_too_many_keyframes_do_not_hide_the_shots_crossfade(write_storyboard):
    keyframes = ", ".join(["{image: keyframes/a.png}"] * 20)
    path = write_storyboard(HEAD + "shots:\n"
                            f"- {{id: a, prompt: x, frames: 9, keyframes: [{keyframes}], transition: {{crossfade: 9}}}}\n"
                            "- {id: b, prompt: x, frames: 9}\n")
    text = "\n".join(problems(path))
    assert "shots[0].keyframes: 20 keyframes" in text and "shots[0].transition" in text


def test_a_model_path_under_an_unknown_users_home_is_named_as_such(write_storyboard):
    # `~nosuchuser/x` cannot be expanded (Path.expanduser raises RuntimeError): said once, located, and not
    # mistaken for a symlink loop; before the model-source parser was shared it was an uncaught traceback.
    path = write_storyboard(HEAD + 'model: {checkpoint: "~nosuchuser-ltx/x"}\nshots:\n- {id: a, prompt: x, frames: 9}\n')
    lines = [line for line in problems(path) if "model.checkpoint" in line]
    assert len(lines) == 1, lines
    assert "home directory" in lines[0] and "symlink" not in lines[0]
