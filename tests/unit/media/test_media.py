"""Integration tests for ltx_flows.media (writing, reading, stitching, sound) with the real ffmpeg binary (a few seconds)."""

import subprocess

import av
import numpy as np
import pytest

from ltx_flows.media import smart_stitch, stitch as stitching, write
from ltx_flows.media.audio import AUDIO_RATE, Audio, lay_audio_bed
from ltx_flows.media.ffmpeg import run_ffmpeg
from ltx_flows.media.joins import Join
from ltx_flows.media.read import DamagedMediaError, VideoInfo, decoded_frames, frames_at, muxed_frames, probe, read_frames
from ltx_flows.media.stitch import stitch
from ltx_flows.media.write import ClipWriter, write_clip

pytestmark = pytest.mark.integration

HEIGHT, WIDTH = 64, 96
RED, GREEN, BLUE = (200, 40, 40), (40, 200, 40), (40, 40, 200)


def make_frames(n: int, color=RED, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A solid colour with a white bar that moves 4 pixels a frame."""
    frames = np.empty((n, height, width, 3), np.uint8)
    frames[:] = color
    for i in range(n):
        x = (4 * i) % (width - 8)
        frames[i, :, x : x + 8] = 255
    return frames


def solid(n: int, color, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    return np.full((n, height, width, 3), color, np.uint8)


def packets(path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(video=0) if packet.size]


def frame_means(path) -> np.ndarray:
    """The mean RGB colour of every frame, shaped (N, 3)."""
    return read_frames(path).reshape(-1, HEIGHT * WIDTH, 3).mean(axis=1)


# --- writing and probing --------------------------------------------------------------


@pytest.mark.parametrize("fps", [24, 25, 30])
def test_write_clip_probes_exactly(tmp_path, fps):
    path = write_clip(make_frames(17), tmp_path / "clip.mp4", fps=fps, crf=18)

    assert path == tmp_path / "clip.mp4"
    assert probe(path) == VideoInfo(
        frames=17, fps=float(fps), width=WIDTH, height=HEIGHT, duration=17 / fps, has_audio=False
    )
    # Only the finished clip is left: no partial file next to it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_clip_writer_streams_single_frames_and_batches(tmp_path):
    frames = make_frames(20)
    with ClipWriter(tmp_path / "clip.mp4", width=WIDTH, height=HEIGHT, fps=24, crf=18) as writer:
        writer.write(frames[0])  # one (H, W, 3) frame
        writer.write(frames[1:12])  # a batch
        writer.write(frames[12:])
        assert writer.frames_written == 20
        # Nothing at the target until the block exits cleanly.
        assert not (tmp_path / "clip.mp4").exists()

    assert probe(tmp_path / "clip.mp4").frames == 20


def test_read_frames_round_trips(tmp_path):
    frames = make_frames(12, color=GREEN)
    path = write_clip(frames, tmp_path / "clip.mp4", fps=24, crf=18)

    decoded = read_frames(path)

    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    # H.264 is lossy: compare each frame's mean colour and the overall error.
    expected_means = frames.reshape(12, -1, 3).mean(axis=1)
    assert np.abs(decoded.reshape(12, -1, 3).mean(axis=1) - expected_means).max() < 3
    assert np.abs(decoded.astype(int) - frames).mean() < 4


def test_frame_readers_give_what_pyav_gives_frame_by_frame(tmp_path):
    """The kept reformatter (read._rgb_converter) converts exactly as a fresh one per frame does, across clips
    of two sizes; frames_at gives the frames at those indices; muxed_frames counts the frames written."""
    small = write_clip(make_frames(13, color=GREEN), tmp_path / "small.mp4", fps=24, crf=18)
    large = write_clip(make_frames(9, color=BLUE, height=128, width=160), tmp_path / "large.mp4", fps=24, crf=18)
    for path, count in ((small, 13), (large, 9), (small, 13)):
        with av.open(str(path)) as container:
            expected = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
        assert np.array_equal(read_frames(path), expected)
        assert np.array_equal(np.stack(frames_at(path, [count - 1, 0, 5])), expected[[0, 5, count - 1]])
        assert muxed_frames(path) == count
    assert len(frames_at(small, [12, 40])) == 1  # past the end: left out


def test_a_threaded_decode_counts_like_one_thread_and_fails_on_damage(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (30, HEIGHT, WIDTH, 3), dtype=np.uint8)
    path = write_clip(noise, tmp_path / "clip.mp4", fps=24, crf=18)
    assert decoded_frames(path, threads=2) == decoded_frames(path) == 30
    data = bytearray(path.read_bytes())
    for offset in range(len(data) // 2, len(data) - 64, 211):  # damaged in place in its second half
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    for threads in (1, 2):
        with pytest.raises(DamagedMediaError, match="does not decode"):
            decoded_frames(path, threads=threads)


def test_exception_inside_writer_leaves_nothing(tmp_path):
    target = tmp_path / "clip.mp4"
    with pytest.raises(KeyError):
        with ClipWriter(target, width=WIDTH, height=HEIGHT, fps=24, crf=18) as writer:
            writer.write(make_frames(5))
            raise KeyError("the model crashed mid-clip")

    assert list(tmp_path.iterdir()) == []


def test_exception_keeps_an_existing_clip(tmp_path):
    target = write_clip(make_frames(9), tmp_path / "clip.mp4", fps=24, crf=18)
    before = target.read_bytes()
    with pytest.raises(KeyError):
        with ClipWriter(target, width=WIDTH, height=HEIGHT, fps=24, crf=18) as writer:
            writer.write(make_frames(5, color=BLUE))
            raise KeyError("crash while re-rendering")

    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_ffmpeg_failure_raises_with_its_stderr(tmp_path, monkeypatch):
    real_options = write.x264_options
    monkeypatch.setattr(write, "x264_options", lambda fps, crf: {**real_options(fps, crf), "preset": "bogus"})

    with pytest.raises(RuntimeError, match="ffmpeg said:\n(.|\n)*preset"):
        with ClipWriter(tmp_path / "clip.mp4", width=WIDTH, height=HEIGHT, fps=24, crf=18) as writer:
            # Enough frames to fill the pipe: ffmpeg has exited by then.
            for _ in range(100):
                writer.write(make_frames(30))
    assert list(tmp_path.iterdir()) == []


def test_writer_validates_frames(tmp_path):
    with pytest.raises(ValueError, match="even"):
        ClipWriter(tmp_path / "odd.mp4", width=95, height=64, fps=24, crf=18)
    with pytest.raises(ValueError, match="crf"):
        ClipWriter(tmp_path / "clip.mp4", width=WIDTH, height=HEIGHT, fps=24, crf=99)

    with pytest.raises(TypeError, match="uint8"):
        with ClipWriter(tmp_path / "clip.mp4", width=WIDTH, height=HEIGHT, fps=24, crf=18) as writer:
            writer.write(make_frames(3).astype(np.float32) / 255)
    with pytest.raises(ValueError, match=r"\(N, 64, 96, 3\)"):
        with ClipWriter(tmp_path / "clip.mp4", width=WIDTH, height=HEIGHT, fps=24, crf=18) as writer:
            writer.write(make_frames(3, width=128))
    with pytest.raises(RuntimeError, match="no frames"):
        with ClipWriter(tmp_path / "clip.mp4", width=WIDTH, height=HEIGHT, fps=24, crf=18):
            pass
    assert list(tmp_path.iterdir()) == []


# --- stitching -------------------------------------------------------------------------


def write_clips(tmp_path, lengths, fps, colors=(RED, GREEN, BLUE), make=solid):
    return [
        write_clip(make(n, colors[i % len(colors)]), tmp_path / f"clip{i}.mp4", fps=fps, crf=18)
        for i, n in enumerate(lengths)
    ]


def test_stitch_cuts_is_a_stream_copy(tmp_path):
    clips = write_clips(tmp_path, [25, 17, 33], fps=24, make=make_frames)

    info = stitch(clips, [Join("cut"), Join("cut")], tmp_path / "film.mp4", fps=24, crf=18)

    assert (info.frames, info.fps, info.width, info.height) == (75, 24.0, WIDTH, HEIGHT)
    assert probe(tmp_path / "film.mp4") == info
    # A stream copy keeps every compressed packet byte for byte; a re-encode would not.
    assert packets(tmp_path / "film.mp4") == packets(clips[0]) + packets(clips[1]) + packets(clips[2])
    assert not list(tmp_path.glob(".*"))


def test_stitch_decodes_once_the_bytes_a_batch_already_decoded_whole(tmp_path, monkeypatch):
    """`decoded` (what finish/decoded.py keeps for a batch): a film stitched to the bytes of one that decoded whole
    with the expected frames is not decoded again; any other film is. The decode is stubbed after the first film
    (to raise, so a decode that happens shows), the stitch itself is real."""
    from ltx_flows.files import file_sha256

    clips = write_clips(tmp_path, [9, 17], fps=24, make=make_frames)
    decoded = {}
    first = stitch(clips, [Join("cut")], tmp_path / "a.mp4", fps=24, decoded=decoded)
    assert decoded == {file_sha256(tmp_path / "a.mp4"): 26} and first.sha256 == file_sha256(tmp_path / "a.mp4")

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(stitching, "decoded_frames", no_decode)
    again = stitch(clips, [Join("cut")], tmp_path / "b.mp4", fps=24, decoded=decoded)  # other film, same clips
    assert again.sha256 == first.sha256 and again.frames == 26
    with pytest.raises(AssertionError, match="decoded again"):  # other bytes: the clips in another order
        stitch(clips[::-1], [Join("cut")], tmp_path / "c.mp4", fps=24, decoded=decoded)
    decoded[first.sha256] = 25  # the same bytes, but not the frames this film must have: decoded
    with pytest.raises(AssertionError, match="decoded again"):
        stitch(clips, [Join("cut")], tmp_path / "d.mp4", fps=24, decoded=decoded)
    assert not (tmp_path / "c.mp4").exists() and not (tmp_path / "d.mp4").exists()


def test_stitch_cuts_of_different_sizes_are_reencoded(tmp_path):
    clips = [
        write_clip(solid(25, RED), tmp_path / "a.mp4", fps=24, crf=18),
        write_clip(solid(17, GREEN, height=48), tmp_path / "b.mp4", fps=24, crf=18),
    ]

    info = stitch(clips, [Join("cut")], tmp_path / "film.mp4", fps=24, crf=18)

    assert (info.frames, info.width, info.height) == (42, WIDTH, HEIGHT)
    means = frame_means(tmp_path / "film.mp4")
    assert np.abs(means[:25] - RED).max() < 3
    # The shorter clip is letterboxed: its middle rows are green.
    assert np.abs(read_frames(tmp_path / "film.mp4")[30, 32].mean(axis=0) - GREEN).max() < 3


CROSSFADE_CASES = [([25, 17], [9]), ([49, 33, 41], [8, 13]), ([49, 33, 41], [13, 8])]


@pytest.mark.parametrize("fps", [24, 25, 30])
@pytest.mark.parametrize("lengths, fades", CROSSFADE_CASES)
def test_stitch_crossfades_have_exact_frame_counts(tmp_path, fps, lengths, fades):
    clips = write_clips(tmp_path, lengths, fps=fps)
    joins = [Join("crossfade", k) for k in fades]

    info = stitch(clips, joins, tmp_path / "film.mp4", fps=fps, crf=18)

    expected = sum(lengths) - sum(fades)
    assert info.frames == expected
    assert info.fps == fps
    assert len(read_frames(tmp_path / "film.mp4")) == expected
    assert not list(tmp_path.glob(".*"))


def test_crossfade_blends_at_the_right_frames(tmp_path):
    clips = write_clips(tmp_path, [25, 17], fps=24, colors=(RED, BLUE))

    stitch(clips, [Join("crossfade", 9)], tmp_path / "film.mp4", fps=24, crf=18)
    means = frame_means(tmp_path / "film.mp4")

    # Frames 0..15 are the red clip, 16..24 the fade, 25..32 the rest of the blue
    # clip. xfade's first fade frame is still all red: its blue weights are 0/9..8/9.
    assert np.abs(means[:17] - RED).max() < 3
    assert np.abs(means[25:] - BLUE).max() < 3
    middle = means[20]
    assert BLUE[0] + 20 < middle[0] < RED[0] - 20
    assert RED[2] + 20 < middle[2] < BLUE[2] - 20
    # The fade moves steadily from red to blue.
    assert np.all(np.diff(means[16:26, 0]) < -10)


def test_stitch_mixes_cuts_and_crossfades(tmp_path):
    clips = write_clips(tmp_path, [25, 17, 33, 9], fps=25)
    joins = [Join("cut"), Join("crossfade", 5), Join("cut")]

    info = stitch(clips, joins, tmp_path / "film.mp4", fps=25, crf=18)

    assert info.frames == 25 + 17 + 33 + 9 - 5
    means = frame_means(tmp_path / "film.mp4")
    assert np.abs(means[24] - RED).max() < 3
    assert np.abs(means[25] - GREEN).max() < 3  # the cut is on the frame
    assert np.abs(means[-9:] - RED).max() < 3  # the last clip (colours cycle)


def test_stitch_can_use_a_clip_twice(tmp_path):
    red, green = write_clips(tmp_path, [25, 17], fps=24)

    info = stitch([red, green, red], [Join("crossfade", 6), Join("crossfade", 6)], tmp_path / "film.mp4", 24, 18)

    assert info.frames == 25 + 17 + 25 - 12
    means = frame_means(tmp_path / "film.mp4")
    assert np.abs(means[:19] - RED).max() < 3 and np.abs(means[-19:] - RED).max() < 3


def test_stitch_plays_a_clip_with_another_rate_frame_for_frame(tmp_path):
    clips = write_clips(tmp_path, [25, 17], fps=24)
    clips[1] = write_clip(solid(17, GREEN), tmp_path / "ten.mp4", fps=10, crf=18)

    info = stitch(clips, [Join("crossfade", 4)], tmp_path / "film.mp4", fps=24, crf=18)

    assert (info.frames, info.fps) == (25 + 17 - 4, 24.0)


def test_stitch_single_clip_is_a_copy(tmp_path):
    (clip,) = write_clips(tmp_path, [17], fps=24, make=make_frames)

    info = stitch([clip], [], tmp_path / "film.mp4", fps=24, crf=18)

    assert info.frames == 17
    assert (tmp_path / "film.mp4").read_bytes() == clip.read_bytes()


def test_stitch_checks_the_frame_count(tmp_path, monkeypatch):
    clips = write_clips(tmp_path, [25, 17], fps=24)
    real_graph = stitching.filter_graph

    def short_graph(infos, joins, fps, **options):
        graph, output, audio = real_graph(infos, joins, fps, **options)
        return f"{graph};[{output}]trim=start_frame=3,setpts=N[short]", "short", audio

    monkeypatch.setattr(stitching, "filter_graph", short_graph)
    monkeypatch.setattr(smart_stitch, "filter_graph", short_graph)  # the windows around a crossfade

    with pytest.raises(RuntimeError, match="30 frames, expected 33"):
        stitch(clips, [Join("crossfade", 9)], tmp_path / "film.mp4", fps=24, crf=18)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip0.mp4", "clip1.mp4"]


@pytest.mark.parametrize(
    "fades, message",
    [
        ([0], "1 <= frames"),
        ([-3], "1 <= frames"),
        ([17], "1 <= frames"),  # as long as the second clip
        ([30], "1 <= frames"),  # longer than both
        ([9, 9], "fewer than its two crossfades"),
    ],
)
def test_stitch_rejects_bad_crossfades(tmp_path, fades, message):
    clips = write_clips(tmp_path, [25, 17, 25][: len(fades) + 1], fps=24)

    with pytest.raises(ValueError, match=message):
        stitch(clips, [Join("crossfade", k) for k in fades], tmp_path / "film.mp4", fps=24, crf=18)
    assert not (tmp_path / "film.mp4").exists()


def test_stitch_needs_one_join_per_gap(tmp_path):
    clips = write_clips(tmp_path, [9, 9], fps=24)
    with pytest.raises(ValueError, match="2 clips need 1 joins"):
        stitch(clips, [], tmp_path / "film.mp4", fps=24, crf=18)


def noisy(n: int, color, seed: int) -> np.ndarray:
    """Every frame different and busy, so a frame out of place or re-encoded shows."""
    rng = np.random.default_rng(seed)
    return np.clip(make_frames(n, color).astype(np.int16) + rng.integers(-30, 30, (n, HEIGHT, WIDTH, 3)), 0, 255).astype(np.uint8)


def assert_same_frames(film: np.ndarray, reference: np.ndarray) -> None:
    """Frame for frame the same pictures, within x264's noise; a frame out of place differs by far more (noisy frames)."""
    diff = np.abs(film.astype(int) - reference.astype(int)).reshape(len(film), -1).mean(axis=1)
    shifted = np.abs(film[1:].astype(int) - reference[:-1].astype(int)).reshape(len(film) - 1, -1).mean(axis=1)
    assert diff.max() < 8 and shifted.min() > 2 * diff.max(), (diff.max(), shifted.min())


def whole_film(monkeypatch, clips, joins, out, fps=24):
    """The same stitch through the one-graph full re-encode (the smart path switched off)."""
    with monkeypatch.context() as patch:
        patch.setattr(stitching, "smart_stitch", lambda *args: False)
        return stitch(clips, joins, out, fps=fps, crf=18)


def test_crossfades_reencode_only_gop_aligned_windows_and_copy_the_rest(tmp_path, monkeypatch):
    lengths, fades = [49, 49, 41], [9, 6]
    clips = [write_clip(noisy(n, color, i), tmp_path / f"clip{i}.mp4", fps=24, crf=18, audio=tone(n / 24, hz=300 + 200 * i))
             for i, (n, color) in enumerate(zip(lengths, (RED, GREEN, BLUE)))]
    joins = [Join("crossfade", k) for k in fades]
    keys = [smart_stitch._keyframes(clip, 24) for clip in clips]
    assert keys[0] == [0, 12, 24, 36, 48]  # a keyframe every half second

    info = stitch(clips, joins, tmp_path / "film.mp4", fps=24, crf=18)
    reference = whole_film(monkeypatch, clips, joins, tmp_path / "whole.mp4")

    assert info.frames == reference.frames == sum(lengths) - sum(fades)
    film, whole = read_frames(tmp_path / "film.mp4"), read_frames(tmp_path / "whole.mp4")
    decoded = [read_frames(clip) for clip in clips]
    # Clip 0 is copied up to its last keyframe before the fade (36), clip 1 from its first keyframe
    # after its fade-in (12) to its last before its fade-out (36, at 43 - 6 = 37), clip 2 from 12 on.
    # Copied frames decode exactly as the clips do, on the frame where the plan puts them.
    np.testing.assert_array_equal(film[:36], decoded[0][:36])
    at1, at2 = 49 - 9, 49 - 9 + 49 - 6
    np.testing.assert_array_equal(film[at1 + 12 : at1 + 36], decoded[1][12:36])
    np.testing.assert_array_equal(film[at2 + 12 :], decoded[2][12:])
    # ... byte for byte: the film's packets include the clips' own.
    film_packets = packets(tmp_path / "film.mp4")
    assert film_packets[:36] == packets(clips[0])[:36]
    # The windows (fades and the frames around them) match a full re-encode to within x264's noise.
    assert_same_frames(film, whole)
    # The sound is the full path's, sample for sample, and lasts as long as the picture.
    np.testing.assert_array_equal(decoded_sound(tmp_path / "film.mp4"), decoded_sound(tmp_path / "whole.mp4"))
    assert info.audio_duration == pytest.approx(info.duration, abs=1 / 24)
    assert not list(tmp_path.glob(".*"))


def test_a_clip_too_short_for_a_whole_gop_between_its_fades_is_reencoded_whole(tmp_path, monkeypatch):
    lengths, fades = [37, 21, 37], [6, 6]  # the middle clip's keyframes 0 and 12: none between 6 and 15
    clips = [write_clip(noisy(n, color, i), tmp_path / f"clip{i}.mp4", fps=24, crf=18)
             for i, (n, color) in enumerate(zip(lengths, (RED, GREEN, BLUE)))]
    joins = [Join("crossfade", k) for k in fades]
    pieces = smart_stitch._smart_pieces([probe(c) for c in clips], joins, [smart_stitch._keyframes(c, 24) for c in clips])
    assert [type(p).__name__ for p in pieces] == ["_Span", "_Window", "_Span"]
    assert pieces[1].spans == [smart_stitch._Span(0, 24, 37), smart_stitch._Span(1, 0, 21), smart_stitch._Span(2, 0, 12)]

    info = stitch(clips, joins, tmp_path / "film.mp4", fps=24, crf=18)
    whole = whole_film(monkeypatch, clips, joins, tmp_path / "whole.mp4")
    assert info.frames == whole.frames == sum(lengths) - sum(fades)
    film, decoded = read_frames(tmp_path / "film.mp4"), [read_frames(c) for c in clips]
    np.testing.assert_array_equal(film[:24], decoded[0][:24])
    np.testing.assert_array_equal(film[-25:], decoded[2][12:])
    assert_same_frames(film, read_frames(tmp_path / "whole.mp4"))


# --- sound -----------------------------------------------------------------------------


def tone(seconds: float, rate: int = 16000, hz: float = 440.0) -> Audio:
    t = np.arange(round(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return Audio(np.stack([wave, wave]), rate)


def decoded_sound(path) -> np.ndarray:
    """The first audio track, decoded to mono float samples at 48 kHz (the padding of AAC's last frame included)."""
    with av.open(str(path)) as container:
        chunks = [frame.to_ndarray().reshape(2, -1).mean(axis=0) for frame in container.decode(audio=0)]
    return np.concatenate(chunks)


def loudness(samples: np.ndarray, start_s: float, end_s: float) -> float:
    part = samples[round(start_s * AUDIO_RATE) : round(end_s * AUDIO_RATE)]
    return float(np.sqrt(np.mean(part**2)))


@pytest.mark.parametrize("seconds", [0.3, 2.0])  # shorter and longer than the 17 frames
def test_clip_sound_is_cut_or_padded_to_the_video(tmp_path, seconds):
    path = write_clip(make_frames(17), tmp_path / "clip.mp4", fps=24, audio=tone(seconds))
    info = probe(path)
    assert info.has_audio and info.audio_duration == pytest.approx(17 / 24, abs=1e-6)
    sound = decoded_sound(path)
    assert loudness(sound, 0.05, min(seconds, 0.7) - 0.05) > 0.2
    if seconds < 0.7:
        assert loudness(sound, seconds + 0.05, 0.7) < 0.01  # padded with silence
    assert not list(tmp_path.glob(".*"))


@pytest.mark.parametrize("joins", [[Join("cut"), Join("cut")], [Join("crossfade", 6), Join("cut")]])
def test_stitch_carries_sound_in_sync_through_cuts_and_crossfades(tmp_path, joins):
    # Tone, silence, tone: the silent clip's stretch of the film must be silent, exactly where its frames are.
    lengths = [25, 49, 25]
    sounds = [tone(2.0), Audio.silence(), tone(2.0, hz=660)]
    clips = [
        write_clip(solid(n, color), tmp_path / f"clip{i}.mp4", fps=24, audio=sound)
        for i, (n, color, sound) in enumerate(zip(lengths, (RED, GREEN, BLUE), sounds))
    ]
    info = stitch(clips, joins, tmp_path / "film.mp4", fps=24)

    fade = joins[0].frames
    assert info.frames == sum(lengths) - fade
    assert info.audio_duration == pytest.approx(info.duration, abs=1 / 24)
    sound = decoded_sound(tmp_path / "film.mp4")
    silent_from, silent_to = lengths[0] / 24, (lengths[0] - fade + lengths[1]) / 24
    assert loudness(sound, 0.1, silent_from - fade / 24 - 0.05) > 0.2
    assert loudness(sound, silent_from + 0.05, silent_to - 0.05) < 0.01
    assert loudness(sound, silent_to + 0.05, info.duration - 0.05) > 0.2
    # The picture switches to the silent clip's colour in the same place.
    means = frame_means(tmp_path / "film.mp4")
    np.testing.assert_allclose(means[round(silent_from * 24) + 1], GREEN, atol=6)


def test_stitch_refuses_clips_with_and_without_sound(tmp_path):
    clips = [
        write_clip(solid(17, RED), tmp_path / "a.mp4", fps=24, audio=tone(1.0)),
        write_clip(solid(17, GREEN), tmp_path / "b.mp4", fps=24),
    ]
    with pytest.raises(ValueError, match="b.mp4 has no sound track while other clips do"):
        stitch(clips, [Join("cut")], tmp_path / "film.mp4", fps=24)


@pytest.mark.parametrize("bed_seconds", [6.0, 1.0])
def test_music_bed_goes_under_the_film_cut_and_faded_at_its_end(tmp_path, bed_seconds):
    film = write_clip(make_frames(97), tmp_path / "film.mp4", fps=24)  # 4.04 s
    bed = tmp_path / "bed.wav"
    run_ffmpeg(["-f", "lavfi", "-i", f"sine=frequency=440:duration={bed_seconds}", "-filter:a", "volume=4", str(bed)], bed)
    video_packets = packets(film)

    info = lay_audio_bed(film, bed, fade_seconds=1.0)

    assert info.frames == 97 and info.audio_duration == pytest.approx(97 / 24, abs=1e-6)
    assert packets(film) == video_packets  # the picture is copied, not re-encoded
    sound = decoded_sound(film)
    if bed_seconds > 4:
        assert loudness(sound, 1.0, 2.5) > 0.2
        assert loudness(sound, 3.95, 4.04) < 0.05 < loudness(sound, 3.0, 3.1)  # fading out to the end
    else:
        assert loudness(sound, 0.1, 0.9) > 0.2
        assert loudness(sound, 1.1, 4.0) < 0.01  # a shorter bed is followed by silence


def test_a_clip_cut_with_stream_copy_is_counted_by_decoding_and_accepted(tmp_path):
    """`ffmpeg -ss 1.3 -i in.mp4 -c copy out.mp4` keeps the packets from the keyframe before the cut and writes an
    edit list that hides them: the header counts 48 frames, 40 decode. It was called "truncated or damaged"; now the
    frames are counted by decoding (honouring the edit list), validation accepts it as a control source, and the
    control reads exactly the frames a player shows. Real ffmpeg, real files."""
    from ltx_flows.render.controls import source_frames
    from ltx_flows.media.ffmpeg import ffmpeg_exe
    from ltx_flows.storyboard.loading import load_storyboard

    frames = np.random.default_rng(1).integers(0, 256, (72, 128, 128, 3), dtype=np.uint8)
    source = write_clip(frames, tmp_path / "source.mp4", fps=24)  # a keyframe every 12 frames
    trimmed = tmp_path / "trimmed.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-ss", "1.3", "-i", str(source), "-c", "copy", str(trimmed)],
                   check=True)
    with av.open(str(trimmed)) as container:
        header = container.streams.video[0].frames
        shown = sum(1 for _ in container.decode(video=0))
    assert header > shown > 0  # the edit list hides frames the header counts

    assert decoded_frames(trimmed) == decoded_frames(trimmed, threads=4) == shown
    iterator, count, fps = source_frames(trimmed)
    assert count == shown == len(list(iterator)) and fps == 24

    board = tmp_path / "board.yaml"
    board.write_text("version: 1\nname: s\nmodel: {family: ltx2}\noutput: {width: 128, height: 128}\n"
                     "shots: [{id: a, prompt: x, frames: 9, control: {kind: canny, source: trimmed.mp4}}]\n")
    load_storyboard(board, tmp_path)

    # A clip that really is cut short still fails.
    data = source.read_bytes()
    (tmp_path / "short.mp4").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DamagedMediaError, match="short.mp4"):
        decoded_frames(tmp_path / "short.mp4")
