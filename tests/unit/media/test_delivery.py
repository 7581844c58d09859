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
