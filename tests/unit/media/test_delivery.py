"""Unit tests (real ffmpeg, Pillow, PyAV; no stubs): one deliverable's encode pass (media/delivery.py) crops around
per-shot windows, scales, composites the overlays (media/overlays.py) in their time windows, and is checked against
its profile (media/profiles.py)."""

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from ltx_flows.media.delivery import CropAt, Delivery, deliver
from ltx_flows.media.ffmpeg import run_ffmpeg
from ltx_flows.media.overlays import SafeArea, end_card_layer, legal_layer, logo_layer
from ltx_flows.media.profiles import PROFILES, check_delivery


@pytest.fixture
def film(tmp_path) -> Path:
    """Two seconds at 24 fps, 128x64: the left half black, the right half white, with a 48 kHz tone."""
    path = tmp_path / "film.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "color=black:size=64x64:rate=24:duration=2", "-f", "lavfi",
                "-i", "color=white:size=64x64:rate=24:duration=2", "-f", "lavfi",
                "-i", "sine=frequency=440:sample_rate=48000:duration=2", "-filter_complex", "[0:v][1:v]hstack[v]",
                "-map", "[v]", "-map", "2:a", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], path)
    return path


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_a_crop_follows_its_windows_and_overlays_keep_their_times(film, tmp_path):
    Image.new("RGBA", (12, 8), (255, 0, 0, 255)).save(tmp_path / "logo.png")
    area = SafeArea(width=32, height=64, fraction=0.9)
    layers = [
        logo_layer(tmp_path / "logo.png", tmp_path / "l.png", area, "top-left", 2, 1.0, 0.0, None),
        end_card_layer(tmp_path / "card.png", area, "#2040c0", None, None, start=1.5),
        legal_layer(tmp_path / "legal.png", area, "Terms apply", 8),
    ]
    out = tmp_path / "story.mp4"
    # The first second from the black half, the next from the white half.
    check = deliver(film, out, Delivery(width=32, height=64, fps=24, profile="social-vertical", crop_width=32,
                                        crop_height=64, crops=[CropAt(0, 0, 0), CropAt(24, 96, 0)], overlays=layers))
    assert check.ok and (check.width, check.height, check.audio_rate, check.codec) == (32, 64, 48000, "h264")
    decoded = frames(out)
    assert len(decoded) == 48 and decoded[0].shape == (64, 32, 3)
    left, top, _, _ = area.box
    logo = decoded[10][top + 3:top + 7, left + 4:left + 10].reshape(-1, 3).mean(axis=0)
    assert logo[0] > 200 and logo[1] < 60 and logo[2] < 60  # red, at the logo's place
    assert decoded[10][32, 16].mean() < 30  # the black half
    assert decoded[30][32, 16].mean() > 220  # the white half, before the end card
    card = decoded[-1][20, 16]
    assert abs(int(card[0]) - 0x20) < 20 and abs(int(card[2]) - 0xC0) < 20  # the end card's colour, at the end


def test_a_length_cap_and_frame_rate_apply_and_the_check_reads_the_file(film, tmp_path):
    out = tmp_path / "short.mp4"
    check = deliver(film, out, Delivery(width=64, height=32, fps=12, profile="web-h264", max_seconds=1.0))
    assert check.ok and check.fps == 12 and abs(check.duration - 1.0) < 0.1
    assert len(frames(out)) == 12
    wrong = check_delivery(out, PROFILES["master"], 64, 48, 12, 1.0, has_audio=True)
    assert not wrong.ok and wrong.problems == ["64x32, the deliverable is 64x48"]


def red_pixels(frame: np.ndarray) -> int:
    return int(((frame[..., 0] > 150) & (frame[..., 1] < 90) & (frame[..., 2] < 90)).sum())


def test_burned_captions_show_in_the_caption_area_only_while_their_line_plays(film, tmp_path):
    from ltx_flows.media.burned_captions import CaptionLook, write_burned_captions
    from ltx_flows.media.captions import Cue, write_captions

    [track, _] = write_captions([Cue(start=0.5, end=1.0, text="Hello")], film)
    # An opaque red box behind the line: red pixels are the caption, at the bottom of the safe area.
    look = CaptionLook(size=12, color="#ffffff", box=True, box_color="#ff0000", box_opacity=1.0, position="bottom",
                       left=6, right=6, top=3, bottom=5)
    (tmp_path / "overlays").mkdir()
    burned = write_burned_captions(track, tmp_path / "overlays" / "wide-captions.ass", 128, 64, look)
    captioned, clean = tmp_path / "captioned.mp4", tmp_path / "clean.mp4"
    assert deliver(film, captioned, Delivery(width=128, height=64, fps=24, profile="web-h264", captions=burned)).ok
    assert deliver(film, clean, Delivery(width=128, height=64, fps=24, profile="web-h264")).ok
    shown = frames(captioned)
    for index, frame in enumerate(shown):
        playing = 0.5 * 24 + 1 <= index <= 1.0 * 24 - 2  # a frame of slack at each end of the line
        quiet = index < 0.5 * 24 - 1 or index > 1.0 * 24 + 1
        assert red_pixels(frame[:32]) == 0, index  # never in the top half
        if playing:
            assert red_pixels(frame[32:64 - 5]) > 60, index  # the box, above the bottom margin
        if quiet:
            assert red_pixels(frame) == 0, index
    assert max(red_pixels(frame) for frame in frames(clean)) == 0  # the clean deliverable has none


def test_the_loudness_check_measures_the_delivered_file(film, tmp_path):
    from ltx_flows.media.loudness import normalize_loudness

    with pytest.raises(RuntimeError, match=r"does not meet profile web-h264: the sound measures -\d+\.\d LUFS"):
        deliver(film, tmp_path / "quiet.mp4", Delivery(width=64, height=32, fps=24, profile="web-h264", loudness=-10.0))
    assert not (tmp_path / "quiet.mp4").exists()
    normalize_loudness(film, -16.0, -1.0)
    check = deliver(film, tmp_path / "ok.mp4", Delivery(width=64, height=32, fps=24, profile="web-h264", loudness=-16.0))
    assert check.ok and abs(check.loudness["integrated"] + 16) <= 1 and check.loudness["true_peak"] <= -1
    assert check.as_dict()["loudness"]["target"] == -16.0
    assert "loudness" not in deliver(film, tmp_path / "any.mp4", Delivery(width=64, height=32, fps=24,
                                                                         profile="web-h264")).as_dict()
