"""A voice line as LTX-2 audio latents: the waveform through the checkpoint's own mel front-end and audio VAE, packed
and normalized as the pipelines hold audio latents, and the `ltx2.AudioCondition` that holds the line's tokens.

Lightricks' audio-to-video pipeline (ltx-pipelines `A2VidTwoStage`, `--audio-path`) encodes the given sound with
ltx-core's `AudioProcessor` (a log-mel spectrogram: the audio VAE's sample rate and hop, n_fft 1024, Hann window,
centered with reflect padding, magnitude, slaney mel scale and norm, log of the mel clamped at 1e-5, shaped
(batch, channels, time, mel bins)) and the audio VAE's encoder, and conditions the generation on those latents
(ltx-core's `AudioConditionByLatent`). diffusers 0.42.1 has no
audio-to-video pipeline and no waveform-to-mel front-end for LTX-2.0 (only LTX-2.3's vocoder `MelSTFT`, a
causal STFT for its bandwidth extension), so the front-end is computed here with torch, with the numbers the
loaded audio VAE's config gives (sample rate, hop, mel bins) and Lightricks' n_fft; `audio_vae.encode`,
`_pack_audio_latents` and `_normalize_audio_latents` are diffusers' own.

The line is encoded inside a shot-long track (silence around it), so the causal encoder sees it where it plays;
only the tokens its span covers are held.
"""

from dataclasses import dataclass

import numpy as np
import torch

from .ltx2 import AudioCondition, audio_tokens
from ..media.audio import resample_audio

# Lightricks' AudioProcessor: window and FFT length of the mel front-end (not in diffusers' audio VAE config).
MEL_N_FFT = 1024
LOG_FLOOR = 1e-5


@dataclass(frozen=True)
class VoiceLine:
    """A shot's line as its clip will carry it: a shot-long track (channels, samples) at `rate`, the line placed at
    its start, and the audio tokens [first_token, last_token) its span covers."""

    samples: np.ndarray
    rate: int
    first_token: int
    last_token: int


def _slaney_mel_filters(rate: int, n_fft: int, mel_bins: int) -> torch.Tensor:
    """(mel_bins, n_fft // 2 + 1): triangular filters on the slaney mel scale, slaney-normalized, 0 Hz to rate / 2 (what
    torchaudio's MelSpectrogram in Lightricks' AudioProcessor builds; transformers, which the text encoder needs,
    has the same filter bank)."""
    from transformers.audio_utils import mel_filter_bank

    filters = mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=mel_bins, min_frequency=0.0,
                              max_frequency=rate / 2, sampling_rate=rate, norm="slaney", mel_scale="slaney")
    return torch.from_numpy(filters.T.astype(np.float32))


def log_mel(waveform: torch.Tensor, rate: int, hop: int, mel_bins: int) -> torch.Tensor:
    """(channels, samples) at `rate` -> (1, channels, frames, mel_bins): Lightricks' log-mel front-end."""
    window = torch.hann_window(MEL_N_FFT, dtype=torch.float32)
    spectrum = torch.stft(waveform.float(), n_fft=MEL_N_FFT, hop_length=hop, win_length=MEL_N_FFT, window=window,
                          center=True, pad_mode="reflect", return_complex=True).abs()  # (channels, freqs, frames)
    mel = torch.matmul(_slaney_mel_filters(rate, MEL_N_FFT, mel_bins), spectrum)
    return torch.log(torch.clamp(mel, min=LOG_FLOOR)).transpose(1, 2).unsqueeze(0)


@torch.no_grad()
def encode_line(pipe, line: VoiceLine, frames: int, fps: int) -> torch.Tensor:
    """The shot-long track of `line` as audio latents (tokens, channels * mel_bins / 4), packed and normalized as the
    pipeline holds them: as many tokens as a generation of `frames` frames has."""
    vae = pipe.audio_vae
    channels = vae.config.in_channels
    samples = resample_audio(line.samples, line.rate, pipe.audio_sampling_rate)
    if samples.shape[0] != channels:  # the VAE reads stereo: mono doubled, more channels averaged
        samples = np.repeat(samples.mean(axis=0, keepdims=True), channels, axis=0)
    mel = log_mel(torch.from_numpy(samples), pipe.audio_sampling_rate, pipe.audio_hop_length, pipe.audio_mel_bins)
    parameter = next(vae.parameters())
    latents = vae.encode(mel.to(parameter.device, parameter.dtype)).latent_dist.mode()
    packed = pipe._pack_audio_latents(latents)
    normalized = pipe._normalize_audio_latents(packed, vae.latents_mean, vae.latents_std)[0].float().cpu()
    tokens = audio_tokens(pipe, frames, fps)
    fitted = torch.zeros(tokens, normalized.shape[1])
    fitted[: min(tokens, len(normalized))] = normalized[:tokens]
    return fitted


def voice_condition(pipe, line: VoiceLine, frames: int, fps: int, also: AudioCondition | None = None) -> AudioCondition:
    """Hold the line's tokens clean (timestep 0, every step of every pass) while the rest is generated; `also` (a long
    take's continued sound) keeps holding its tokens where the line has none."""
    latents = encode_line(pipe, line, frames, fps)
    hold = torch.zeros(len(latents))
    hold[line.first_token : min(line.last_token, len(latents))] = 1.0
    if also is not None:
        voiced = hold > 0
        latents = torch.where(voiced[:, None], latents, also.latents.to(latents.dtype))
        hold = torch.where(voiced, hold, also.hold.to(hold.dtype))
    return AudioCondition(latents=latents, hold=hold)
