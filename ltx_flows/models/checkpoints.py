"""Model checkpoints: resolve what a storyboard names, and build tiny offline LTX-Video and LTX-2 checkpoints.

The tiny checkpoints have random weights but the real architecture classes and the real VAE compression
(32 x 32 spatial, 8 temporal), so token counts, shapes and pipeline code paths match a real checkpoint while
rendering on CPU in well under a second. They are saved with `save_pretrained`, so they load with
`from_pretrained(path)` exactly like a real checkpoint folder. Each also holds a tiny latent upsampler
(`latent_upsampler/`, for two-pass rendering), and the LTX-2 one a tiny IC-LoRA (`ic_lora/`, for controls):
a real PEFT LoRA file for its transformer, loaded through `load_lora_weights`.
"""

from __future__ import annotations

import logging
import os
import re
import string
import threading
from pathlib import Path

from ..files import build_folder_once
from ..storyboard.sources import ModelSource, model_source



logger = logging.getLogger(__name__)

# Bump when a builder changes what it saves: the version is part of the cache folder name,
# so a stale build is never reused.
TINY_LTXV_VERSION = 2
TINY_LTX2_VERSION = 1
_TINY_VERSIONS = {"ltxv": TINY_LTXV_VERSION, "ltx2": TINY_LTX2_VERSION}

# Held while any model is built or loaded in this process. diffusers' `from_pretrained` creates modules on
# the meta device through accelerate's `init_empty_weights`, which patches torch for every thread: a model
# built meanwhile in another thread (a detector, a LoRA's layers) would land on meta too.
MODEL_LOAD_LOCK = threading.RLock()

UPSAMPLER_FOLDER = "latent_upsampler"
TINY_IC_LORA = "ic_lora/tiny-ic-lora.safetensors"
# The tiny IC-LoRA reads its control at half size, like LTX-2.3's union control LoRA ("ref0.5"), so tests
# cover the downscaled path.
TINY_IC_LORA_DOWNSCALE = 2


def cache_dir() -> Path:
    """Root folder for ltx-flows caches: `$LTX_FLOWS_CACHE`, else `~/.cache/ltx-flows`."""
    env = os.environ.get("LTX_FLOWS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ltx-flows"


def _tiny_tokenizer():
    """A T5 tokenizer over printable ASCII characters, built offline (no hub, no sentencepiece file).

    Every character is its own piece, so different prompts map to different ids. The layout follows T5:
    <pad>=0, </s>=1, <unk>=2, then the metaspace "▁" (a space) and the characters.
    """
    # In transformers 5.x `T5TokenizerFast` is an alias of `T5Tokenizer` (a `tokenizers` Unigram backend).
    # Building it from a `vocab` keeps the T5 pre-tokenizer and post-processor, so the saved tokenizer.json
    # reloads through `T5Tokenizer.from_pretrained` unchanged.
    from transformers import T5TokenizerFast

    chars = string.ascii_letters + string.digits + string.punctuation
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    vocab += [(c, -1.0) for c in chars]
    # Real LTX-Video checkpoints ship a T5 tokenizer with model_max_length 128.
    return T5TokenizerFast(vocab=vocab, extra_ids=0, model_max_length=128)


def build_tiny_ltxv(path: Path) -> None:
    """Build a tiny random-weight LTX-Video 0.9.x pipeline and save it to `path` (safetensors)."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXVideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel
    from transformers import T5Config, T5EncoderModel

    # Same seed, same weights: every build of a given version is identical.
    torch.manual_seed(0)

    tokenizer = _tiny_tokenizer()
    text_dim = 32
    text_encoder = T5EncoderModel(
        T5Config(
            vocab_size=128,  # >= len(tokenizer)
            d_model=text_dim,
            d_kv=8,
            d_ff=64,
            num_layers=1,
            num_heads=4,
            relative_attention_num_buckets=8,
            feed_forward_proj="gated-gelu",  # as in T5 v1.1, which LTX-Video uses
            dropout_rate=0.0,
        )
    )

    # Latent channels stay 128 as in the real VAE, so latents have the real shape; widths are tiny.
    latent_channels = 128
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=latent_channels,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        # Real compression: patch 4 x 2^3 = 32 spatial, 1 x 2^3 = 8 temporal.
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        # Real 0.9.1+ VAEs condition the decoder on a timestep, so `decode_timestep` /
        # `decode_noise_scale` take the same code path as on the real model.
        timestep_conditioning=True,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    assert vae.spatial_compression_ratio == 32, vae.spatial_compression_ratio
    assert vae.temporal_compression_ratio == 8, vae.temporal_compression_ratio

    heads, head_dim = 2, 16
    transformer = LTXVideoTransformer3DModel(
        in_channels=latent_channels,
        out_channels=latent_channels,
        patch_size=1,  # LTX-Video patchifies in the VAE, not in the transformer
        patch_size_t=1,
        num_attention_heads=heads,
        attention_head_dim=head_dim,
        cross_attention_dim=heads * head_dim,  # must equal the inner dim
        num_layers=1,
        caption_channels=text_dim,
    )

    # LTXConditionPipeline passes its own linear-quadratic `timesteps` and no `mu`, so dynamic shifting
    # must be off (the scheduler raises without `mu`); LTXPipeline's `mu` is then simply ignored. The shift
    # values are LTX-Video's own, used by LTXPipeline's `calculate_shift` should shifting be turned on.
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=False,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
    )

    pipe = LTXConditionPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )
    pipe.save_pretrained(path, safe_serialization=True)
    # As in Lightricks/ltxv-spatial-upscaler-*: 2x spatial on LTX-Video latents; GroupNorm needs 32 | mid.
    LTXLatentUpsamplerModel(in_channels=latent_channels, mid_channels=32, num_blocks_per_stage=1).save_pretrained(
        path / UPSAMPLER_FOLDER
    )


def _tiny_gemma_tokenizer():
    """A Gemma tokenizer over printable ASCII characters, built offline from a `tokenizers.Tokenizer`.

    Gemma's special-token layout (<pad>=0, <eos>=1, <bos>=2, <unk>=3), a leading <bos>, and one token
    per character, so different prompts map to different ids.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import GemmaTokenizerFast

    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "\u2581", *(string.ascii_letters + string.digits + string.punctuation)]
    backend = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(tokens)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Split("", "isolated")])
    backend.decoder = decoders.Metaspace()
    backend.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    # Real LTX-2 checkpoints pad prompts on the left to 1024 tokens.
    return GemmaTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>",
        model_max_length=1024, padding_side="left",
    )


def build_tiny_ltx2(path: Path) -> None:
    """Build a tiny random-weight LTX-2 pipeline (video, sound, upsampler, IC-LoRA) and save it to `path`."""
    import torch
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2ConditionPipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    torch.manual_seed(0)
    tokenizer = _tiny_gemma_tokenizer()
    text_config = dict(
        vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=1024, sliding_window=64,
    )
    vision_config = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8)
    config = Gemma3Config(text_config=text_config, vision_config=vision_config, mm_tokens_per_image=4)
    text_encoder = Gemma3ForConditionalGeneration(config)
    text_dim = config.text_config.hidden_size

    # The pipeline feeds the connectors every Gemma layer's hidden states, stacked.
    connectors = LTX2TextConnectors(
        caption_channels=text_dim, text_proj_in_factor=config.text_config.num_hidden_layers + 1,
        video_connector_num_attention_heads=2, video_connector_attention_head_dim=16, video_connector_num_layers=1,
        video_connector_num_learnable_registers=None, audio_connector_num_attention_heads=2,
        audio_connector_attention_head_dim=16, audio_connector_num_layers=1, audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32, rope_theta=10000.0, rope_double_precision=False,
        causal_temporal_positioning=False, rope_type="split",
    )

    # The real video VAE's layout and its 128 latent channels, with narrow decoder blocks. Its channels must
    # grow across the blocks, and the compression comes from `downsample_type`, so it is checked below by
    # encoding, not read from the config.
    latent_channels = 128
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=latent_channels,
        block_out_channels=(128, 128, 128, 128), decoder_block_out_channels=(32, 64, 128),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, True), decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        upsample_residual=(True, True, True), upsample_factor=(2, 2, 2),
        timestep_conditioning=False, patch_size=4, patch_size_t=1,
        spatial_compression_ratio=32, temporal_compression_ratio=8,
    )
    with torch.no_grad():
        latent = vae.encode(torch.zeros(1, 3, 9, 64, 96)).latent_dist.mode()
    assert tuple(latent.shape) == (1, latent_channels, 2, 2, 3), f"tiny LTX-2 VAE compresses to {tuple(latent.shape)}"

    # Sound: 8 latent channels over 16 mel bins (compressed 4x), as one 32-channel token stream; the vocoder
    # upsamples mel frames by the hop length (160), so a shot's sound lasts as long as its video.
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=32, output_channels=2, ch_mult=(1, 2, 4), num_res_blocks=1, attn_resolutions=None,
        in_channels=2, resolution=32, latent_channels=8, norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=16,
    )
    audio_tokens = audio_vae.config.latent_channels * audio_vae.config.mel_bins // audio_vae.mel_compression_ratio
    vocoder = LTX2Vocoder(
        in_channels=audio_vae.config.output_channels * audio_vae.config.mel_bins, hidden_channels=32, out_channels=2,
        upsample_kernel_sizes=[8, 8, 20], upsample_factors=[4, 4, 10], resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1, output_sampling_rate=16000,
    )

    heads, head_dim = 2, 16
    transformer = LTX2VideoTransformer3DModel(
        in_channels=latent_channels, out_channels=latent_channels, patch_size=1, patch_size_t=1,
        num_attention_heads=heads, attention_head_dim=head_dim, cross_attention_dim=heads * head_dim,
        audio_in_channels=audio_tokens, audio_out_channels=audio_tokens, audio_num_attention_heads=2,
        audio_attention_head_dim=8, audio_cross_attention_dim=16, num_layers=1, qk_norm="rms_norm_across_heads",
        caption_channels=text_dim, rope_double_precision=False, rope_type="split",
    )
    # LTX-2's own shifting; custom sigmas are used as given (generation swaps in an unshifted copy).
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
        max_image_seq_len=4096, shift_terminal=0.1,
    )
    pipe = LTX2ConditionPipeline(
        scheduler=scheduler, vae=vae, audio_vae=audio_vae, text_encoder=text_encoder, tokenizer=tokenizer,
        connectors=connectors, transformer=transformer, vocoder=vocoder,
    )
    pipe.save_pretrained(path, safe_serialization=True)
    LTX2LatentUpsamplerModel(in_channels=latent_channels, mid_channels=32, num_blocks_per_stage=1).save_pretrained(
        path / UPSAMPLER_FOLDER
    )
    _save_tiny_ic_lora(pipe, path / TINY_IC_LORA)


def _save_tiny_ic_lora(pipe, path: Path) -> None:
    """A real PEFT LoRA on the tiny transformer's attention, saved the way diffusers saves LoRAs.

    `init_lora_weights=False` draws both LoRA matrices at random, so loading it changes what the model does
    (a freshly initialised LoRA is a no-op). The control-reading scale goes in the file's metadata under
    `reference_downscale_factor`, where Lightricks' IC-LoRAs keep it.
    """
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from safetensors import safe_open
    from safetensors.torch import save_file

    transformer = pipe.transformer
    transformer.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    )
    layers = get_peft_model_state_dict(transformer)
    path.parent.mkdir(parents=True, exist_ok=True)
    type(pipe).save_lora_weights(path.parent, transformer_lora_layers=layers, weight_name=path.name, safe_serialization=True)
    with safe_open(path, framework="pt") as lora:
        tensors = {key: lora.get_tensor(key) for key in lora.keys()}
        metadata = lora.metadata() or {}
    save_file(tensors, path, metadata={**metadata, "reference_downscale_factor": str(TINY_IC_LORA_DOWNSCALE)})


def _checkpoint_dir(family: str) -> Path:
    if family not in _TINY_VERSIONS:
        raise ValueError(f"Unknown model family {family!r}: expected one of {', '.join(_TINY_VERSIONS)}.")
    return cache_dir() / "checkpoints" / f"tiny-{family}-v{_TINY_VERSIONS[family]}"


def ensure_tiny_checkpoint(family: str = "ltxv") -> Path:
    """Return the tiny checkpoint folder for `family`, building it once if it is missing."""
    target = _checkpoint_dir(family)
    build = build_tiny_ltxv if family == "ltxv" else build_tiny_ltx2
    with MODEL_LOAD_LOCK:
        return build_folder_once(target, build, done=target / "model_index.json")


def _twin_path(source: ModelSource) -> Path:
    """A twin source -> that repo (or the path in it) in the generation's tiny twin (built once)."""
    from .twins import twin_path

    return twin_path(f"{source.repo}/{source.rest}".rstrip("/"), source.generation)


def resolve_checkpoint(checkpoint: str, family: str = "ltxv") -> str:
    """Turn a storyboard's checkpoint into something `from_pretrained` accepts.

    "tiny" -> the cached tiny checkpoint (built on first use); `twin:<generation>:owner/repo` -> that repo in
    the generation's tiny twin; an existing local folder -> its absolute
    path; anything else (a hub id) is returned unchanged, for a worker that has it cached or can reach the hub.
    """
    source = model_source(checkpoint)
    if source.kind == "tiny":
        return str(ensure_tiny_checkpoint(family))
    if source.kind == "twin":
        return str(_twin_path(source))
    if source.kind == "local" and source.path.is_dir():
        return str(source.path.resolve())
    return checkpoint


class ModelNotCached(FileNotFoundError):
    """A model a storyboard needs is not in this machine's Hugging Face cache, and the Hub could not fill it in."""


# What huggingface_hub and diffusers say when a model is missing from the local cache and the Hub is out of reach
# (or HF_HUB_OFFLINE is set): their own text is a paragraph whose remedy, if any, is about Python arguments.
_NOT_CACHED_TEXT = ("not fully cached locally", "couldn't find it in the cached files",
                    "Cannot find an appropriate cached snapshot folder")
_MODEL_NAMED = re.compile(r"Cannot load model (\S+?):")


def not_cached(error: BaseException, storyboard: Path | str) -> ModelNotCached | None:
    """`error` as one line saying what to run, when it (or what it was raised from) means a model the `storyboard`
    file needs is missing from the local Hugging Face cache; None for any other error."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    chain: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and all(link is not seen for seen in chain):
        chain.append(link)
        # As a traceback shows the chain: an error raised `from None` has said what it means (annotators.py does).
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)
    if not any(isinstance(link, LocalEntryNotFoundError) or any(text in str(link) for text in _NOT_CACHED_TEXT)
               for link in chain):
        return None
    named = next((found[1] for link in chain if (found := _MODEL_NAMED.search(str(link)))), None)
    return ModelNotCached(
        f"{f'model {named}' if named else 'a model it needs'} is not in this machine's Hugging Face cache and the Hub "
        f"could not be reached: run `ltx-flows download {storyboard}` (with network, same HF_HOME), then render again"
    )


def resolve_upsampler(upsampler: str, family: str) -> tuple[str, str | None]:
    """A latent upsampler as `(from_pretrained path or repo, subfolder)`.

    `tiny` -> the tiny checkpoint's; a local folder -> itself; `owner/repo/sub/folder` -> the repo's subfolder
    (e.g. `Lightricks/LTX-2/latent_upsampler`); `owner/repo` -> the repo.
    """
    source = model_source(upsampler)
    if source.kind == "tiny":
        return str(ensure_tiny_checkpoint(family) / UPSAMPLER_FOLDER), None
    if source.kind == "twin":
        return str(_twin_path(ModelSource("twin", upsampler, repo=source.repo, generation=source.generation))), source.rest or None
    if source.kind == "local" and source.path.is_dir():
        return str(source.path.resolve()), None
    return source.repo or upsampler, source.rest or None


def resolve_lora(lora: str) -> Path:
    """An IC-LoRA as a local .safetensors file (downloaded once into the hub cache if it names a hub repo).

    `tiny` -> the tiny LTX-2 checkpoint's; a local file -> itself; `owner/repo/file.safetensors` -> that file;
    `owner/repo` -> the repo's only .safetensors file.
    """
    source = model_source(lora)
    if source.kind == "tiny":
        return ensure_tiny_checkpoint("ltx2") / TINY_IC_LORA
    if source.kind == "twin":
        return _twin_path(source)
    if source.kind == "local" and source.path.is_file():
        return source.path.resolve()
    from huggingface_hub import hf_hub_download, list_repo_files

    owner, repo, *filename = lora.split("/")
    repo_id = f"{owner}/{repo}"
    if filename:
        return Path(hf_hub_download(repo_id, "/".join(filename)))
    candidates = [f for f in list_repo_files(repo_id) if f.endswith(".safetensors")]
    if len(candidates) != 1:
        raise ValueError(
            f"{repo_id} holds {len(candidates)} .safetensors files ({', '.join(candidates) or 'none'}): "
            f"name one, e.g. `{repo_id}/{candidates[0] if candidates else 'file.safetensors'}`"
        )
    return Path(hf_hub_download(repo_id, candidates[0]))
