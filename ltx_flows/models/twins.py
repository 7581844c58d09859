"""Tiny twins of the published LTX generations: the real classes and structural configs, tiny sizes.

A twin of generation G is every hub repo G is published as (see `generations.GENERATIONS`), laid out as on
the hub under `<root>/<owner>/<repo>/`: pipeline repos with their subfolders, the upsampler where the real
one is (a pipeline repo with `latent_upsampler/`, a model at a repo root, or a subfolder of the pipeline
repo), and LoRA files under their published names. Every component is built from the structural facts in
`generations.py` plus small sizes (layers, widths, heads), with random weights: they render noise, offline,
on a CPU in a fraction of a second, through exactly the code paths a real checkpoint takes.

`ensure_twin(G)` builds a twin once into the ltx-flows cache (`checkpoint: tiny` with a preset renders it);
`install_snapshot` copies its repos into the Hugging Face cache under the real repo ids (`download --tiny`), so
`from_pretrained("Lightricks/LTX-2")` with `HF_HUB_OFFLINE=1` loads it as a warm GPU worker loads the real one.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from ..files import build_folder_once
from .checkpoints import MODEL_LOAD_LOCK, _tiny_gemma_tokenizer, _tiny_tokenizer, cache_dir
from ..storyboard.generations import GENERATIONS, LTX2_DEV_SCHEDULER, LTX2_DISTILLED_SCHEDULER, Generation

# Bump when a builder changes what it saves: it is part of the twin's cache folder name.
TWINS_VERSION = 5

# Sizes only: every other config key comes from the generation's structural facts.
_TEXT_DIM = 32
_HEADS, _HEAD_DIM = 2, 16


def _lora_files(generation: str) -> list[str]:
    """`owner/repo/file.safetensors` of every LoRA a preset of this generation loads (IC-LoRAs, stage-2 LoRA)."""
    from ..storyboard.presets import PRESETS

    files = set()
    for preset in PRESETS.values():
        if preset.generation == generation:
            files.update(preset.control_loras.values())
            if preset.stage2_lora:
                files.add(preset.stage2_lora)
    return sorted(files)


def _structure(generation: Generation, component: str) -> dict:
    return dict(generation.components[component].structure)


def _build_ltxv(generation: Generation, root: Path) -> None:
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXConditionPipeline,
        LTXLatentUpsamplePipeline,
        LTXVideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    text_encoder = T5EncoderModel(T5Config(
        vocab_size=128, d_model=_TEXT_DIM, d_kv=8, d_ff=64, num_layers=1, num_heads=4, relative_attention_num_buckets=8,
        feed_forward_proj="gated-gelu", dropout_rate=0.0,
    ))
    # The compression ratios are arguments: with scaling in all four blocks the VAE would otherwise compute
    # 64x spatial and 16x temporal from them, where the 0.9.5+ VAEs compress 32x and 8x.
    vae = AutoencoderKLLTXVideo(
        **_structure(generation, "vae"), block_out_channels=(8, 16, 32, 64, 64), decoder_block_out_channels=(16, 32, 64),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
    )
    transformer = LTXVideoTransformer3DModel(
        **_structure(generation, "transformer"), num_attention_heads=_HEADS, attention_head_dim=_HEAD_DIM,
        cross_attention_dim=_HEADS * _HEAD_DIM, num_layers=1, caption_channels=_TEXT_DIM,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(**_structure(generation, "scheduler"))
    pipe = LTXConditionPipeline(
        scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=_tiny_tokenizer(), transformer=transformer
    )
    upsampler = LTXLatentUpsamplerModel(**generation.upsampler.structure, mid_channels=32, num_blocks_per_stage=1)
    for repo, kind in generation.repos.items():
        if kind == "pipeline":
            pipe.save_pretrained(root / repo, safe_serialization=True)
        elif kind == "upsampler pipeline":
            LTXLatentUpsamplePipeline(vae=vae, latent_upsampler=upsampler).save_pretrained(root / repo)
        elif kind == "upsampler model":
            upsampler.save_pretrained(root / repo)


def _build_ltx2(generation: Generation, root: Path) -> None:
    import torch
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2ConditionPipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2 import latent_upsampler as upsampler_module
    from diffusers.pipelines.ltx2 import vocoder as vocoder_module
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    new = generation.id == "ltx2-2.3"
    torch.manual_seed(0)
    layers = 2
    config = Gemma3Config(
        text_config=dict(
            vocab_size=128, hidden_size=_TEXT_DIM, intermediate_size=64, num_hidden_layers=layers,
            num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=1024, sliding_window=64,
        ),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
        mm_tokens_per_image=4,
    )
    text_encoder = Gemma3ForConditionalGeneration(config)
    audio_heads, audio_head_dim = 2, 8
    video_dim, audio_dim = _HEADS * _HEAD_DIM, audio_heads * audio_head_dim
    # The pipeline feeds the connectors every Gemma layer's hidden states, stacked (layers + embeddings).
    connector_sizes = dict(
        caption_channels=_TEXT_DIM, text_proj_in_factor=layers + 1, video_connector_num_attention_heads=_HEADS,
        video_connector_attention_head_dim=_HEAD_DIM, video_connector_num_layers=1,
        video_connector_num_learnable_registers=128, audio_connector_num_attention_heads=audio_heads,
        audio_connector_attention_head_dim=audio_head_dim if new else _HEAD_DIM, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=128,
    )
    if new:  # per-modality projections straight to each stream's width
        connector_sizes.update(video_hidden_dim=video_dim, audio_hidden_dim=audio_dim)
    connectors = LTX2TextConnectors(**_structure(generation, "connectors"), **connector_sizes)

    vae_facts = _structure(generation, "vae")
    if new:
        vae_sizes = dict(block_out_channels=(16, 32, 64, 64), decoder_block_out_channels=(32, 64, 64, 128),
                         layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1))
    else:
        vae_sizes = dict(block_out_channels=(16, 32, 64, 128), decoder_block_out_channels=(32, 64, 128),
                         layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1))
    vae = AutoencoderKLLTX2Video(**vae_facts, **vae_sizes)
    # 16 mel bins instead of 64 (see generations.PUBLISHED_MEL_BINS): the packed audio latent is 8 x 16 / 4 = 32
    # wide, which base_channels (sizing the normalisation statistics), the transformer's audio channels and
    # the vocoder's input (2 x 16) follow.
    mel_bins = 16
    audio_width = 8 * mel_bins // 4
    audio_vae = AutoencoderKLLTX2Audio(
        **_structure(generation, "audio_vae"), mel_bins=mel_bins, base_channels=audio_width, num_res_blocks=1,
        resolution=32, dropout=0.0,
    )
    vocoder_facts = _structure(generation, "vocoder")
    vocoder_class = getattr(vocoder_module, generation.components["vocoder"].cls)
    # Each upsampling stage halves the width: 5 stages (2.0) need 32 to keep a channel, 6 (2.3) need 64.
    vocoder_sizes = dict(hidden_channels=64, bwe_hidden_channels=32) if new else dict(hidden_channels=32)
    vocoder_sizes["in_channels"] = 2 * mel_bins
    if new:  # the bandwidth extension reads the first stage's mel spectrogram (its own STFT, num_mel_channels)
        vocoder_sizes["bwe_in_channels"] = 128
    vocoder = vocoder_class(**vocoder_facts, **vocoder_sizes)
    transformer = LTX2VideoTransformer3DModel(
        **_structure(generation, "transformer"), num_attention_heads=_HEADS, attention_head_dim=_HEAD_DIM,
        cross_attention_dim=video_dim, audio_num_attention_heads=audio_heads, audio_attention_head_dim=audio_head_dim,
        audio_cross_attention_dim=audio_dim, num_layers=1, caption_channels=_TEXT_DIM,
        audio_in_channels=audio_width, audio_out_channels=audio_width,
    )
    upsampler = getattr(upsampler_module, generation.upsampler.cls)(
        **generation.upsampler.structure, mid_channels=32, num_blocks_per_stage=1
    )
    components = dict(vae=vae, audio_vae=audio_vae, text_encoder=text_encoder, tokenizer=_tiny_gemma_tokenizer(),
                      connectors=connectors, transformer=transformer, vocoder=vocoder)
    for repo, kind in generation.repos.items():
        if kind.startswith("pipeline"):
            # Dev checkpoints shift their schedule by the token count; distilled ones ship shifting off.
            facts = LTX2_DISTILLED_SCHEDULER if "distilled" in kind else LTX2_DEV_SCHEDULER
            pipe = LTX2ConditionPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**facts), **components)
            pipe.save_pretrained(root / repo, safe_serialization=True)
            if kind == "pipeline":  # the upsampler ships inside the dev repo
                upsampler.save_pretrained(root / repo / "latent_upsampler")
    for path in _lora_files(generation.id):
        _save_lora(transformer, root / path)


def _save_lora(transformer, path: Path) -> None:
    """A real PEFT LoRA on the twin's attention, saved as diffusers saves LoRAs, under the published file name.

    Random A and B (`init_lora_weights=False`), so loading it changes the output. A "ref0.5" IC-LoRA reads its
    reference at half size: the factor goes in the file's metadata, where Lightricks keeps it.
    """
    from diffusers import LTX2ConditionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from safetensors import safe_open
    from safetensors.torch import save_file

    seed = int(hashlib.sha256(path.name.encode()).hexdigest()[:8], 16)
    import torch

    torch.manual_seed(seed)
    transformer.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False),
        adapter_name="twin",
    )
    layers = get_peft_model_state_dict(transformer, adapter_name="twin")
    transformer.delete_adapters("twin")
    path.parent.mkdir(parents=True, exist_ok=True)
    LTX2ConditionPipeline.save_lora_weights(path.parent, transformer_lora_layers=layers, weight_name=path.name)
    with safe_open(path, framework="pt") as lora:
        tensors = {key: lora.get_tensor(key) for key in lora.keys()}
        metadata = lora.metadata() or {}
    factor = "2" if "ref0.5" in path.name else "1"
    save_file(tensors, path, metadata={**metadata, "reference_downscale_factor": factor})


def build_twin(generation: str, root: Path) -> None:
    """Write the twin of `generation` under `root/<owner>/<repo>/`."""
    found = GENERATIONS[generation]
    (_build_ltxv if found.family == "ltxv" else _build_ltx2)(found, root)
    (root / "generation.txt").write_text(generation)


def ensure_twin(generation: str) -> Path:
    """The twin's root folder in the ltx-flows cache, built once."""
    if generation not in GENERATIONS:
        raise ValueError(f"No twin for {generation!r}: expected one of {', '.join(GENERATIONS)}.")
    target = cache_dir() / "twins" / f"{generation}-v{TWINS_VERSION}"
    with MODEL_LOAD_LOCK:
        return build_folder_once(target, lambda folder: build_twin(generation, folder), done=target / "generation.txt")


def twin_path(hub_path: str, generation: str) -> Path:
    """Where `owner/repo[/sub/file]` lies in the twin of `generation`."""
    return ensure_twin(generation) / hub_path


def install_snapshot(source: Path, repo: str, hub_cache: Path) -> Path:
    """Copy a local repo folder into a Hugging Face hub cache as `repo`, laid out as huggingface_hub writes it.

    `models--<owner>--<repo>/snapshots/<revision>/...` with `refs/main` naming the revision: what
    `from_pretrained` and `hf_hub_download` read with `HF_HUB_OFFLINE=1`. Returns the snapshot folder.
    """
    owner, name = repo.split("/")
    folder = hub_cache / f"models--{owner}--{name}"
    revision = hashlib.sha1(f"ltx-flows tiny v{TWINS_VERSION} {source}".encode()).hexdigest()
    snapshot = folder / "snapshots" / revision
    build_folder_once(snapshot, lambda tmp: shutil.copytree(source, tmp), done=snapshot)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(revision)
    return snapshot
