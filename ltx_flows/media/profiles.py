"""Delivery profiles: how each deliverable's file is encoded (H.264 settings, AAC sound), and the check after
encoding that a file meets its profile (codec, size, frame rate, duration, sound rate), recorded in the manifest."""

from dataclasses import asdict, dataclass
from pathlib import Path

import av

from .audio import AUDIO_RATE


@dataclass(frozen=True)
class Profile:
    """One named delivery profile."""

    name: str
    video: dict  # ffmpeg output options for the picture
    audio: dict  # ... and for the sound (AAC, 48 kHz)
    codec: str  # what the check expects the picture to be
    pix_fmt: str


def _h264(crf: int, maxrate: str | None, preset: str) -> dict:
    options = {"c:v": "libx264", "profile:v": "high", "pix_fmt": "yuv420p", "crf": crf, "preset": preset}
    if maxrate:  # a bitrate cap (a platform's upload limit), with a two-second buffer
        options |= {"maxrate": maxrate, "bufsize": f"{2 * int(maxrate[:-1])}{maxrate[-1]}"}
    return options | {"movflags": "+faststart", "f": "mp4"}


PROFILES: dict[str, Profile] = {
    # The web player: H.264 High, yuv420p, the index first (+faststart), CRF 20 capped at 10 Mb/s.
    "web-h264": Profile("web-h264", _h264(20, "10M", "medium"),
                        {"c:a": "aac", "b:a": "192k", "ar": AUDIO_RATE, "ac": 2}, "h264", "yuv420p"),
    # Stories and reels: the same codec, a lower cap (their upload limits), 128 kb/s sound.
    "social-vertical": Profile("social-vertical", _h264(21, "8M", "medium"),
                               {"c:a": "aac", "b:a": "128k", "ar": AUDIO_RATE, "ac": 2}, "h264", "yuv420p"),
    # The archive copy: H.264 at CRF 10 (near lossless), no cap, 320 kb/s sound. (ProRes would need a .mov.)
    "master": Profile("master", _h264(10, None, "slow"),
                      {"c:a": "aac", "b:a": "320k", "ar": AUDIO_RATE, "ac": 2}, "h264", "yuv420p"),
}


@dataclass(frozen=True)
class ProfileCheck:
    """What a delivered file is, against what its profile and deliverable ask; `ok` when every item matches."""

    ok: bool
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: float
    duration: float
    audio_rate: int | None
    problems: list[str]
    loudness: dict | None = None  # measured (with its target and ceiling) for a film with `output.loudness`

    def as_dict(self) -> dict:
        found = asdict(self)
        if found["loudness"] is None:  # films without a loudness target: the entry as before
            del found["loudness"]
        return found


def check_delivery(path: Path, profile: Profile, width: int, height: int, fps: int, duration: float,
                   has_audio: bool) -> ProfileCheck:
    """Read the encoded file back and compare it with its profile and its deliverable's size, rate and length."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        context = video.codec_context
        rate = float(video.average_rate or video.guessed_rate)
        frames = video.frames or sum(1 for packet in container.demux(video) if packet.size)
        audio_rate = container.streams.audio[0].codec_context.sample_rate if container.streams.audio else None
        found = ProfileCheck(ok=True, codec=context.name, pix_fmt=context.format.name if context.format else "",
                             width=context.width, height=context.height, fps=rate, duration=frames / rate,
                             audio_rate=audio_rate, problems=[])
    problems = []
    if found.codec != profile.codec or found.pix_fmt != profile.pix_fmt:
        problems.append(f"{found.codec} {found.pix_fmt}, the profile asks {profile.codec} {profile.pix_fmt}")
    if (found.width, found.height) != (width, height):
        problems.append(f"{found.width}x{found.height}, the deliverable is {width}x{height}")
    if abs(found.fps - fps) > 0.01:
        problems.append(f"{found.fps:g} fps, the deliverable {fps}")
    if abs(found.duration - duration) > 1.5 / fps:
        problems.append(f"{found.duration:.3f}s long, expected {duration:.3f}s")
    if has_audio and found.audio_rate != AUDIO_RATE:
        problems.append(f"sound at {found.audio_rate} Hz, the profile asks {AUDIO_RATE}")
    return ProfileCheck(**{**asdict(found), "ok": not problems, "problems": problems})
