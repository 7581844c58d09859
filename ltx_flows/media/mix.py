"""The film's mix with voices: a music bed ducked under every line (ffmpeg's `sidechaincompress`, keyed by the film's
own track, which in a film with a bed carries only the lines) and faded out at the film's end.

Ducking: the bed is compressed hard wherever the lines are louder than DUCK_THRESHOLD (ratio DUCK_RATIO, attack
DUCK_ATTACK_MS, release DUCK_RELEASE_MS), and the compressor's `mix` keeps 10^(-DUCK_DB / 20) of the dry bed, so
under a line the bed sits about DUCK_DB (12 dB) down, and comes back within the release after it.
"""

from pathlib import Path

from .audio import BED_FADE_SECONDS, audio_samples, fit_audio_filter, replace_sound
from .read import VideoInfo, probe

DUCK_DB = 12.0
DUCK_THRESHOLD = 0.001  # -60 dBFS: the key carries only the lines, so only a line passes it
DUCK_RATIO = 20
DUCK_ATTACK_MS = 10
DUCK_RELEASE_MS = 250


def duck_filter(duck_db: float = DUCK_DB) -> str:
    """The sidechaincompress options for a bed ducked by about `duck_db` under its key."""
    dry = 10 ** (-duck_db / 20)
    return (f"sidechaincompress=threshold={DUCK_THRESHOLD}:ratio={DUCK_RATIO}:attack={DUCK_ATTACK_MS}:"
            f"release={DUCK_RELEASE_MS}:mix={1 - dry:.4f}")


def mix_bed_under_lines(film: Path, bed: Path, duck_db: float = DUCK_DB, fade_seconds: float = BED_FADE_SECONDS) -> VideoInfo:
    """Mix `bed` under `film`'s own track (its lines), ducked under them and faded out before the film's end, in
    place. The video is copied; a bed shorter than the film is followed by silence."""
    film, bed = Path(film), Path(bed)
    info = probe(film)
    fade = min(fade_seconds, info.duration / 4)
    samples = audio_samples(info.frames, round(info.fps))
    graph = (
        f"[1:a]afade=t=out:st={info.duration - fade:.6f}:d={fade:.6f},{fit_audio_filter(samples)},"
        "aformat=channel_layouts=stereo[bed];"
        f"[0:a]{fit_audio_filter(samples)},aformat=channel_layouts=stereo,asplit=2[lines][key];"
        f"[bed][key]{duck_filter(duck_db)}[ducked];"
        # amix may end a little early when both inputs end together (seen: 60-170 ms short in 2 of 6 runs): padded
        # and cut again to exactly the film's samples.
        f"[ducked][lines]amix=inputs=2:normalize=0:duration=longest,{fit_audio_filter(samples)}[mix]"
    )
    return replace_sound(film, ["-i", str(film), "-i", str(bed), "-filter_complex", graph, "-map", "0:v:0",
                                "-map", "[mix]"], frames=info.frames)
