import os
import tempfile
import textwrap
from pathlib import Path

# Before anything imports prefect: keep test runs out of the user's ~/.prefect and
# send nothing off the machine.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="ltx-flows-prefect-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"

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
def tiny_cache(tmp_path_factory):
    """One tiny-checkpoint cache for the whole test session (built once, ~seconds)."""
    path = Path(os.environ.get("LTX_FLOWS_TEST_CACHE") or tmp_path_factory.mktemp("ltx-cache"))
    os.environ["LTX_FLOWS_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def prefect_server():
    """One real temporary Prefect server (SQLite) for every test of the session that needs one."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
