"""LTX-2.5 through diffusers' own classes, composed as its modular LTX-2.5 blocks compose them.

`from_pretrained` loads an LTX-2.5 repo (`Lightricks/LTX-2.5-Diffusers` or a folder in its layout) into
LTX2ConditionPipeline, with the transformer from the subfolder the preset names (`transformer_full/`, the dev
weights, which the pipeline does not load by itself) and the diffusion decoder (`diffusion_decoder/`, also left
out by the pipeline) in an LTX2VideoDiffusionDecodePipeline kept on the pipeline. `decode` is the plan's "decode"
call: the last pass returns latents (`output_type="latent"`, already denormalized), the diffusion decoder turns
the video latents into frames, and the audio latents go through the pipeline's own audio VAE and vocoder, as its
`__call__` does for any other output type. The dedicated prompt enhancer (`prompt_enhancer/`) is left out of the
render's pipeline and loaded by `load_prompt_enhancer` for enhancement only (models/enhance.py).
"""

import warnings

import diffusers
import numpy as np
import torch
from diffusers import (
    FlowMatchEulerDiscreteScheduler,
    LTX2ConditionPipeline,
    LTX2VideoDiffusionDecoderModel,
    LTX2VideoTransformer3DModel,
)
from diffusers.pipelines.ltx2 import LTX2VideoDiffusionDecodePipeline

_DECODER = "_ltx_flows_diffusion_decode"


def from_pretrained(checkpoint: str, dtype: torch.dtype, transformer_subfolder: str | None) -> LTX2ConditionPipeline:
    """The pipeline of an LTX-2.5 checkpoint with its diffusion decoder; `transformer_subfolder` None keeps the
    pipeline's `transformer/` (the distilled weights)."""
    extra = {}
    if transformer_subfolder is not None:
        extra["transformer"] = LTX2VideoTransformer3DModel.from_pretrained(
            checkpoint, subfolder=transformer_subfolder, dtype=dtype)
    # model_index.json lists transformer_full/ and diffusion_decoder/, which LTX2ConditionPipeline warns it ignores:
    # both are loaded here on purpose.
    verbosity = diffusers.utils.logging.get_verbosity()
    diffusers.utils.logging.set_verbosity_error()
    try:
        # prompt_enhancer=None: the dedicated enhancer (Gemma 4, ~5B parameters) is loaded only when a shot enhances
        # its prompt (`load_prompt_enhancer`); passed, it is neither loaded nor downloaded here.
        pipe = LTX2ConditionPipeline.from_pretrained(checkpoint, dtype=dtype, prompt_enhancer=None, **extra)
    finally:
        diffusers.utils.logging.set_verbosity(verbosity)
    decoder = LTX2VideoDiffusionDecoderModel.from_pretrained(checkpoint, subfolder="diffusion_decoder", dtype=dtype)
    # The decode pipeline reads only the VAE's latent statistics; its scheduler is registered, not stepped (the
    # decoder runs its own steps).
    decode_pipe = LTX2VideoDiffusionDecodePipeline(
        diffusion_decoder=decoder, scheduler=FlowMatchEulerDiscreteScheduler(), vae=pipe.vae)
    decode_pipe.set_progress_bar_config(disable=True)
    setattr(pipe, _DECODER, decode_pipe)
    return pipe


def load_prompt_enhancer(checkpoint: str, dtype: torch.dtype):
    """The dedicated prompt enhancer of an LTX-2.5 checkpoint (`prompt_enhancer/`, Gemma4ForConditionalGeneration),
    on the CPU."""
    from transformers import Gemma4ForConditionalGeneration

    try:
        return Gemma4ForConditionalGeneration.from_pretrained(checkpoint, subfolder="prompt_enhancer", dtype=dtype)
    except OSError as error:  # named, so a missing download says which model (checkpoints.not_cached)
        raise OSError(f"Cannot load model {checkpoint}/prompt_enhancer: {error}") from error


def has_diffusion_decoder(pipe) -> bool:
    return getattr(pipe, _DECODER, None) is not None


@torch.no_grad()
def decode(pipe: LTX2ConditionPipeline, video_latents: torch.Tensor, audio_latents: torch.Tensor, kwargs: dict,
           generator: torch.Generator) -> tuple[np.ndarray, torch.Tensor]:
    """The "decode" call: (frames of the first sample, float in [0, 1], (frames, height, width, 3); waveform)."""
    decode_pipe = getattr(pipe, _DECODER)
    decoder = decode_pipe.diffusion_decoder
    # The decoder is not one of the pipeline's offloaded modules: it goes where the pipeline computes, and tiles
    # its memory-heavy last stages when the memory settings tile the VAE (diffusers' default tiles).
    decoder.to(pipe._execution_device)
    if pipe.vae.use_tiling:
        decoder.enable_tiling()
    else:
        decoder.disable_tiling()
    with warnings.catch_warnings():
        # Off CUDA, flex attention runs unfused and says so on every call: a CPU decode (the twins) is slow, not wrong.
        warnings.filterwarnings("ignore", message="flex_attention called without torch.compile")
        video = decode_pipe(video_latents, generator=generator, return_dict=False, **kwargs)[0]
    mel = pipe.audio_vae.decode(audio_latents.to(pipe.audio_vae.dtype), return_dict=False)[0]
    return np.asarray(video[0]), pipe.vocoder(mel)
