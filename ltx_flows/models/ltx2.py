"""LTX-2: video and sound in one pass through diffusers' LTX2ConditionPipeline, and LTX2InContextPipeline
for shots with a control (an IC-LoRA reading a reference video).

Keyframes are LTX2VideoConditions at latent indices (the plan converts the storyboard's frames, see
`frames.ltx2_latent_index`). A control is an LTX2ReferenceCondition with the IC-LoRA active; shots
without one run with every LoRA off, so a control never leaks into the next shot. Every keyword argument
beyond the shot's prompt, frames, conditions and tensors (guidance, STG, modality guidance, schedules) comes
from `recipes.pipeline_calls`, which `ltx-flows plan --json` prints.

Sound conditioning (`AudioCondition`): a long take's next segment continues the previous one's sound the way
it continues its picture, by holding audio latents clean while the rest is generated. diffusers' LTX-2 loops
hold video tokens (a per-token timestep from their conditioning mask) but give every audio token one scalar
timestep and expose no audio conditioning, so `_HeldAudio` adds the two missing pieces for one call, through
the pipelines' own extension points: it is the call's `audio_scheduler` (their optional component, which does
the audio denoising update), and a forward pre-hook on the transformer gives held tokens timestep 0.

Reads top to bottom: the in-context pipeline and LoRAs, the scheduler for given sigmas, held sound, loading
the upsampler, conditions, one pass, two passes.
"""

from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import diffusers
import numpy as np
import torch
from diffusers import (
    FlowMatchEulerDiscreteScheduler,
    LTX2ConditionPipeline,
    LTX2InContextPipeline,
    LTX2LatentUpsamplePipeline,
)
from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel
from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import LTX2ReferenceCondition
from PIL import Image

from . import frame_rate, ltx25
from .adapters import Adapter, activate, file_adapter
from .checkpoints import MODEL_LOAD_LOCK
from .ltxv import Held, Tail, step_callback
from ..media.read import fit_image
from ..media.audio import Audio
from ..plan.planner import ShotPlan
from ..plan.recipes import PipelineCall


def in_context_pipeline(pipe: LTX2ConditionPipeline) -> LTX2InContextPipeline:
    """The IC-LoRA pipeline over the same (already loaded) components as `pipe`: built once and kept on `pipe`, so it
    goes when `pipe` does (`loading.ModelCache` drops a model's pipeline when the batch moves to another)."""
    with MODEL_LOAD_LOCK:
        in_context = getattr(pipe, "_ltx_flows_in_context", None)
        if in_context is None:
            # from_pipe casts every component to `dtype` (float32 unless told), and warns about float32-only
            # modules while doing so even when there are none.
            verbosity = diffusers.utils.logging.get_verbosity()
            diffusers.utils.logging.set_verbosity_error()
            try:
                in_context = LTX2InContextPipeline.from_pipe(pipe, dtype=pipe.transformer.dtype)
            finally:
                diffusers.utils.logging.set_verbosity(verbosity)
            in_context.set_progress_bar_config(disable=True)
            pipe._ltx_flows_in_context = in_context
        return in_context


def activate_lora(pipe, lora: Path | None, looks: tuple[Adapter, ...] = ()) -> None:
    """Make `lora` (an IC-LoRA or the stage-2 LoRA, at weight 1) and the shot's own LoRAs `looks` the only active
    LoRAs of the (shared) transformer, loading each on first use; neither turns all off."""
    activate(pipe, ([file_adapter(lora)] if lora is not None else []) + list(looks))


@contextmanager
def sigmas_as_given(pipe, sigmas: list[float] | None):
    """Within this, `pipe` uses `sigmas` exactly as given.

    LTX-2's scheduler shifts any schedule toward high noise by the token count; a distilled schedule (and
    the refine schedule) must run unshifted, so an unshifted copy stands in for the call (as in diffusers'
    two-stage LTX-2 example).
    """
    if sigmas is None:
        yield
        return
    original = pipe.scheduler
    pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(
        original.config, use_dynamic_shifting=False, shift_terminal=None
    )
    try:
        yield
    finally:
        pipe.scheduler = original


@dataclass(frozen=True)
class AudioCondition:
    """Audio latents held clean while the rest of the track is generated: each audio token whose `hold`
    is 1 keeps its value from `latents` and is given timestep 0; tokens with hold 0 are generated.

    A hold between 0 and 1 works like a video condition's strength: the token's denoised estimate is pulled
    that far toward `latents` at every step, and its timestep is t * (1 - hold).
    """

    latents: torch.Tensor  # (audio_tokens, channels * mel_bins): packed and normalized, as the pipeline's loop holds them
    hold: torch.Tensor  # (audio_tokens,) float in [0, 1]
    # The whole stream frozen (Lightricks' `freeze_audio`): every token held, and the audio sigma the transformer's
    # prompt modulation and cross-attention gates read is 0 too, not only the tokens' timesteps.
    frozen: bool = False


@dataclass(frozen=True)
class Rendered:
    """What one LTX-2 generation returns."""

    frames: np.ndarray  # float in [0, 1], (frames, height, width, 3)
    audio: Audio  # the decoded sound
    audio_latents: torch.Tensor  # (audio_tokens, channels * mel_bins), same space as AudioCondition.latents


def audio_tokens(pipe: LTX2ConditionPipeline, frames: int, fps: int) -> int:
    """How many audio latent tokens a generation of `frames` frames at `fps` has (25 per second), as the
    pipeline counts them."""
    per_second = pipe.audio_sampling_rate / pipe.audio_hop_length / float(pipe.audio_vae_temporal_compression_ratio)
    return round(frames / fps * per_second)


class _HeldAudio(FlowMatchEulerDiscreteScheduler):
    """The audio scheduler of one pipeline call: it holds `condition`'s tokens and keeps the final latents.

    Both LTX-2 pipelines update their audio latents with `audio_scheduler.step(velocity, t, latents)` once per
    step, so this is where held tokens can be put back: like the video loop does with its conditioning mask,
    the step's denoised estimate x0 = latents - sigma * velocity is blended toward the clean latents by `hold`
    (fully, for hold 1) before the Euler update. The pipeline draws its initial audio latents as pure noise, so
    before the first step the held tokens are set clean in the step's `sample` and (by `_held_timestep_hook`) in
    the transformer's input. With hold 1 a token then stays exactly at its clean value from the first model
    call to the decoded track. `latents` keeps what the last step returned (packed, normalized: what
    `Rendered.audio_latents` and the next segment's `AudioCondition` need); the pipeline itself returns only
    the decoded waveform, or denormalized latents.
    """

    condition: AudioCondition | None = None
    steps_done = 0
    latents: torch.Tensor | None = None

    def held(self, sample: torch.Tensor) -> torch.Tensor:
        """`sample` (batch, tokens, features) with the held tokens blended in (batch doubled for CFG or not)."""
        if self.condition is None:
            return sample
        clean = self.condition.latents.to(sample.device, sample.dtype)
        hold = self.condition.hold.to(sample.device, sample.dtype)[:, None]
        return hold * clean + (1 - hold) * sample

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, *args, **kwargs):
        if self.condition is not None:
            sigma = self.sigmas[self.steps_done].to(sample.device)
            denoised = self.held(sample.float() - sigma * model_output.float())
            if self.steps_done == 0:
                sample = self.held(sample.float()).to(sample.dtype)
            model_output = ((sample.float() - denoised) / sigma).to(model_output.dtype)
        out = super().step(model_output, timestep, sample, *args, **kwargs)
        self.steps_done += 1
        self.latents = (out[0] if isinstance(out, tuple) else out.prev_sample).detach()
        return out


def _held_timestep_hook(scheduler: _HeldAudio):
    """A forward pre-hook for the transformer: held audio tokens get timestep t * (1 - hold), and before the
    first step their clean values as input. `audio_sigma` (LTX-2.3's prompt modulation) stays per sample."""

    def hook(module, args, kwargs):
        hold = scheduler.condition.hold
        timestep = kwargs["audio_timestep"]
        hold = hold.to(timestep.device, timestep.dtype)
        kwargs["audio_timestep"] = timestep.reshape(timestep.shape[0], -1) * (1 - hold)[None]
        if scheduler.condition.frozen and kwargs.get("audio_sigma") is not None:
            kwargs["audio_sigma"] = torch.zeros_like(kwargs["audio_sigma"])
        if scheduler.steps_done == 0:
            kwargs["audio_hidden_states"] = scheduler.held(kwargs["audio_hidden_states"])
        return args, kwargs

    return hook


@contextmanager
def held_audio(pipe, condition: AudioCondition | None, sigmas: list[float] | None):
    """Within this, `pipe`'s calls hold `condition`'s audio tokens (none when None); yields the `_HeldAudio`
    scheduler, whose `latents` are the call's final audio latents.

    The scheduler stands in for the pipeline's audio scheduler and the hook sits on the transformer only for
    the call; generation holds a per-device lock, so no other call sees them. A torch forward pre-hook runs
    in `Module.__call__`, before accelerate's or diffusers' offload hooks (which wrap `forward`), so it works
    under every memory setting.
    """
    # The config the pipeline would use for its audio (its audio scheduler if any, else its video scheduler),
    # unshifted when sigmas are given, as `sigmas_as_given` does for the video.
    original = getattr(pipe, "audio_scheduler", None)
    config = (original or pipe.scheduler).config
    overrides = dict(use_dynamic_shifting=False, shift_terminal=None) if sigmas is not None else {}
    scheduler = _HeldAudio.from_config(config, **overrides)
    scheduler.condition = condition
    # Plain attribute: DiffusionPipeline.__setattr__ would also rewrite the pipeline's config for it.
    object.__setattr__(pipe, "audio_scheduler", scheduler)
    handle = None
    if condition is not None:
        handle = pipe.transformer.register_forward_pre_hook(_held_timestep_hook(scheduler), with_kwargs=True)
    try:
        yield scheduler
    finally:
        if handle is not None:
            handle.remove()
        object.__setattr__(pipe, "audio_scheduler", original)


@dataclass(frozen=True)
class Control:
    """A shot's control for its IC-LoRA: the control video's frames (for this shot or segment), the LoRA file,
    and how much smaller than the shot the LoRA reads it."""

    frames: np.ndarray
    lora: Path
    downscale: int


def load_upsampler(pipe: LTX2ConditionPipeline, path: str, subfolder: str | None, dtype: torch.dtype) -> LTX2LatentUpsamplePipeline:
    """The latent upsampler over `pipe`'s VAE (LTX-2 repos ship it in `latent_upsampler/`)."""
    model = LTX2LatentUpsamplerModel.from_pretrained(path, subfolder=subfolder, dtype=dtype)
    return LTX2LatentUpsamplePipeline(vae=pipe.vae, latent_upsampler=model)


def _conditions(
    shot: ShotPlan, width: int, height: int, tail: Tail | None, held: list[Held] | None = None
) -> list[LTX2VideoCondition] | None:
    """Keyframes at their latent indices, for a long take's segment the frames it continues, at index 0, and a
    retake's held frames at their latent indices.

    At index 0 held frames replace the clip's first latents; at index k >= 1 LTX2ConditionPipeline appends all their
    latents as clean extra tokens from pixel frame 8(k - 1) + 1 (the plan puts them there).
    """
    found = [
        LTX2VideoCondition(frames=fit_image(k.image, width, height), index=k.latent_index, strength=k.strength)
        for k in shot.keyframes
    ]
    for run in held or []:
        index = 0 if run.at == 0 else (run.at - 1) // 8 + 1
        found.append(LTX2VideoCondition(frames=[fit_image(f, width, height) for f in run.frames], index=index))
    if tail is not None:
        frames = [fit_image(f, width, height) for f in tail.frames]
        found.insert(0, LTX2VideoCondition(frames=frames, index=0, strength=tail.strength))
    return found or None


def generate(
    pipe: LTX2ConditionPipeline,
    shot: ShotPlan,
    calls: list[PipelineCall],
    *,
    generator: torch.Generator,
    upsample_pipe: LTX2LatentUpsamplePipeline | None = None,
    temporal_pipe: LTX2LatentUpsamplePipeline | None = None,
    control: Control | None = None,
    tail: Tail | None = None,
    held: list[Held] | None = None,
    audio_condition: AudioCondition | None = None,
    stage2_lora: Path | None = None,
    looks: tuple[Adapter, ...] = (),
    on_step: Callable[[int, int], None] | None = None,
) -> Rendered:
    """Render one LTX-2 shot: its frames, its sound, and the sound's latents.

    `calls` are the shot's pipeline calls (`recipes.pipeline_calls`); `stage2_lora` the LoRA the refine pass
    runs with (the dev presets' distilled LoRA); `looks` the shot's own LoRAs (on every call); `audio_condition`
    audio tokens to hold (the first pass holds them; two-pass, the refine keeps the first pass's whole track).
    With frame-rate calls, `temporal_pipe` is the temporal upscaler: the passes run at the lower rate
    (`frame_rate.shot_at`) and each round doubles the latents in time and refines them (`_retime`).
    """
    # LTX-2.5: the last pass returns latents for the diffusion decoder's own call (`ltx25.decode`).
    decode = calls[-1] if calls[-1].step == "decode" else None
    calls, rounds = frame_rate.split_calls(calls[:-1] if decode is not None else calls)
    timing = frame_rate.retiming(rounds, shot.frames)
    asked, asked_tail, asked_held = shot, tail, held
    first = calls[0]
    if timing is not None:
        shot = frame_rate.shot_at(shot, timing, timing.factor)
        tail, held = frame_rate.tail_at(tail, timing.factor), frame_rate.held_at(held, timing.factor)
        if control is not None:  # the IC-LoRA's reference at the rate the first pass runs at
            control = replace(control, frames=frame_rate.video_at(control.frames, timing.factor, shot.frames))
        if audio_condition is not None:  # the same seconds, as many tokens as the lower rate counts
            tokens = audio_tokens(pipe, shot.frames, first.kwargs["frame_rate"])
            audio_condition = replace(audio_condition, latents=frame_rate.fit_tokens(audio_condition.latents, tokens),
                                      hold=frame_rate.fit_tokens(audio_condition.hold[:, None], tokens)[:, 0])
    expected = audio_tokens(pipe, shot.frames, first.kwargs["frame_rate"])
    if audio_condition is not None and (
        tuple(audio_condition.hold.shape) != (expected,) or audio_condition.latents.shape[0] != expected
    ):
        raise ValueError(
            f"shot {shot.id}: an audio condition for {shot.frames} frames needs {expected} audio tokens, got "
            f"latents {tuple(audio_condition.latents.shape)} and hold {tuple(audio_condition.hold.shape)}"
        )
    callback = step_callback(on_step, sum(call.denoising_steps for call in [*calls, *(r for _, r in rounds)]))
    kwargs = dict(first.kwargs, prompt=shot.prompt, negative_prompt=shot.negative_prompt, num_frames=shot.frames,
                  generator=generator, callback_on_step_end=callback,
                  conditions=_conditions(shot, first.kwargs["width"], first.kwargs["height"], tail, held))
    if control is not None:
        runner = in_context_pipeline(pipe)
        activate_lora(runner, control.lora, looks)
        # The pipeline fits the reference to (height / factor, width / factor) itself.
        kwargs["reference_conditions"] = [
            LTX2ReferenceCondition(frames=[Image.fromarray(f) for f in control.frames], strength=shot.control.strength)
        ]
        kwargs["reference_downscale_factor"] = control.downscale
    else:
        runner = pipe
        activate_lora(pipe, None, looks)

    sigmas = first.kwargs.get("sigmas")
    with sigmas_as_given(runner, sigmas), held_audio(runner, audio_condition, sigmas) as sound:
        video, audio = runner(**kwargs, return_dict=False)

    if len(calls) == 3:
        # Two-pass: upsample the latents 2x, then a short refine at full size. As in Lightricks' two-stage
        # pipelines, the refine pass runs without the control's IC-LoRA or reference, with the stage-2 LoRA if any,
        # and with stage 1's sound frozen: Lightricks' `TI2VidTwoStagesPipeline` refines with `freeze_audio=True`
        # (ltx_pipelines/ti2vid_two_stages.py), so the track is stage 1's, the video cross-attends to it at sigma 0.
        # (diffusers' ltx2.md two-stage example re-denoises the sound in stage 2 instead; Lightricks' is chosen, and
        # the plan says so: `freeze_audio` on the refine call.)
        _, upsample, refine = calls
        if refine.freeze_audio:
            audio_condition = AudioCondition(latents=_latents(sound), hold=torch.ones(sound.latents.shape[1]), frozen=True)
        activate_lora(pipe, stage2_lora, looks)
        upsampled = upsample_pipe(latents=video, return_dict=False, **upsample.kwargs)[0]
        kwargs = dict(refine.kwargs, prompt=shot.prompt, negative_prompt=shot.negative_prompt, num_frames=shot.frames,
                      generator=generator, callback_on_step_end=callback, latents=upsampled, audio_latents=audio,
                      conditions=_conditions(shot, refine.kwargs["width"], refine.kwargs["height"], tail, held))
        with sigmas_as_given(pipe, refine.kwargs["sigmas"]), held_audio(pipe, audio_condition, refine.kwargs["sigmas"]) as sound:
            video, audio = pipe(**kwargs, return_dict=False)
    for number, (upsample_time, retime) in enumerate(rounds, start=1):
        video, audio, sound = _retime(pipe, temporal_pipe, upsample_time, retime, timing.factor // 2**number, video,
                                      sound, asked, asked_tail, asked_held, timing, generator, callback, stage2_lora,
                                      looks)
    activate_lora(pipe, None)
    if decode is not None:
        video, audio = ltx25.decode(pipe, video, audio, decode.kwargs, generator)
    rendered = Rendered(frames=video if decode else video[0], audio=_audio(pipe, audio), audio_latents=_latents(sound))
    return _cut(pipe, rendered, asked.frames, rounds[-1][1].kwargs["frame_rate"]) if timing is not None else rendered


def _retime(pipe, temporal_pipe, upsample_time: PipelineCall, retime: PipelineCall, divisor: int, video: torch.Tensor,
            sound: _HeldAudio, shot: ShotPlan, tail: Tail | None, held: list[Held] | None, timing: frame_rate.Retiming,
            generator: torch.Generator, callback, stage2_lora: Path | None, looks: tuple[Adapter, ...]):
    """One frame-rate round: the temporal upscaler doubles the video latents in time, then a refine at the doubled
    rate (the recipe's refine schedule and stage-2 LoRA, the passes' sound frozen) with what the plan pins, at
    1/`divisor` of the film's rate (1 on the last round: at its own frames). Returns the round's (video, audio,
    sound)."""
    at_rate = frame_rate.shot_at(shot, timing, divisor)
    fps, sigmas = retime.kwargs["frame_rate"], retime.kwargs["sigmas"]
    tokens = audio_tokens(pipe, at_rate.frames, fps)
    frozen = AudioCondition(latents=frame_rate.fit_tokens(_latents(sound), tokens), hold=torch.ones(tokens), frozen=True)
    upsampled = temporal_pipe(latents=video, return_dict=False, **upsample_time.kwargs)[0]
    activate_lora(pipe, stage2_lora, looks)
    width, height = retime.kwargs["width"], retime.kwargs["height"]
    kwargs = dict(retime.kwargs, prompt=shot.prompt, negative_prompt=shot.negative_prompt, num_frames=at_rate.frames,
                  generator=generator, callback_on_step_end=callback, latents=upsampled,
                  conditions=_conditions(at_rate, width, height, frame_rate.tail_at(tail, divisor),
                                         frame_rate.held_at(held, divisor)))
    with sigmas_as_given(pipe, sigmas), held_audio(pipe, frozen, sigmas) as sound:
        video, audio = pipe(**kwargs, return_dict=False)
    return video, audio, sound


def _cut(pipe: LTX2ConditionPipeline, rendered: Rendered, frames: int, fps: float) -> Rendered:
    """A retimed generation cut back from its padded length to the `frames` the plan asks for, sound included."""
    samples = round(frames / fps * rendered.audio.rate)
    return Rendered(frames=rendered.frames[:frames], audio=Audio(rendered.audio.samples[..., :samples], rendered.audio.rate),
                    audio_latents=rendered.audio_latents[: audio_tokens(pipe, frames, fps)])


def _audio(pipe: LTX2ConditionPipeline, audio: torch.Tensor) -> Audio:
    return Audio(audio[0].float().cpu().numpy(), pipe.vocoder.config.output_sampling_rate)


def _latents(sound: _HeldAudio) -> torch.Tensor:
    # The first (only) sample's final audio latents, (audio_tokens, channels * mel_bins), on the CPU.
    return sound.latents[0].float().cpu()
