"""Sound: what sound a shot's clip carries, and a long take's sound put together from its segments.

No torch here: retakes encode a shot clip's sound without the model.
"""

import numpy as np

from ..media.audio import Audio
from ..plan.planner import RenderPlan, ShotPlan
from .seams import crossfade_sound
from .voice import voiced_sound


def clip_sound(plan: RenderPlan, shot: ShotPlan, audio: Audio | None) -> Audio | None:
    """The sound a shot's clip carries: none unless the film's sound is generated; then every clip carries a
    track, silent for a muted shot (or one that has no sound), so the film's sound stays continuous across joins.
    In a film with voices every clip carries a track: its line over the shot's own sound (`voice.voiced_sound`)."""
    if plan.voiced:
        return voiced_sound(plan, shot, audio)
    if plan.audio != "generate":
        return None
    return Audio.silence() if shot.mute or audio is None else audio


def stage_sound(plan: RenderPlan, shot: ShotPlan, audio: Audio | None) -> Audio | None:
    """The sound of a shot's own render that its retakes build on (`retakes/<shot>/`): a voiced shot's sound before its
    line, which its clip lays in once, over the last stage's sound (`retake.encode_shot`), so neither the line nor the
    `ambience` gain is applied twice; any other shot's, what its clip carries."""
    if plan.voiced and shot.voice is not None:
        return (audio or Audio.silence()) if plan.audio == "generate" else None
    return clip_sound(plan, shot, audio)


class TakeSound:
    """A long take's sound, put together segment by segment, sample-exact with its picture.

    Segment k's sound is cut or padded (with silence, at its end) to exactly its frames: it starts at
    sample round(start * rate / fps) of the take, where its first frame starts. Over the `overlap` frames
    it shares with the segment before, the two sounds crossfade (`seams.crossfade_sound`) over exactly the
    samples those frames last, so the track is continuous and as long as the take's frames. The whole
    track is kept (sound is small: 24 kHz stereo float32 is about 0.7 MB a second, 48 kHz twice that).
    """

    def __init__(self, fps: int, overlap: int):
        self.fps, self.overlap = fps, overlap
        self.rate: int | None = None
        self.pieces: list[np.ndarray] = []
        self.tail: np.ndarray | None = None  # the last segment's overlap samples, not laid down yet

    def _sample(self, frame: int) -> int:
        return round(frame * self.rate / self.fps)

    def add(self, audio: Audio, start: int, frames: int, last: bool) -> None:
        if self.rate is None:
            self.rate = audio.rate
        if audio.rate != self.rate:
            raise ValueError(f"a long take's segments came with sound at {self.rate} and {audio.rate} Hz")
        length = self._sample(start + frames) - self._sample(start)
        samples = np.zeros((audio.samples.shape[0], length), dtype=np.float32)
        samples[:, : min(length, audio.samples.shape[1])] = audio.samples[:, :length]
        if self.tail is not None:
            shared = self.tail.shape[1]
            samples[:, :shared] = crossfade_sound(self.tail, samples[:, :shared])
        if last:
            self.pieces.append(samples)
            self.tail = None
            return
        shared = length - (self._sample(start + frames - self.overlap) - self._sample(start))
        self.pieces.append(samples[:, :-shared])
        self.tail = samples[:, -shared:]

    def track(self) -> Audio:
        return Audio(np.concatenate(self.pieces, axis=1), self.rate)
