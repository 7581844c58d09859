"""The terminal a person watches during `ltx-flows render`: one clean progress display.

A real render (tiny model, Prefect's ephemeral API) in a pseudo-terminal, so rich draws its live
display as it would for a person; the test reads back everything the terminal received.
"""

import logging
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

LONG_TAKE = """\
version: 1
name: take
model: {checkpoint: tiny, steps: 4}
output: {width: 96, height: 64, fps: 24}
shots:
  - {id: intro, prompt: "a red ball", frames: 9}
  - id: walk
    prompt: "a long walk"
    frames: 41
    segments: {frames: 17, overlap: 9}
"""

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def run_in_terminal(command: list[str], cwd, env, timeout: float = 600) -> tuple[int, str]:
    """Run `command` with a pseudo-terminal as its stdin, stdout and stderr; returns (exit code, all it wrote)."""
    main, child = pty.openpty()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=child, stdout=child, stderr=child, close_fds=True)
    os.close(child)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 1)
            if ready:
                try:
                    data = os.read(main, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        else:
            process.kill()
            pytest.fail(f"no exit in {timeout} s: {b''.join(chunks)[-2000:]!r}")
    finally:
        os.close(main)
    return process.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.integration
@pytest.mark.slow
def test_long_take_render_shows_one_clean_progress_display(tmp_path, tiny_cache, prefect_api_url):
    (tmp_path / "take.yaml").write_text(LONG_TAKE)
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url}  # the session's server (conftest.py)
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"), "LTX_FLOWS_CACHE": str(tiny_cache),
                "COLUMNS": "140", "LINES": "40", "TERM": "xterm-256color"})
    code, screen = run_in_terminal([sys.executable, "-m", "ltx_flows.cli", "render", "take.yaml", "--verbose"],
                                   tmp_path, env)
    (tmp_path / "terminal.txt").write_text(screen)  # for a person to look at
    assert code == 0, screen[-3000:]
    # Every redraw of the display and every log line, as separate lines of text.
    lines = [line.strip() for line in re.split(r"[\r\n]+", ANSI.sub("", screen)) if line.strip()]
    bars = [line for line in lines if "━" in line]
    assert bars, screen[-3000:]
    # One display: every bar line is the storyboard's bar alone, never glued to a log line.
    for line in bars:
        assert re.fullmatch(r"take [━╺╸ ]+ +\d+% \d:\d\d:\d\d eta (≥?\d:\d\d:\d\d|-:--:--)( .*)?", line), line
    # It moves through the long take's segments (4 of 17 frames, 4 denoising steps each), then stitches.
    seen = [int(m[1]) for line in bars for m in [re.search(r"shot 2/2 walk, segment (\d)/4(, step [1-4]/4|: decoding( and encoding)?)$", line)] if m]
    assert seen == sorted(seen) and {1, 4} <= set(seen), bars
    assert any(line.endswith("done") and "100%" in line for line in bars)
    # Prefect's log lines (shown with --verbose) are whole lines of their own, printed as written.
    logs = [line for line in lines if re.match(r"\d\d:\d\d:\d\d\.\d{3} \| ", line)]
    assert any("Finished in state Completed()" in line for line in logs), lines
    assert all("━" not in line for line in logs)
    assert "film renders/take/take.mp4  review renders/take/review.html" in lines


def test_log_text_prints_as_written(capsys):
    """Prefect's console handler, routed through the CLI's console: no markup, no emoji codes (unit test)."""
    from prefect import flow  # noqa: F401 (imports prefect.main, which sets up Prefect's logging)

    from ltx_flows.cli import err_console
    from ltx_flows.production.terminal import route_prefect_logs

    route_prefect_logs(err_console, verbose=True)
    logger = logging.getLogger("prefect.flow_runs")
    logger.setLevel(logging.INFO)
    logger.info("ffmpeg mapped [0:v:0] and [bold]:smile:[/bold]")
    err = capsys.readouterr().err
    assert "ffmpeg mapped [0:v:0] and [bold]:smile:[/bold]" in err


@pytest.mark.integration
@pytest.mark.slow
def test_ctrl_c_during_a_render_exits_130(tmp_path, tiny_cache, prefect_api_url):
    import signal

    (tmp_path / "take.yaml").write_text(LONG_TAKE.replace("steps: 4", "steps: 80"))  # still generating when interrupted
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url}  # the session's server (conftest.py)
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"), "LTX_FLOWS_CACHE": str(tiny_cache)})
    process = subprocess.Popen(
        [sys.executable, "-m", "ltx_flows.cli", "render", "take.yaml"], cwd=tmp_path, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as in a terminal, even under a background job
    )
    deadline = time.monotonic() + 300
    while not (tmp_path / "renders" / "take" / "segments").exists():  # the long take has started
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    assert err.rstrip().endswith("interrupted") and "Traceback" not in err
    assert not (tmp_path / "renders" / "take" / "manifest.json").exists()


TWO_SHOTS = """\
version: 1
name: pair
model: {checkpoint: tiny, steps: 4}
output: {width: 96, height: 64, fps: 24}
shots:
  - {id: intro, prompt: "a red ball", frames: 9}
  - {id: outro, prompt: "a blue ball", frames: 17}
"""


@pytest.mark.integration
@pytest.mark.slow
def test_render_says_what_it_does_from_the_start(tmp_path, tiny_cache):
    """No blank terminal while Prefect starts and the model loads, and no ETA of a few seconds while a shot
    decodes and encodes: each phase is said on the storyboard's bar (issue 18, item 8). Prefect's own
    ephemeral API, as a first `ltx-flows render` starts it."""
    (tmp_path / "pair.yaml").write_text(TWO_SHOTS)
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"), "LTX_FLOWS_CACHE": str(tiny_cache),
                "COLUMNS": "160", "LINES": "40", "TERM": "xterm-256color"})
    code, screen = run_in_terminal([sys.executable, "-m", "ltx_flows.cli", "render", "pair.yaml"], tmp_path, env)
    (tmp_path / "terminal.txt").write_text(screen)
    assert code == 0, screen[-3000:]
    lines = [line.strip() for line in re.split(r"[\r\n]+", ANSI.sub("", screen)) if line.strip()]
    bars = [line for line in lines if line.startswith("pair ") and "━" in line]
    said = list(dict.fromkeys(re.sub(r"^pair [━╺╸ ]+ +\d+% \d:\d\d:\d\d eta \S+ ?", "", line) for line in bars))
    # The storyboard's bar shows first thing, saying what happens before its plan is known.
    assert said[:2] == ["loading Prefect", "starting Prefect (a temporary local API server)"], said
    assert said.index("0/2 shots") == 2, said
    assert any(re.fullmatch(r"shot [12]/2 (intro|outro): loading model tiny.*", text) for text in said), said
    # After its last step a shot decodes and encodes; the bar says so instead of "step 4/4".
    assert any(re.fullmatch(r"shot [12]/2 (intro|outro): (decoding and encoding|encoding)", text) for text in said), said
    assert not any(text.endswith("step 4/4") for text in said), said
    assert said[-1] == "done"
