"""Tests for ltx_flows.models.checkpoints (the tiny offline LTX-Video checkpoint, checkpoint resolution) and
ltx_flows.models.tiny_ltxv (what it is built of)."""

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ltx_flows.models import checkpoints
from ltx_flows.models.checkpoints import (
    TINY_LTXV_VERSION,
    cache_dir,
    ensure_tiny_checkpoint,
    resolve_checkpoint,
)


# diffusers 0.42.1's scheduler calls np.array() on a torch tensor of timesteps (numpy 2 warns); not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

SUBFOLDERS = ("scheduler", "text_encoder", "tokenizer", "transformer", "vae")
# The smallest clip the real compression allows: 3 x 2 latent pixels, 2 latent frames.
CLIP = dict(width=96, height=64, num_frames=9, num_inference_steps=2, output_type="np")


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    """One cache (and one build) for the whole module: building is the slow part."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LTX_FLOWS_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def tiny_path(tiny_cache):
    return ensure_tiny_checkpoint()


@pytest.fixture(scope="module")
def pipe(tiny_path):
    from diffusers import LTXConditionPipeline

    pipe = LTXConditionPipeline.from_pretrained(tiny_path)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def render(pipe, prompt="a red fox running through snow", seed=0, **kwargs):
    generator = torch.Generator("cpu").manual_seed(seed)
    return pipe(prompt=prompt, generator=generator, **CLIP, **kwargs).frames


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LTX_FLOWS_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("LTX_FLOWS_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "ltx-flows"


def test_unknown_family_is_rejected(monkeypatch, tmp_path):
    monkeypatch.setenv("LTX_FLOWS_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match="family"):
        ensure_tiny_checkpoint("sdxl")
    with pytest.raises(ValueError, match="family"):
        resolve_checkpoint("tiny", family="sdxl")


def test_checkpoint_layout(tiny_cache, tiny_path):
    assert tiny_path == tiny_cache / "checkpoints" / f"tiny-ltxv-v{TINY_LTXV_VERSION}"
    index = json.loads((tiny_path / "model_index.json").read_text())
    assert index["_class_name"] == "LTXConditionPipeline"
    for name in SUBFOLDERS:
        assert (tiny_path / name).is_dir(), name
        assert name in index
    for name in ("text_encoder", "transformer", "vae"):
        assert list((tiny_path / name).glob("*.safetensors")), name
    # The build went through a temporary folder that is gone now.
    assert not list(tiny_path.parent.glob(".tmp-*"))


def test_loads_with_real_compression(pipe):
    assert pipe.vae.spatial_compression_ratio == 32
    assert pipe.vae.temporal_compression_ratio == 8
    assert pipe.transformer.config.in_channels == pipe.vae.config.latent_channels


def test_render_shape_and_determinism(pipe):
    first = render(pipe)
    assert first.shape == (1, 9, 64, 96, 3)
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, render(pipe))
    assert not np.array_equal(first, render(pipe, prompt="a blue whale in deep water"))
    assert not np.array_equal(first, render(pipe, seed=1))


def test_image_conditions(pipe):
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8))
    plain = render(pipe)
    for frame_index in (0, 8):  # replaces the first latent / appended as a keyframe token
        condition = LTXVideoCondition(image=image, frame_index=frame_index, strength=1.0)
        frames = render(pipe, conditions=[condition])
        assert frames.shape == (1, 9, 64, 96, 3)
        assert np.isfinite(frames).all()
        assert not np.array_equal(frames, plain)


def test_ensure_is_a_noop_once_built(tiny_path, monkeypatch):
    mtime = (tiny_path / "model_index.json").stat().st_mtime_ns

    def must_not_build(family, path):
        raise AssertionError("rebuilt an existing checkpoint")

    monkeypatch.setattr(checkpoints, "build_tiny_checkpoint", must_not_build)
    assert ensure_tiny_checkpoint() == tiny_path
    assert resolve_checkpoint("tiny") == str(tiny_path)
    assert (tiny_path / "model_index.json").stat().st_mtime_ns == mtime


def test_resolve_checkpoint(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-ckpt").mkdir()
    assert resolve_checkpoint("my-ckpt") == str(tmp_path / "my-ckpt")
    assert resolve_checkpoint("Lightricks/LTX-Video-0.9.8-13B-distilled") == "Lightricks/LTX-Video-0.9.8-13B-distilled"


def fake_builder(calls, delay=0.0, fail=False):
    def build(family: str, path: Path):
        calls.append(path)
        path.mkdir(parents=True)
        (path / "vae").mkdir()
        time.sleep(delay)
        if fail:
            raise RuntimeError("crashed mid-build")
        (path / "model_index.json").write_text("{}")

    return build


def test_crashed_build_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("LTX_FLOWS_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(checkpoints, "build_tiny_checkpoint", fake_builder(calls, fail=True))
    with pytest.raises(RuntimeError, match="crashed"):
        ensure_tiny_checkpoint()
    folder = tmp_path / "checkpoints"
    assert not (folder / f"tiny-ltxv-v{TINY_LTXV_VERSION}").exists()
    assert not list(folder.glob(".tmp-*"))
    # The next call builds again instead of trusting a partial folder.
    monkeypatch.setattr(checkpoints, "build_tiny_checkpoint", fake_builder(calls))
    assert (ensure_tiny_checkpoint() / "model_index.json").is_file()
    assert len(calls) == 2


def test_concurrent_callers_build_once(monkeypatch, tmp_path):
    monkeypatch.setenv("LTX_FLOWS_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(checkpoints, "build_tiny_checkpoint", fake_builder(calls, delay=0.3))
    results = []
    threads = [threading.Thread(target=lambda: results.append(ensure_tiny_checkpoint())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len(results) == 2 and results[0] == results[1]
