"""Unit: the shot cache's records, memory steps, failure classes and batch file lists.

Real files and real models; no stubs."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from ltx_flows.production.batch import find_storyboards, render_folder
from ltx_flows.layout import audio_latents_path, record_path
from ltx_flows.render.records import STAGE_RECORD_KEYS, cached_record, clip_record, read_array
from ltx_flows.failures import describe, is_out_of_memory, is_transient
from ltx_flows.files import write_array_atomic
from ltx_flows.files import file_sha256
from ltx_flows.plan.memory import MemorySettings, memory_for_attempt, memory_steps
from ltx_flows.storyboard.models import ModelConfig

BOARD = "version: 1\nname: {name}\nshots: [{{id: a, prompt: x, frames: 9}}]\n"


def test_a_record_vouches_only_for_its_own_finished_clip(tmp_path):
    clip = tmp_path / "shots" / "a.mp4"
    clip.parent.mkdir()
    clip.write_bytes(b"x" * 100)
    assert cached_record(clip, "h1") is None  # no record yet

    record = {"content_hash": "h1", "bytes": 100, "frames": 9, "sha256": file_sha256(clip), "rendered_at": "2026-12-03",
              "attempts": [], "memory": None, "render_seconds": 1.5, "rendered_by": None}
    record_path(clip).write_text(json.dumps(record))
    assert record_path(clip).name == "a.mp4.json"
    assert cached_record(clip, "h1") == record
    assert cached_record(clip, "h1", frames=9) == record
    assert cached_record(clip, "h1", frames=17) is None  # the plan wants another length
    assert cached_record(clip, "h2") is None  # the shot changed

    clip.write_bytes(b"x" * 99 + b"y")  # damaged in place: same size, other bytes
    assert cached_record(clip, "h1") is None
    clip.write_bytes(b"y" * 50)  # replaced by something else
    assert cached_record(clip, "h1") is None
    clip.unlink()  # deleted
    assert cached_record(clip, "h1") is None

    clip.write_bytes(b"x" * 100)
    assert cached_record(clip, "h1") == record
    record_path(clip).write_text(json.dumps({"content_hash": "h1", "bytes": 100}))  # an older record, no sha256
    assert cached_record(clip, "h1") is None
    record_path(clip).write_text("{not json")  # a torn or foreign file is no record
    assert cached_record(clip, "h1") is None


@pytest.mark.parametrize("module", ["ltx_flows.render.records", "ltx_flows.render.shot"])
def test_importing_the_cache_does_not_import_torch(module):
    """The fast path for unchanged re-runs checks records before torch is imported."""
    code = f"import sys, {module}; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_memory_steps_go_down_one_at_a_time_and_stop_at_the_lowest():
    steps = memory_steps(ModelConfig())
    assert steps[0] == MemorySettings()  # the storyboard's own settings first
    # Tiling, model offload, fp8 weights (before sequential offload), sequential offload, smaller decode tiles a few
    # frames at a time; fp8 stays on below its rung (a loaded model cannot go back to its bfloat16 weights).
    assert [s.vae_tiling for s in steps] == [False, True, True, True, True, True]
    assert [s.cpu_offload for s in steps] == [False, False, True, True, False, False]
    assert [s.fp8_storage for s in steps] == [False, False, False, True, True, True]
    assert [s.sequential_offload for s in steps] == [False, False, False, False, True, True]
    assert steps[-1].vae_tile < steps[0].vae_tile and steps[-1].vae_framewise
    assert memory_for_attempt(ModelConfig(), 1) == steps[1]
    assert memory_for_attempt(ModelConfig(), 99) == steps[-1]

    # A storyboard that already tiles skips that step rather than retrying the same settings.
    tiled = memory_steps(ModelConfig(vae_tiling=True, cpu_offload=True))
    assert len(tiled) == len(set(tiled)) == 4


def test_out_of_memory_and_lost_connections_are_transient_bad_input_is_not():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert is_transient(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_transient(ConnectionResetError("peer closed"))
    for error in (ValueError("width must be even"), FileNotFoundError("x.png"), RuntimeError("ffmpeg failed")):
        assert not is_transient(error)
    assert describe(RuntimeError("first line\nsecond")) == "RuntimeError: first line"


def test_find_storyboards_expands_folders_and_globs_once_and_reports_what_cannot_render(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "boards" / "more").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    for path, name in [("boards/a.yaml", "a"), ("boards/b.yml", "b"), ("boards/more/c.yaml", "c"), ("boards/more/a2.yaml", "a")]:
        (tmp_path / path).write_text(BOARD.format(name=name))
    (tmp_path / "boards" / "notes.txt").write_text("not a storyboard")

    files, problems = find_storyboards(["boards/", "boards/a.yaml", "boards/**/*.yaml", "empty", "missing.yaml"])
    assert [str(f) for f in files] == ["boards/a.yaml", "boards/b.yml", "boards/more/c.yaml"]
    assert problems == {
        "boards/more/a2.yaml": "its name `a` is already used by boards/a.yaml; both would render into the same folder",
        "empty": "matches no storyboard files (*.yaml, *.yml)",
        "missing.yaml": "no such file or folder",
    }


def test_render_folder_refuses_urls_with_what_to_do():
    with pytest.raises(ValueError, match="mount every worker shares"):
        render_folder("s3://studio/renders")
    assert str(render_folder("/mnt/renders")) == "/mnt/renders"


def test_a_record_that_is_not_what_ltx_flows_writes_is_no_record_and_the_log_says_why(tmp_path, caplog):
    """A clip record missing a key the manifest reads (`attempts`) failed every run with the bare text `'attempts'`:
    now the clip is rendered again, and the log says which key. Real files, no stubs."""
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x" * 100)
    full = {**clip_record(clip, "h1", 9), "attempts": [], "memory": None, "render_seconds": 1.0, "rendered_by": None}
    record_path(clip).write_text(json.dumps(full))
    assert cached_record(clip, "h1") == full
    for broken in ({key: value for key, value in full.items() if key != "attempts"}, {**full, "attempts": "many"},
                   {**full, "frames": "9"}):
        record_path(clip).write_text(json.dumps(broken))
        caplog.clear()
        assert cached_record(clip, "h1") is None
        assert f"{clip} does not match its record" in caplog.text and "its record lacks" in caplog.text
    record_path(clip).write_text(json.dumps([full]))  # JSON, but not a record
    caplog.clear()
    assert cached_record(clip, "h1") is None and "is not a JSON object" in caplog.text
    # A retake stage's record has no render history: checked for what stages hold.
    stage = {key: value for key, value in full.items() if key not in ("attempts", "memory", "render_seconds", "rendered_by")}
    record_path(clip).write_text(json.dumps(stage))
    assert cached_record(clip, "h1", keys=STAGE_RECORD_KEYS) == stage


def test_a_clips_sound_latents_are_covered_by_its_record(tmp_path, caplog):
    """A damaged `<clip>.audio.npy` made every retake on its shot fail for good ("Failed to read all data for
    array", naming no file): the record now holds its sha256, so a damaged one has the clip rendered again, and a
    read error names the file. Real files, no stubs."""
    clip = tmp_path / "base.mp4"
    clip.write_bytes(b"x" * 100)
    latents = audio_latents_path(clip)
    write_array_atomic(np.arange(64, dtype=np.float32).reshape(8, 8), latents)
    record = clip_record(clip, "h1", 9)
    record_path(clip).write_text(json.dumps(record))
    assert record["audio_latents"]["sha256"] == file_sha256(latents)
    assert cached_record(clip, "h1", keys=STAGE_RECORD_KEYS) == record
    assert read_array(latents).shape == (8, 8)

    latents.write_bytes(latents.read_bytes()[:-40])  # cut short, as a full disk or a killed copy leaves it
    caplog.clear()
    assert cached_record(clip, "h1", keys=STAGE_RECORD_KEYS) is None
    assert f"{clip} does not match its record" in caplog.text and "base.mp4.audio.npy" in caplog.text
    with pytest.raises(RuntimeError, match=f"^{latents} cannot be read"):
        read_array(latents)
    latents.unlink()  # gone while the record says the clip has sound latents
    assert cached_record(clip, "h1", keys=STAGE_RECORD_KEYS) is None

    # A record of an older ltx-flows, which does not cover the latents beside it, vouches for nothing it did not see.
    write_array_atomic(np.zeros((8, 8), np.float32), latents)
    record_path(clip).write_text(json.dumps({key: value for key, value in record.items() if key != "audio_latents"}))
    assert cached_record(clip, "h1", keys=STAGE_RECORD_KEYS) is None
    latents.unlink()
    assert cached_record(clip, "h1", keys=STAGE_RECORD_KEYS) is not None  # no latents, nothing to cover
