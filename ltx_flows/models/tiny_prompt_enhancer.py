"""LTX-2.5's prompt enhancer at toy sizes: a Gemma 4 `prompt_enhancer` and the Gemma 4 `processor` it reads.

LTX-2.5's own text encoder is not trained to write prompts, so diffusers' LTX-2 pipelines enhance 2.5 prompts with
a dedicated model (`prompt_enhancer`, a `Gemma4ForConditionalGeneration`, `google/gemma-4-E2B-it` per diffusers'
ltx2/utils.py) through the same `enhance_prompt` method, with the chat template and image preparation of the
pipeline's `processor` (a `Gemma4Processor`). The twin carries both, real classes at toy sizes, saved by the
pipeline's own `save_pretrained` as `prompt_enhancer/` and `processor/` (the component names diffusers' code loads:
the published repo's listing in the reference data names neither subfolder).

The processor's tokenizer is the twin's character tokenizer (`tiny_ltx2.tokenizer()`) plus Gemma 4's turn, image,
audio and video tokens, filled with `<unusedN>` to the enhancer's 128 ids, so every id it generates decodes (to
noise text). Its image, video and audio-feature processors are Gemma 4's own classes with their defaults (images
at 70 soft tokens, Gemma 4's smallest budget). The enhancer's vision tower is tiny; it has no audio tower
(enhancement sends text and at most one picture).
"""

from __future__ import annotations

# Gemma 4's chat and media tokens (the special tokens of Gemma 4 tokenizers; `<turn|>` ends a turn).
TURN_START, TURN_END = "<|turn>", "<turn|>"
MEDIA_TOKENS = {"boi_token": "<|image>", "eoi_token": "<image|>", "image_token": "<|image|>",
                "boa_token": "<|audio>", "eoa_token": "<audio|>", "audio_token": "<|audio|>"}
VIDEO_TOKEN = "<|video|>"  # Gemma4Processor adds it itself when the tokenizer lacks it
VOCAB = 128  # the enhancer's ids, as the twin's text encoders'
SEED = 45  # the enhancer's own random stream: the twin's other weights are drawn as before it existed

# Gemma 4's chat template, cut to what `enhance_prompt` sends: a system turn, a user turn of text or an image
# marker and text, and the model's turn opened for generation.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}" + TURN_START
    + "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}" + MEDIA_TOKENS["image_token"]
    + "{% else %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}" + TURN_END + "\n{% endfor %}"
    "{% if add_generation_prompt %}" + TURN_START + "model\n{% endif %}"
)


def processor():
    """The Gemma4Processor of the 2.5 twin, built offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        Gemma4AudioFeatureExtractor,
        Gemma4ImageProcessor,
        Gemma4Processor,
        Gemma4VideoProcessor,
        GemmaTokenizerFast,
    )

    from . import tiny_ltx2

    vocab = tiny_ltx2.tokenizer().get_vocab()
    tokens = sorted(vocab, key=vocab.get)
    special = [TURN_START, TURN_END, *MEDIA_TOKENS.values(), VIDEO_TOKEN]
    tokens += special + [f"<unused{i}>" for i in range(VOCAB - len(tokens) - len(special))]
    backend = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate(tokens)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Split("", "isolated")])
    backend.decoder = decoders.Metaspace()
    # The system prompts are ~4000 characters, one token each here: room for them and the generated text.
    chat = GemmaTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>",
        model_max_length=8192, padding_side="left", extra_special_tokens=MEDIA_TOKENS,
    )
    chat.add_tokens(special, special_tokens=True)  # each one token, as in Gemma 4's own tokenizer
    chat.chat_template = CHAT_TEMPLATE
    return Gemma4Processor(
        feature_extractor=Gemma4AudioFeatureExtractor(), image_processor=Gemma4ImageProcessor(max_soft_tokens=70),
        tokenizer=chat, video_processor=Gemma4VideoProcessor(), chat_template=CHAT_TEMPLATE, image_seq_length=70,
    )


def prompt_enhancer(chat_processor):
    """A Gemma4ForConditionalGeneration at toy sizes whose special ids are `chat_processor`'s (`processor()`),
    drawn from its own seed without moving the caller's random stream."""
    import torch
    from transformers import Gemma4Config, Gemma4ForConditionalGeneration

    tokenizer = chat_processor.tokenizer
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in MEDIA_TOKENS.items()}
    config = Gemma4Config(
        text_config=dict(
            vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, head_dim=16, global_head_dim=16, max_position_embeddings=8192, sliding_window=64,
            layer_types=["sliding_attention", "full_attention"],  # Gemma 4 ends on full attention
            vocab_size_per_layer_input=VOCAB, hidden_size_per_layer_input=8,  # E2B's per-layer embeddings, tiny
            eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(TURN_END)],
        ),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           num_key_value_heads=2, head_dim=8),
        boi_token_id=ids["boi_token"], eoi_token_id=ids["eoi_token"], image_token_id=chat_processor.image_token_id,
        video_token_id=chat_processor.video_token_id, boa_token_id=ids["boa_token"], eoa_token_index=ids["eoa_token"],
        audio_token_id=ids["audio_token"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return Gemma4ForConditionalGeneration(config)
