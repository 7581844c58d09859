"""Unit: the shot cache's records, memory steps, failure classes and batch file lists.

Real files and real models; no stubs."""

import json
import subprocess
import sys

import pytest
import torch

from ltx_flows.batch import find_storyboards, render_folder
from ltx_flows.cache import cached_record, sidecar
from ltx_flows.failures import describe, is_out_of_memory, is_transient
from ltx_flows.plan import file_sha256
from ltx_flows.memory import MemorySettings, memory_for_attempt, memory_steps
from ltx_flows.storyboard import ModelConfig

BOARD = "version: 1\nname: {name}\nshots: [{{id: a, prompt: x, frames: 9}}]\n"


def test_a_record_vouches_only_for_its_own_finished_clip(tmp_path):
    clip = tmp_path / "shots" / "a.mp4"
    clip.parent.mkdir()
    clip.write_bytes(b"x" * 100)
    assert cached_record(clip, "h1") is None  # no record yet

    record = {"content_hash": "h1", "bytes": 100, "frames": 9, "sha256": file_sha256(clip)}
    sidecar(clip).write_text(json.dumps(record))
    assert sidecar(clip).name == "a.mp4.json"
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
    sidecar(clip).write_text(json.dumps({"content_hash": "h1", "bytes": 100}))  # an older record, no sha256
    assert cached_record(clip, "h1") is None
    sidecar(clip).write_text("{not json")  # a torn or foreign file is no record
    assert cached_record(clip, "h1") is None


def test_importing_the_cache_does_not_import_torch():
    """The fast path for unchanged re-runs checks records before torch is imported."""
    code = "import sys, ltx_flows.cache; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_memory_steps_go_down_one_at_a_time_and_stop_at_the_lowest():
    steps = memory_steps(ModelConfig())
    assert steps[0] == MemorySettings()  # the storyboard's own settings first
    # Tiling, model offload, sequential offload, smaller decode tiles a few frames at a time.
    assert [s.vae_tiling for s in steps] == [False, True, True, True, True]
    assert [s.cpu_offload for s in steps] == [False, False, True, False, False]
    assert [s.sequential_offload for s in steps] == [False, False, False, True, True]
    assert steps[-1].vae_tile < steps[0].vae_tile and steps[-1].vae_framewise
    assert memory_for_attempt(ModelConfig(), 1) == steps[1]
    assert memory_for_attempt(ModelConfig(), 99) == steps[-1]

    # A storyboard that already tiles skips that step rather than retrying the same settings.
    tiled = memory_steps(ModelConfig(vae_tiling=True, cpu_offload=True))
    assert len(tiled) == len(set(tiled)) == 3


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
