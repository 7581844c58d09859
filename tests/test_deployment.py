"""Integration: the README's nightly-production path on 127.0.0.1, command for command.

A real `prefect server start`, a real process work pool and worker, `prefect deploy` of the
repo's prefect.yaml, `prefect deployment run`, and the film and manifest it leaves behind.
"""

import base64
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from PIL import Image

from ltx_flows.media.read import probe

from .conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOARD = """\
version: 1
name: tiny
model: {checkpoint: tiny, steps: 2}
output: {width: 96, height: 64, fps: 24}
shots:
  - {id: a, prompt: "a red ball", frames: 9}
  - {id: b, prompt: "a blue ball", frames: 9}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prefect(*args, cwd, env, timeout=180) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "prefect", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"prefect {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def stop(process: subprocess.Popen) -> None:
    """Ctrl-C first (a worker ignores its first SIGTERM), then kill whatever is left of its process group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def start_server(args: list[str], cwd, env: dict, log, api: str) -> subprocess.Popen:
    """Start a Prefect server (`args`, in a session of its own, output to the open file `log`) and wait until
    `api` answers its health check; fail with the log's tail if it exits or does not answer in 150 s."""
    server = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 150
    while True:
        log.flush()
        assert server.poll() is None, open(log.name).read()[-3000:]
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the Prefect server did not start in 150 s"
        time.sleep(1)


@pytest.fixture
def studio(tmp_path, tiny_cache):
    """A checkout with the repo's prefect.yaml and a tiny storyboard, and the environment every command gets."""
    checkout = tmp_path / "studio"
    (checkout / "storyboards").mkdir(parents=True)
    shutil.copy(REPO / "prefect.yaml", checkout)
    (checkout / "storyboards" / "tiny.yaml").write_text(BOARD)
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",  # default 10 s
        "LTX_FLOWS_CACHE": str(tiny_cache),
        # The flow run imports this checkout's ltx_flows, as the installed package would.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    return checkout, env, port


def test_deployment_run_renders_the_film_through_a_process_worker(studio, tmp_path, chromium):
    checkout, env, port = studio
    api = env["PREFECT_API_URL"]
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("server", "worker")}
    processes = []
    try:
        # One machine, the README's commands: the server ...
        processes.append(start_server(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            cwd=checkout, env=env, log=logs["server"], api=api,
        ))

        # ... the work pool, the deployments, a worker ...
        prefect("work-pool", "create", "renders", "--type", "process", cwd=checkout, env=env)
        prefect("--no-prompt", "deploy", "--all", cwd=checkout, env=env)
        worker = subprocess.Popen(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", "renders"],
            cwd=checkout, env=env, stdout=logs["worker"], stderr=subprocess.STDOUT, start_new_session=True,
        )
        processes.append(worker)

        nightly = httpx.get(f"{api}/deployments/name/render-batch/nightly", timeout=10).json()
        assert [s["schedule"]["cron"] for s in nightly["schedules"]] == ["0 2 * * *"]
        assert nightly["parameters"]["storyboards"] == ["storyboards/"]

        # ... and a run of the on-demand deployment, named as the docs do, watched to the end.
        run = prefect(
            "deployment", "run", "render-batch/on-demand", "--param", 'storyboards=["storyboards/tiny.yaml"]',
            "--flow-run-name", "on-demand-tiny-first",
            "--watch", "--watch-interval", "1", "--watch-timeout", "300", cwd=checkout, env=env, timeout=330,
        )
        flow_runs = httpx.post(f"{api}/flow_runs/filter", json={"flow_runs": {}}, timeout=10).json()
        batch = next(r for r in flow_runs if r["deployment_id"] == httpx.get(
            f"{api}/deployments/name/render-batch/on-demand", timeout=10).json()["id"])
        assert batch["state"]["type"] == "COMPLETED", run.stdout[-3000:]
        # The storyboard's shots are task runs of the batch run (every shot of a batch shares its render slots).
        task_runs = httpx.post(f"{api}/task_runs/filter", json={"task_runs": {"flow_run_id": {"any_": [batch["id"]]}}}, timeout=10).json()
        assert sorted((r["name"], r["state"]["type"]) for r in task_runs) == [
            ("shot-tiny-a", "COMPLETED"), ("shot-tiny-b", "COMPLETED"), ("stitch-tiny", "COMPLETED")
        ]
        # The name --watch printed is the one the UI shows: the run keeps the name it was created with.
        assert batch["name"] == "on-demand-tiny-first" and "'on-demand-tiny-first'" in run.stdout, run.stdout[-3000:]
        artifacts = read_artifacts(api)

        # A failed batch ends Failed with its message, not with Prefect's "TypeError: Unexpected result
        # for failed state ... dict cannot be resolved into an exception" (the summary is in the artifact).
        (checkout / "storyboards" / "broken.yaml").write_text(BOARD.replace("name: tiny", "name: broken").replace("frames: 9}", "frames: 0}"))
        subprocess.run(
            [sys.executable, "-m", "prefect", "deployment", "run", "render-batch/on-demand", "--param",
             'storyboards=["storyboards/broken.yaml"]', "--watch", "--watch-interval", "1", "--watch-timeout", "300"],
            cwd=checkout, env=env, capture_output=True, text=True, timeout=330,
        )
        flow_runs = httpx.post(f"{api}/flow_runs/filter", json={"flow_runs": {}}, timeout=10).json()
        [failed] = [r for r in flow_runs if r["state"]["type"] == "FAILED" and not r["parent_task_run_id"]]
        assert failed["state"]["message"].startswith("1 of 1 storyboards failed (storyboards/broken.yaml: ")
        assert "TypeError" not in (tmp_path / "worker.log").read_text()
        # Created without a name, it is named when it starts: what and when, to the second.
        assert re.fullmatch(r"on-demand-\d{4}-\d{2}-\d{2}-\d{2}:\d{2}:\d{2}", failed["name"]), failed["name"]
        # Its log ends with why, in one line: not "Engine execution exited with unexpected exception" and a traceback.
        deadline = time.monotonic() + 60  # the run's last logs may reach the API after its final state
        while True:
            run_logs = [log["message"] for log in httpx.post(f"{api}/logs/filter", json={
                "logs": {"flow_run_id": {"any_": [failed["id"]]}}, "sort": "TIMESTAMP_ASC"}, timeout=10).json()]
            if any(message.startswith(("Batch failed", "Engine execution")) for message in run_logs) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert not any("Engine execution exited" in message or "Traceback" in message for message in run_logs), run_logs
        assert any(message == f"Batch failed: {failed['state']['message']}" for message in run_logs), run_logs
    finally:
        for process in reversed(processes):
            stop(process)
        for log in logs.values():
            log.close()

    film_dir = checkout / "renders" / "tiny"  # `out` defaults to renders/ in the run's working folder
    manifest = json.loads((film_dir / "manifest.json").read_text())
    assert probe(film_dir / "tiny.mp4").frames == manifest["film"]["frames"] == 18
    assert [s["status"] for s in manifest["shots"]] == ["rendered", "rendered"]
    # The review page of this render, in chromium: the film and both shots load and play.
    dom = chromium(film_dir / "review.html", "--virtual-time-budget=8000", "--dump-dom")
    assert re.findall(r'<video[^>]*src="([^"]+)"[^>]*data-loaded="(\w+)"', dom) == [
        ("tiny.mp4", "yes"), ("shots/a.mp4", "yes"), ("shots/b.mp4", "yes")]

    # What the producer sees in the UI: keys name the deployment (a CLI render of `tiny` uses `cli-...`
    # and leaves these alone), every artifact has a description, and the content is the render's.
    assert set(artifacts) == {"on-demand-tiny-summary", "on-demand-tiny-shots", "on-demand-tiny-progress",
                              "on-demand-render-batch-summary"}
    assert all(artifact.description for artifact in artifacts.values())
    summary = artifacts["on-demand-tiny-summary"].data
    assert f"**Film**: `{film_dir / 'tiny.mp4'}` (0.75 s, 18 frames at 24 fps)" in summary
    assert f"**Review page**: `{film_dir / 'review.html'}` ([open]({(film_dir / 'review.html').as_uri()}))" in summary
    seeds = {shot["id"]: shot["seed"] for shot in manifest["shots"]}
    for shot, prompt in (("a", "a red ball"), ("b", "a blue ball")):
        row = re.search(rf"^\| `{shot}` \| rendered in [0-9.]+ s \| {seeds[shot]} \| 9 \| "
                        rf"!\[{shot}\]\(data:image/jpeg;base64,([A-Za-z0-9+/=]+)\) \| {prompt} \|$", summary, re.MULTILINE)
        assert row, summary[:3000]
        thumbnail = Image.open(io.BytesIO(base64.b64decode(row[1])))
        assert (thumbnail.format, thumbnail.width) == ("JPEG", 160)
    assert artifacts["on-demand-tiny-progress"].data == 100.0
    assert artifacts["on-demand-tiny-progress"].description == (
        "tiny (on-demand run): shots, long-take segments and denoising steps done. Now: done")
    rows = json.loads(artifacts["on-demand-tiny-shots"].data)
    assert [(r["shot"], r["clip"]) for r in rows] == [("a", str(film_dir / "shots/a.mp4")), ("b", str(film_dir / "shots/b.mp4"))]
    batch_summary = artifacts["on-demand-render-batch-summary"].data
    assert (f"| `storyboards/tiny.yaml` | rendered (2 shots) | `{film_dir / 'tiny.mp4'}` | `{film_dir / 'review.html'}` |"
            in batch_summary)


def read_artifacts(api: str) -> dict:
    """The latest artifact of each key, read through the Prefect client from the server at `api`."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        return {artifact.key: artifact for artifact in client.read_latest_artifacts()}


def documented_server_command(text: str) -> str:
    """The line of a doc's commands that starts the Prefect server."""
    [line] = [line.split("#")[0].strip() for line in text.splitlines()
              if "prefect server start" in line and "127.0.0.1" in line and not line.lstrip().startswith("#")]
    return line


LONG_PROMPT = ("a slow dolly across a sunlit kitchen counter, steam curling from a pour-over coffee as the barista's hands "
               "tilt the kettle in a steady spiral, morning light through linen curtains, shallow depth of field, "
               "35 mm film grain, warm tones, the camera settling on the cup as the last drops fall")
NOT_CACHED = ("ModelNotCached: model Lightricks/LTX-Video-0.9.7-distilled is not in this machine's Hugging Face cache and "
              "the Hub could not be reached: run `ltx-flows download storyboards/pour.yaml` (with network, same HF_HOME), "
              "then render again")

# In the page: wait for the artifact's table, then where each column header and the remedy are, and the part of
# the page that shows them (the window, narrowed by any ancestor that clips: Prefect's V1 UI scrolls a wide table).
MEASURE = """(async () => {
  for (let i = 0; i < 300 && !document.querySelector('table th'); i++) await new Promise(r => setTimeout(r, 100));
  const heads = [...document.querySelectorAll('table th')];
  if (!heads.length) return {error: document.body.innerText.slice(0, 800)};
  let right = window.innerWidth;
  for (let el = heads[0].closest('table').parentElement; el; el = el.parentElement) {
    if (getComputedStyle(el).overflowX !== 'visible') right = Math.min(right, el.getBoundingClientRect().right);
  }
  const remedy = [...document.querySelectorAll('li')].find(li => li.innerText.includes('ltx-flows download'));
  return {right, columns: heads.map(th => [th.innerText.trim(), th.getBoundingClientRect().right]),
          remedy: remedy ? remedy.getBoundingClientRect().right : null, ui: document.body.innerText.includes('Switch to V2') ? 'v1' : 'v2'};
})()"""


def measure_page(url: str, profile, width: int = 1600, height: int = 1000) -> dict:
    """Open `url` in headless chromium at `width` x `height` and run MEASURE in it (Chrome DevTools Protocol)."""
    import asyncio

    import websockets

    from .conftest import CHROMIUM_FLAGS

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    browser = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                f"--window-size={width},{height}", "--hide-scrollbars", url],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            assert time.monotonic() < deadline and browser.poll() is None, "chromium did not open its DevTools port"
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        page = next(t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json() if t["type"] == "page")

        async def evaluate() -> dict:
            async with websockets.connect(page["webSocketDebuggerUrl"], max_size=None) as socket_:
                for attempt in range(1, 21):  # the UI may redirect, which ends the evaluation: try again in the new page
                    await socket_.send(json.dumps({"id": attempt, "method": "Runtime.evaluate", "params": {
                        "expression": MEASURE, "awaitPromise": True, "returnByValue": True}}))
                    while (message := json.loads(await socket_.recv())).get("id") != attempt:
                        pass
                    if "value" in message.get("result", {}).get("result", {}):
                        return message["result"]["result"]["value"]
                    await asyncio.sleep(0.5)
                raise AssertionError(f"could not evaluate in {url}: {message}")

        return asyncio.run(asyncio.wait_for(evaluate(), 90))
    finally:
        browser.kill()
        browser.wait()


def test_the_ui_on_another_port_reaches_the_api_and_shows_each_shots_outcome(tmp_path, chromium, write_storyboard):
    """The docs' server command with another port: the UI is told that port (it called 4200: "Can't connect to Server
    API"), and in headless Chromium at 1600 x 1000 both of Prefect's UIs load a storyboard summary from it with every
    shot's outcome, seed and frames in sight, and the failed shot's remedy, whatever the prompts' length."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactCreate
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from ltx_flows.plan.planner import plan_storyboard
    from ltx_flows.media.thumbnails import data_uri
    from ltx_flows.production.report import ShotOutcome, storyboard_markdown
    from ltx_flows.storyboard.loading import load_storyboard

    commands = {doc: documented_server_command((REPO / doc).read_text()) for doc in ("README.md", "docs/production.md")}
    assert set(commands.values()) == {
        "PREFECT_UI_API_URL=http://127.0.0.1:4200/api prefect server start --host 127.0.0.1 --port 4200"}, commands
    port = free_port()
    command = commands["docs/production.md"].replace("4200", str(port))
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PATH=os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")]))
    api = f"http://127.0.0.1:{port}/api"
    with open(tmp_path / "server.log", "w") as log:
        server = start_server(["bash", "-c", command], cwd=tmp_path, env=env, log=log, api=api)
        try:
            assert httpx.get(f"http://127.0.0.1:{port}/ui-settings", timeout=10).json()["api_url"] == api

            path = write_storyboard("version: 1\nname: pour\nmodel: {checkpoint: tiny, steps: 2}\n"
                                    "output: {width: 96, height: 64, fps: 24}\nshots:\n" + "".join(
                                        f'  - {{id: {shot}, prompt: "{LONG_PROMPT}", frames: 9}}\n' for shot in "abc"))
            plan = plan_storyboard(load_storyboard(path), path)
            picture = io.BytesIO()
            Image.new("RGB", (160, 107), "teal").save(picture, format="JPEG")
            markdown = storyboard_markdown(
                plan, tmp_path, {"a": ShotOutcome("failed", reason=NOT_CACHED), "b": ShotOutcome("cached"),
                                 "c": ShotOutcome("rendered", 12.3)}, None,
                thumbnails={"b": data_uri(picture.getvalue()), "c": data_uri(picture.getvalue())})
            with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
                artifact = client.create_artifact(ArtifactCreate(key="pour-summary", type="markdown", data=markdown))

            for ui, url in (("v1", f"http://127.0.0.1:{port}/artifacts/artifact/{artifact.id}"),
                            ("v2", f"http://127.0.0.1:{port}/v2/artifacts/artifact/{artifact.id}")):
                page = measure_page(url, tmp_path / f"chromium-{ui}")
                assert "error" not in page and page["ui"] == ui, page  # the table came: the UI reached the API
                columns = dict(page["columns"])
                assert list(columns) == ["shot", "this run", "seed", "frames", "frame", "prompt"], page
                assert all(columns[name] <= page["right"] for name in ("shot", "this run", "seed", "frames")), (ui, page)
                assert page["remedy"] is not None and page["remedy"] <= 1600, (ui, page)
        finally:
            stop(server)
