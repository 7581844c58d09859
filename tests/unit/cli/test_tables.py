"""Unit tests: the `plan` and `presets` tables as a terminal of 80 and 120 columns shows them (rich's own
Console(width=..., record=True); no stubs): nothing a user copies is cut, nothing runs past the edge, and user
text (prompts, file names) prints as written, never as rich markup (issue 18, items 10 and 17a)."""

import io
import shutil

import pytest
from rich.console import Console

from ltx_flows.tables import calls_table, plan_table, presets_blocks, retakes_table, segments_table
from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.presets import presets_json
from ltx_flows.storyboard.loading import load_storyboard

from ...test_cli import TABLES_BOARD as BOARD


def shown(parts: list, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    for part in parts:
        console.print(part)
    return console.export_text()


@pytest.fixture
def board_plan(write_storyboard, workspace):
    shutil.copy(workspace / "keyframes" / "a.png", workspace / "keyframes" / "key[1].png")
    path = write_storyboard(BOARD)
    return plan_storyboard(load_storyboard(path), path)


def plan_text(render_plan, width: int) -> str:
    parts = plan_table(render_plan, width)
    for shot in render_plan.shots:
        parts += segments_table(shot, width) if shot.segments else []
        parts += retakes_table(shot, width) if shot.retakes else []
    return shown(parts + calls_table(render_plan, width), width)


@pytest.mark.parametrize("width", [80, 120])
def test_plan_fits_the_terminal_and_cuts_nothing(board_plan, width):
    text = plan_text(board_plan, width)
    assert all(len(line) <= width for line in text.splitlines()), text
    assert "…" not in text, text
    for shot in board_plan.shots:
        assert shot.content_hash[:12] in text and str(shot.seed) in text
        for item in [*shot.segments, *shot.retakes]:
            assert item.content_hash[:12] in text and str(item.seed) in text
    assert "key[1].png@0" in text  # a file name, as written
    assert "GPU memory, estimate: none for checkpoint tiny" in text  # said, not left out


@pytest.mark.parametrize("width", [80, 120])
def test_plan_prints_prompts_as_written(board_plan, width):
    """`[/]` crashed `plan` and `[red]x[/red]` lost its brackets: user text is Text, not markup."""
    text = plan_text(board_plan, width)
    assert "[red]x[/red]" in text and "[bold]orbit" in text


def test_a_retake_to_the_end_blends_back_only_before_it(board_plan):
    """A window that runs to the shot's end has nothing after it to blend: no `97-96` (an empty range)."""
    [reveal, _] = board_plan.shots
    last = reveal.retakes[1]
    assert last.end == last.blend_end == reveal.frames
    text = plan_text(board_plan, 200)
    [row] = [line for line in text.splitlines() if line.startswith("│ 2/2")]  # the table, at 200 columns
    assert f"{last.blend_start}-{last.start - 1} " in row and f"{last.end}-" not in row, row


def test_plan_shows_the_gpu_memory_estimate_of_a_preset(write_storyboard):
    path = write_storyboard("version: 1\nname: p\nmodel: {preset: ltx2-distilled, checkpoint: tiny}\n"
                            "shots: [{id: a, prompt: x, frames: 9}]\n")
    render_plan = plan_storyboard(load_storyboard(path), path)
    text = " ".join(plan_text(render_plan, 80).split())
    vram = render_plan.vram
    assert f"~{vram.resident_gb:g} GB resident" in text and f"~{vram.sequential_offload_gb:g} GB with sequential" in text
    assert f"~{vram.fp8_offload_gb:g} GB with fp8 weights too" in text
    # The fp8 rung halves the transformer's weights; with model offload the larger of it and the text encoder counts.
    assert vram.sequential_offload_gb < vram.fp8_offload_gb <= vram.model_offload_gb < vram.resident_gb


@pytest.mark.parametrize("width", [80, 120])
def test_presets_never_cut_a_name_or_an_id(width):
    text = shown(presets_blocks(presets_json()), width)
    assert all(len(line) <= width for line in text.splitlines()) and "…" not in text, text
    lines = [line.strip() for line in text.splitlines()]
    for preset in presets_json():
        assert f"preset        {preset['name']}" in lines  # whole, on its own line, to copy
        assert f"checkpoint    {preset['checkpoint']}" in lines
        if width >= 120:  # every id on one line; at 80 the longest IC-LoRA paths fold, never cut
            ids = [preset["upsampler"], preset["stage2_lora"], *preset["loras"].values()]
            assert all(any(i in line for line in lines) for i in ids if i), preset["name"]
        assert f"{preset['steps']} steps" in text  # the recipe the README promises
    folded = "".join(line.strip() for line in text.splitlines())
    assert all(lora in folded for preset in presets_json() for lora in preset["loras"].values())
    assert "first: guidance_rescale=0.7" in text and "refine: sigmas=[0.909375" in " ".join(text.split())
