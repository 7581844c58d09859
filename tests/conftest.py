import os
import tempfile
import textwrap
from pathlib import Path

# Before anything imports prefect: keep test runs out of the user's ~/.prefect and
# send nothing off the machine.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="ltx-flows-prefect-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
# Before torch loads (here and in every CLI subprocess): the tiny models' ops are so small that a second
# thread only adds synchronisation; one thread rendered the tiny twins 2-6x faster on 2 loaded cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A temporary workspace root (the current directory) with one keyframe image."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keyframes").mkdir()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(tmp_path / "keyframes" / "a.png")
    return tmp_path


@pytest.fixture
def write_storyboard(workspace):
    """Write YAML text (dedented) to a storyboard file in the workspace; returns its path."""

    def write(text: str, name: str = "board.yaml") -> Path:
        path = workspace / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


@pytest.fixture(scope="session")
def prefect_server():
    """One real temporary Prefect server (SQLite) for every integration test of the session (~10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def prefect_api_url(prefect_server) -> str:
    """The session's Prefect API, for `ltx-flows` subprocesses to report to as a worker reports to its team's server.

    Without it each CLI run that renders starts (and stops) an ephemeral server of its own: 4-10 s a run here, more
    on a new PREFECT_HOME. `test_cli.py::test_render_quickstart_like_the_readme` keeps that path covered.
    """
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    """One tiny-checkpoint cache for the whole test session (built once, ~seconds)."""
    path = Path(os.environ.get("LTX_FLOWS_TEST_CACHE") or tmp_path_factory.mktemp("ltx-cache"))
    os.environ["LTX_FLOWS_CACHE"] = str(path)
    return path


@pytest.fixture
def reference_media(workspace):
    """Reference media in the workspace: a 1 s clip at 12 fps of a white box sliding right (128x96),
    a still image, and a 3 s 440 Hz music bed. Returns their paths, relative to the workspace."""
    import subprocess

    import imageio_ffmpeg
    import numpy as np

    from ltx_flows.media.write import write_clip

    (workspace / "controls").mkdir()
    frames = np.zeros((12, 96, 128, 3), np.uint8)
    for i in range(12):
        frames[i, 24:72, 8 + 8 * i : 40 + 8 * i] = 255
    write_clip(frames, workspace / "controls" / "slide.mp4", fps=12)
    Image.fromarray(frames[6]).save(workspace / "controls" / "still.png")
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
         "-ac", "2", str(workspace / "controls" / "bed.wav")],
        check=True,
    )
    return {"clip": "controls/slide.mp4", "still": "controls/still.png", "bed": "controls/bed.wav"}


CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


@pytest.fixture
def chromium(tmp_path):
    """Run Debian's headless chromium on a page: `chromium(page, *flags)` -> its stdout. Skips without chromium
    unless CI is set (`.ci/run` installs it, so there a missing browser is a failure)."""
    import shutil
    import subprocess

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is not installed, and CI is set: `apt-get install -y chromium` (see .ci/run)")
        pytest.skip("chromium is not installed (`apt-get install -y chromium`); the review page is not opened")

    def run(page: Path, *flags: str) -> str:
        profile = tmp_path / "chromium-profile"
        command = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags, page.resolve().as_uri()]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    return run
