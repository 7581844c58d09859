"""Loading: the one place pipelines and latent upsamplers are loaded, placed in memory and kept.

One model is resident per process: loading another drops the previous one (its pipeline, upsampler and
in-context pipeline) and empties the CUDA cache, so a batch that mixes storyboards never holds two 13-22B
models at once. Generation holds a per-device lock (`ModelCache.device_locks`) so one GPU never runs two shots
at once. `MODELS` is the process's cache; each load is logged ("Loaded ... in N s"), as the time a shot spent
waiting for weights.

Memory settings (offload, tiling) are applied per generation (`ModelCache.place`), so an out-of-memory retry
lowers them on the loaded pipeline instead of loading a second copy.
"""

import gc
import logging
import threading
import time
from collections import defaultdict
from dataclasses import replace

import diffusers
import torch
import transformers
from diffusers import LTX2ConditionPipeline, LTXConditionPipeline

from . import frame_rate, ltx2, ltx25, ltxv
from .checkpoints import MODEL_LOAD_LOCK, resolve_checkpoint, resolve_lora, resolve_upsampler
from ..plan.memory import MemorySettings, memory_steps
from ..plan.recipes import preset_of
from ..storyboard.models import ModelConfig

log = logging.getLogger(__name__)

_PIPELINES = {"ltxv": LTXConditionPipeline, "ltx2": LTX2ConditionPipeline}
_FAMILY_MODULES = {"ltxv": ltxv, "ltx2": ltx2}


def pick_device(setting: str) -> str:
    if setting != "auto":
        return setting
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(setting: str, device: str) -> torch.dtype:
    if setting == "auto":
        # bfloat16 is what LTX checkpoints are trained and shipped in; CPUs run float32 far faster.
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, setting)


def checkpoint_path(model: ModelConfig) -> str:
    """What `from_pretrained` loads: with `checkpoint: tiny` and a preset, the preset's repo in its
    generation's twin; else `resolve_checkpoint`."""
    preset = preset_of(model)
    if model.checkpoint == "tiny" and preset is not None:
        return resolve_checkpoint(f"twin:{preset.generation}:{preset.checkpoint}")
    return resolve_checkpoint(model.checkpoint, model.family)


class _QuietTimestepsWarning(logging.Filter):
    # LTXConditionPipeline passes its own timestep schedule on every call, and the scheduler
    # warns each time; with dynamic shifting off (as LTX checkpoints ship) the two agree.
    def filter(self, record: logging.LogRecord) -> bool:
        return "were passed without `sigmas`" not in record.getMessage()


def quiet_libraries() -> None:
    """Our own progress display and logs say what is happening: diffusers' and transformers' per-call bars and the
    scheduler's timesteps warning only clutter them. Called where rendering starts (`shot.render_shot`) and as a
    model loads; calling it again changes nothing."""
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    scheduler_log = logging.getLogger("diffusers.schedulers.scheduling_flow_match_euler_discrete")
    if not any(isinstance(existing, _QuietTimestepsWarning) for existing in scheduler_log.filters):
        scheduler_log.addFilter(_QuietTimestepsWarning())


def store_in_fp8(pipe) -> None:
    """The transformer's weights stored in float8 (e4m3), each layer cast to the pipeline's dtype while it runs
    (diffusers' enable_layerwise_casting, which skips the norms and embeddings LTX marks as precision-critical).
    Irreversible for this loaded model; a second call changes nothing."""
    if getattr(pipe, "_ltx_flows_fp8", False):
        return
    transformer = pipe.transformer
    transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=transformer.dtype)
    pipe._ltx_flows_fp8 = True


def apply_memory_settings(pipe, memory: MemorySettings, device: str) -> None:
    """Place a loaded diffusers pipeline on `device` with these memory settings."""
    if memory.fp8_storage:  # before the offload hooks, which then move fp8 weights
        store_in_fp8(pipe)
    on_gpu = device.startswith("cuda")
    if memory.sequential_offload and on_gpu:
        pipe.remove_all_hooks()
        pipe.enable_sequential_cpu_offload(device=device)
    elif memory.cpu_offload and on_gpu:
        pipe.enable_model_cpu_offload(device=device)  # moves everything to the CPU first
    else:
        pipe.remove_all_hooks()
        pipe.to(device)
    if memory.vae_tiling:
        stride = memory.vae_tile * 7 // 8  # the same overlap as diffusers' defaults
        pipe.vae.enable_tiling(
            tile_sample_min_height=memory.vae_tile,
            tile_sample_min_width=memory.vae_tile,
            tile_sample_stride_height=stride,
            tile_sample_stride_width=stride,
        )
    else:
        pipe.vae.disable_tiling()
    pipe.vae.use_framewise_decoding = memory.vae_framewise


def place_upsampler(upsample_pipe, device: str) -> None:
    """Put a latent upsampler pipeline on `device` without touching the VAE it shares with the main pipeline.

    `enable_model_cpu_offload` on the upsampler pipeline would start by removing every hook of its modules,
    the shared VAE's offload hooks included; the upsampler model is small (~1 GB at most), so it stays on the
    GPU and the VAE stays as the main pipeline placed it.
    """
    upsample_pipe.latent_upsampler.to(device)


class ModelCache:
    """The pipelines (and their upsamplers) this process has loaded, at most one model per device, with the memory
    settings each is placed with and a lock per device that generation holds."""

    def __init__(self):
        self.pipelines: dict[tuple, LTXConditionPipeline | LTX2ConditionPipeline] = {}
        self.upsamplers: dict[tuple, object] = {}
        self.device_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self.applied_memory: dict[int, MemorySettings] = {}  # id(pipeline) -> its current settings

    def _drop(self, device: str) -> None:
        """Forget every pipeline loaded for `device` (and what hangs off it), then return their memory."""
        from . import annotators

        dropped = [key for key in self.pipelines if key[-1] == device]
        if not dropped:  # the device's first model: nothing to free (a full collection after the imports takes 1 s here)
            return
        for key in dropped:
            pipe = self.pipelines.pop(key)
            for up_key in [k for k in self.upsamplers if k[0] == id(pipe)]:
                del self.upsamplers[up_key]
            self.applied_memory.pop(id(pipe), None)
            log.info("Dropped %s from %s: the batch moved to another model", key[1], device)
        annotators.forget_detectors()
        gc.collect()
        if device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def pipeline(self, model: ModelConfig) -> LTXConditionPipeline | LTX2ConditionPipeline:
        """The pipeline for these model settings, loaded once per process; loading another model drops it."""
        quiet_libraries()  # before a tiny twin's build, too
        device = pick_device(model.device)
        dtype = pick_dtype(model.dtype, device)
        checkpoint = checkpoint_path(model)
        preset = preset_of(model)
        # LTX-2.5's dev and distilled presets load one repo, each with its own transformer subfolder.
        subfolder = preset.transformer_subfolder if preset is not None else None
        key = (model.family, checkpoint, str(dtype), subfolder, device)
        with MODEL_LOAD_LOCK:
            if key in self.pipelines:
                return self.pipelines[key]
            self._drop(device)
            log.info("Loading %s (%s, %s) ...", model.checkpoint, dtype, device)
            start = time.perf_counter()
            # Loaded on the CPU and placed by the memory settings, so an offloaded model never has to fit the GPU whole.
            if preset is not None and preset.diffusion_decode:
                pipe = ltx25.from_pretrained(checkpoint, dtype, subfolder)
            else:
                pipe = _PIPELINES[model.family].from_pretrained(checkpoint, dtype=dtype)
            if model.family == "ltxv":
                ltxv.check_scheduler(pipe, checkpoint)
            memory = memory_steps(model)[0]
            apply_memory_settings(pipe, memory, device)
            self.applied_memory[id(pipe)] = memory
            pipe.set_progress_bar_config(disable=True)
            log.info("Loaded %s in %.1fs", model.checkpoint, time.perf_counter() - start)
            self.pipelines[key] = pipe
            return pipe

    def upsampler(self, model: ModelConfig, upsampler: str, pipe):
        """The latent upsampler pipeline for two-pass rendering, loaded once per pipeline; it shares `pipe`'s VAE."""
        device = pick_device(model.device)
        dtype = pick_dtype(model.dtype, device)
        path, subfolder = resolve_upsampler(upsampler, model.family)
        key = (id(pipe), path, subfolder)
        with MODEL_LOAD_LOCK:
            if key not in self.upsamplers:
                start = time.perf_counter()
                upsample_pipe = _FAMILY_MODULES[model.family].load_upsampler(pipe, path, subfolder, dtype)
                place_upsampler(upsample_pipe, device)
                upsample_pipe.set_progress_bar_config(disable=True)
                log.info("Loaded upsampler %s in %.1fs", upsampler, time.perf_counter() - start)
                self.upsamplers[key] = upsample_pipe
            return self.upsamplers[key]

    def temporal_upscaler(self, model: ModelConfig, upscaler: str, pipe):
        """The temporal upscaler (a published `.safetensors` file) for frame-rate upscaling, loaded once per pipeline
        as a latent upsample pipeline over `pipe`'s VAE (`frame_rate.load_temporal_upscaler`)."""
        device = pick_device(model.device)
        file = resolve_lora(upscaler)
        key = (id(pipe), "temporal", str(file))
        with MODEL_LOAD_LOCK:
            if key not in self.upsamplers:
                start = time.perf_counter()
                upsample_pipe = frame_rate.load_temporal_upscaler(model.family, file, pipe.vae,
                                                                  pick_dtype(model.dtype, device))
                place_upsampler(upsample_pipe, device)
                upsample_pipe.set_progress_bar_config(disable=True)
                log.info("Loaded temporal upscaler %s in %.1fs", upscaler, time.perf_counter() - start)
                self.upsamplers[key] = upsample_pipe
            return self.upsamplers[key]

    def place(self, pipe, model: ModelConfig, memory: MemorySettings, device: str) -> None:
        """Give a loaded pipeline these memory settings, unless it has them; call holding the device's lock."""
        if getattr(pipe, "_ltx_flows_fp8", False) and not memory.fp8_storage:
            memory = replace(memory, fp8_storage=True)  # the bfloat16 weights are gone: say what runs
            log.info("Memory settings for %s keep fp8 weights (set by an earlier out-of-memory retry)", model.checkpoint)
        if self.applied_memory.get(id(pipe)) != memory:
            log.info("Memory settings for %s: %s", model.checkpoint, memory)
            apply_memory_settings(pipe, memory, device)
            self.applied_memory[id(pipe)] = memory


# The process's models: one resident per device, shared by every shot this process renders.
MODELS = ModelCache()


def load_pipeline(model: ModelConfig) -> LTXConditionPipeline | LTX2ConditionPipeline:
    return MODELS.pipeline(model)


def load_upsampler(model: ModelConfig, upsampler: str, pipe):
    return MODELS.upsampler(model, upsampler, pipe)
