"""Stitch: clips joined into one film, by the cheapest way that keeps every frame exact.

Cuts between clips encoded alike are stream-copied (the concat demuxer), crossfades between them
re-encode only a window around each fade (smart_stitch.py), and anything else goes through one filter
graph (joins.py) encoded once. The film is decoded whole and its frames counted before it is renamed
into place.
"""

import logging
import os
import shutil
from pathlib import Path

from ..files import file_sha256, partial_path
from .audio import AAC_OPTIONS, audio_samples, fit_audio_filter
from .ffmpeg import options_to_args, run_ffmpeg
from .joins import Join, filter_graph
from .read import DamagedMediaError, VideoInfo, check_sound_length, copy_key, decoded_frames, probe, rename_into_place
from .smart_stitch import smart_stitch
from .write import x264_options

logger = logging.getLogger(__name__)


def stitch(clips: list[Path], joins: list[Join], out: Path, fps: int, crf: int = 18,
           decoded: dict[str, int] | None = None) -> VideoInfo:
    """Joins clips into one film; `joins[i]` is how clip i joins clip i + 1.

    Cuts between identically encoded clips are stream-copied by the concat
    demuxer (no re-encode, ~100x cheaper). Crossfades between identically encoded
    clips re-encode only a window around each fade, from the last keyframe before
    it to the first one after it, and copy every GOP in between (see
    smart_stitch.py). Anything else goes through one filter graph (`xfade` for
    crossfades, `concat` for cuts) encoded once. The film has
    sum(frames) - sum(crossfade frames) frames, which is checked after writing.
    Sound is carried when every clip has a track (a mix is refused), and the
    film's sound must then last as long as its video, within one frame.

    `decoded` (sha256 of a film that decoded whole -> its frames, kept by the caller across stitches): a film
    whose bytes are those of one already decoded with the expected frames is not decoded again (the same bytes
    decode the same way), and a film that passes its decode is added.
    """
    clips = [Path(clip) for clip in clips]
    out = Path(out)
    infos = [probe(clip) for clip in clips]
    _validate_joins(clips, joins, infos)

    expected = sum(info.frames for info in infos) - sum(j.frames for j in joins if j.kind == "crossfade")
    partial = partial_path(keep_suffix=True, path=out)
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        _join(clips, infos, joins, fps, crf, partial, out)
        info = probe(partial)
        digest = file_sha256(partial)
        if decoded is not None and decoded.get(digest) == expected:
            logger.info("stitch: %s is byte for byte a film this batch decoded whole (%d frames)", out, expected)
        else:
            # Counted by decoding, not read from the header: a stream copy carries damaged packets through. The
            # film is the one place every clip's frames are decoded (a fresh clip's are only counted), so its
            # decode uses every core: on two cores it takes 0.6 of the time on one.
            try:
                frames = decoded_frames(partial, threads=min(os.cpu_count() or 1, 4))
            except DamagedMediaError as error:
                raise DamagedMediaError(f"stitched {out} does not decode ({error}); {_damaged_clips(clips)}") from None
            if frames != expected:
                raise RuntimeError(f"stitched {out} decodes to {frames} frames, expected {expected}")
            if decoded is not None:
                decoded[digest] = frames
        check_sound_length(info, out)
        info = rename_into_place(partial, out, info, digest=digest)
    finally:
        partial.unlink(missing_ok=True)
    return info


def _join(clips: list[Path], infos: list[VideoInfo], joins: list[Join], fps: int, crf: int, partial: Path, out: Path) -> None:
    """Write the joined clips to `partial`, the cheapest way their encodings allow."""
    same_rate = all(abs(info.fps - fps) < 1e-6 for info in infos)
    if len(clips) == 1 and same_rate:
        logger.info("stitch: one clip, copying %s to %s", clips[0], out)
        shutil.copyfile(clips[0], partial)
        return
    alike = same_rate and len({copy_key(clip) for clip in clips}) == 1
    if alike and all(j.kind == "cut" for j in joins):
        logger.info("stitch: %d clips, cuts only: concat demuxer, video stream copy", len(clips))
        _concat_copy(clips, infos, fps, partial)
    elif alike and smart_stitch(clips, infos, joins, fps, crf, partial):
        logger.info("stitch: %d clips: crossfades re-encoded in GOP-aligned windows, the rest stream-copied", len(clips))
    else:
        _reencode(clips, infos, joins, fps, crf, partial)


def _reencode(clips: list[Path], infos: list[VideoInfo], joins: list[Join], fps: int, crf: int, partial: Path) -> None:
    """Every clip through one filter graph, encoded once."""
    graph, output, audio = filter_graph(infos, joins, fps)
    logger.info("stitch: %d clips, re-encoding through a filter graph: %s", len(clips), graph)
    # `-r` before `-i` reads every clip at the film's rate, one frame per
    # 1/fps, whatever rate its file claims.
    inputs = [arg for clip in clips for arg in ("-r", str(fps), "-i", str(clip))]
    maps = ["-map", f"[{output}]"]
    encode = options_to_args(x264_options(fps, crf))
    if audio:
        maps += ["-map", f"[{audio}]"]
        encode += options_to_args(AAC_OPTIONS)
    run_ffmpeg([*inputs, "-filter_complex", graph, *maps, *encode, str(partial)], partial)

def _validate_joins(clips: list[Path], joins: list[Join], infos: list[VideoInfo]) -> None:
    if not clips:
        raise ValueError("stitch needs at least one clip")
    if len(joins) != len(clips) - 1:
        raise ValueError(f"{len(clips)} clips need {len(clips) - 1} joins, got {len(joins)}")
    for i, join in enumerate(joins):
        if join.kind not in ("cut", "crossfade"):
            raise ValueError(f"join {i}: kind must be 'cut' or 'crossfade', got {join.kind!r}")
        if join.kind != "crossfade":
            continue
        before, after = infos[i].frames, infos[i + 1].frames
        if not 1 <= join.frames < min(before, after):
            raise ValueError(
                f"join {i}: a crossfade needs 1 <= frames < the length of both clips "
                f"({clips[i].name}: {before}, {clips[i + 1].name}: {after}), got {join.frames}"
            )
    with_audio = [clip.name for clip, info in zip(clips, infos) if info.has_audio]
    if with_audio and len(with_audio) != len(clips):
        silent = [clip.name for clip, info in zip(clips, infos) if not info.has_audio]
        raise ValueError(
            f"{', '.join(silent)} {'has' if len(silent) == 1 else 'have'} no sound track while other clips do: "
            "give every clip a track (silence where a shot has no sound), so the film's sound stays continuous"
        )
    # A clip between two crossfades must be long enough for both.
    for i in range(1, len(clips) - 1):
        fade_in = joins[i - 1].frames if joins[i - 1].kind == "crossfade" else 0
        fade_out = joins[i].frames if joins[i].kind == "crossfade" else 0
        if fade_in + fade_out > infos[i].frames:
            raise ValueError(
                f"{clips[i].name} has {infos[i].frames} frames, fewer than its two crossfades "
                f"({fade_in} + {fade_out})"
            )


def _concat_copy(clips: list[Path], infos: list[VideoInfo], fps: int, partial: Path) -> None:
    # The concat demuxer reads a list of files; quotes in names are escaped as '\''.
    listing = partial.with_name(f".{partial.stem}.concat.txt")
    lines = ["ffconcat version 1.0"]
    for clip in clips:
        quoted = str(clip.resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'")
    listing.write_text("\n".join(lines) + "\n")
    # Sound is re-encoded rather than copied: each AAC clip ends on a padded frame, and copied back to back those
    # paddings add up to audible drift. Each track is cut to its clip's frames, then concatenated (cheap next to video).
    inputs, sound = [], []
    if infos[0].has_audio:
        inputs = [arg for clip in clips for arg in ("-i", str(clip))]
        fits = [f"[{i + 1}:a:0]{fit_audio_filter(audio_samples(info.frames, fps))}[a{i}]" for i, info in enumerate(infos)]
        joined = "".join(f"[a{i}]" for i in range(len(clips))) + f"concat=n={len(clips)}:v=0:a=1[sound]"
        sound = ["-filter_complex", ";".join([*fits, joined]), "-map", "[sound]", *options_to_args(AAC_OPTIONS)]
    try:
        run_ffmpeg(
            # -auto_convert 0: keep every packet byte for byte (by default the
            # demuxer repeats the SPS/PPS in-band at each keyframe); safe because
            # copy_key made sure all clips share one SPS/PPS.
            ["-f", "concat", "-safe", "0", "-auto_convert", "0", "-i", str(listing), *inputs,
             "-map", "0:v:0", *sound, "-c:v", "copy", "-movflags", "+faststart", "-f", "mp4", str(partial)],
            partial,
        )
    finally:
        listing.unlink(missing_ok=True)


def _damaged_clips(clips: list[Path]) -> str:
    # Only after a film failed its check: decode each clip to name the one to render again.
    damaged = []
    for clip in clips:
        try:
            decoded_frames(clip)
        except DamagedMediaError:
            damaged.append(str(clip))
    return f"damaged clips: {', '.join(damaged)}" if damaged else "every clip decodes"
