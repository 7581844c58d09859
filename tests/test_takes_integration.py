"""Integration: takes through the real flow, `ltx-flows pick` and `ltx-flows approve` from the real command line.

The real tiny LTX-Video pipeline renders, the real Prefect flow (temporary server) spreads the takes over its
render slots, and the command line runs in a real process (its fast path: no model, no Prefect when nothing needs
a render). Generations are counted from the progress log (tests/generations.py) and from `render --json`.
"""

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

from ltx_flows.plan.planner import plan_storyboard
from ltx_flows.storyboard.loading import load_storyboard

from .generations import watching
from .test_fast_path import CLI_AND_IMPORTS

pytestmark = pytest.mark.integration

BOARD = """
# The night shoot. Comments and layout must survive a pick.
version: 1
name: takes
model: {family: ltxv, checkpoint: tiny, steps: 2}
output: {width: 96, height: 64, fps: 24}

shots:
  # the hero shot: three takes to choose from
  - id: hero
    prompt: "a lighthouse beam sweeps the fog"   # keep this wording
    frames: 9
    takes: 3
  - id: plain
    prompt: "waves on rocks"
    frames: 9
"""


def cli(folder, *args):
    return subprocess.run([sys.executable, "-c", CLI_AND_IMPORTS, *args], cwd=folder, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def takes(prefect_server, tiny_cache, tmp_path_factory):
    """Render a storyboard with a three-take shot through the flow."""
    from ltx_flows.production.flow import render_storyboard

    folder = tmp_path_factory.mktemp("takes")
    board = folder / "board.yaml"
    board.write_text(textwrap.dedent(BOARD).lstrip())
    plan = plan_storyboard(load_storyboard(board, folder), board)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(folder)
        with watching() as generations:
            result = render_storyboard(str(board), out=str(folder / "renders"))
    film_dir = folder / "renders" / "takes"
    return SimpleNamespace(folder=folder, board=board, plan=plan, result=result, events=generations.events,
                           film_dir=film_dir, manifest=json.loads((film_dir / "manifest.json").read_text()))


@pytest.mark.slow  # four tiny renders through a Prefect flow: 20-40 s here
def test_takes_render_over_the_slots_and_the_film_uses_the_first_that_passes(takes):
    hero = takes.plan.shot("hero")
    assert len(takes.events) == 4  # three takes and the plain shot
    assert sorted(event["content_hash"] for event in takes.events if event["shot"] == "hero") == \
        sorted(take.content_hash for take in hero.takes)
    assert takes.result["generated"] == 2 and takes.result["reused"] == 0  # shots, not takes
    [entry] = [shot for shot in takes.manifest["shots"] if shot["id"] == "hero"]
    assert [t["seed"] for t in entry["takes"]] == [take.seed for take in hero.takes]
    assert all(t["rendered"] for t in entry["takes"])
    first_passing = next(t for t in entry["takes"] if t["qc"]["passed"])
    assert entry["take"] == first_passing["take"] and entry["seed"] == first_passing["seed"]
    assert not entry["picked"]
    review = (takes.film_dir / "review.html").read_text()
    assert review.count('class="take') == 3


@pytest.mark.slow  # shares the fixture above; Chromium and the server start in 3-6 s
def test_the_review_server_shows_three_takes_and_a_click_picks_one(takes, monkeypatch):
    """Real headless Chromium (Debian's, driven by Playwright) on the real `ltx-flows review` command."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium"):
        pytest.skip("chromium is not installed (`apt-get install -y chromium`)")
    hero = takes.plan.shot("hero")
    before = takes.board.read_text()
    server = subprocess.Popen([sys.executable, "-m", "ltx_flows.cli", "review", "renders", "--port", "0"],
                              cwd=takes.folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split(": ", 1)[1].strip()
        base = url.split("/?")[0]
        # Without the token: refused, with a message saying what to do.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/films/takes/review.html")
        assert refused.value.code == 403 and b"token" in refused.value.read()
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=shutil.which("chromium"))
            page = browser.new_page()
            page.goto(url)
            page.get_by_role("link", name="takes", exact=True).click()  # the index lists every film
            page.wait_for_selector("#shot-hero figure.take")
            figures = page.locator("#shot-hero figure.take")
            assert figures.count() == 3
            assert [figures.nth(i).get_attribute("data-seed") for i in range(3)] == [str(t.seed) for t in hero.takes]
            page.wait_for_function("[...document.querySelectorAll('#shot-hero figure.take video')]"
                                   ".every(v => v.dataset.loaded === 'yes')", timeout=20000)
            page.locator('#shot-hero button.pick[data-take="3"]').click()
            page.wait_for_selector("#review-result[data-state]", timeout=20000)
            assert page.locator("#review-result").get_attribute("data-state") == "done", page.locator("#review-result").text_content()
            # Approve the other shot, and leave a note on it.
            page.evaluate("document.getElementById('review-result').removeAttribute('data-state')")
            page.locator('#shot-plain button.approve').click()
            page.wait_for_selector("#review-result[data-state='done']", timeout=20000)
            page.evaluate("document.getElementById('review-result').removeAttribute('data-state')")
            page.locator("#shot-plain textarea").fill("the waves look fine")
            page.locator("#shot-plain button.save-note").click()
            page.wait_for_selector("#review-result[data-state='done']", timeout=20000)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert (takes.film_dir / "notes" / "plain.txt").read_text() == "the waves look fine"
    approvals = json.loads((takes.folder / "board.yaml.approved.json").read_text())
    assert approvals["plain"]["sha256"] == hashlib.sha256((takes.film_dir / "shots" / "plain.mp4").read_bytes()).hexdigest()
    after = takes.board.read_text()
    assert f"seed: {hero.takes[2].seed}" in after
    assert [line for line in after.splitlines() if "seed:" not in line] == before.splitlines()
    again = cli(takes.folder, "render", "board.yaml", "--json")
    assert again.returncode == 0, again.stderr
    [result] = json.loads(again.stdout[:again.stdout.rindex("IMPORTED=")])["succeeded"].values()
    assert result["generated"] == 0 and result["reused"] == 2
    assert (takes.film_dir / "shots" / "hero.mp4").read_bytes() == (takes.film_dir / hero.takes[2].clip).read_bytes()
    # The note is in the new manifest (and the next run's Prefect summary, from the same section).
    manifest = json.loads((takes.film_dir / "manifest.json").read_text())
    assert next(s for s in manifest["shots"] if s["id"] == "plain")["note"] == "the waves look fine"


def test_the_review_server_writes_only_storyboards_inside_the_allowed_roots(takes, tmp_path, monkeypatch):
    from ltx_flows.production.review_server import start_review_server

    monkeypatch.setenv("LTX_FLOWS_ALLOWED_ROOTS", str(tmp_path))  # the storyboard is elsewhere
    server = start_review_server(takes.folder / "renders")
    try:
        base, token = server.url.split("/?token=")
        request = urllib.request.Request(f"{base}/api/pick", data=json.dumps({"film": "takes", "shot": "hero", "take": 1})
                                         .encode(), headers={"X-Review-Token": token, "Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        answer = json.loads(refused.value.read())
        assert refused.value.code == 403 and "outside the folders" in answer["error"], answer
        unsigned = urllib.request.Request(request.full_url, data=request.data)  # no token: refused before anything
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(unsigned)
        assert refused.value.code == 403
    finally:
        server.shutdown()


@pytest.mark.slow  # shares the fixture above
def test_pick_writes_the_seed_keeping_comments_and_the_film_is_remade_without_a_generation(takes):
    hero = takes.plan.shot("hero")
    before = takes.board.read_text()  # the review server's test may have picked take 3 before
    picked = cli(takes.folder, "pick", "board.yaml", "hero", "2")
    assert picked.returncode == 0, picked.stderr
    after = takes.board.read_text()
    # Only the seed line is new; every comment and line as written is still there.
    assert f"seed: {hero.takes[1].seed}" in after
    assert [line for line in after.splitlines() if "seed:" not in line] == \
        [line for line in before.splitlines() if "seed:" not in line]
    again = cli(takes.folder, "render", "board.yaml", "--json")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout[:again.stdout.rindex("IMPORTED=")])
    [result] = summary["succeeded"].values()
    assert result["generated"] == 0 and result["reused"] == 2
    assert "torch" not in again.stdout.split("IMPORTED=")[1]  # re-made without loading a model
    clip = (takes.film_dir / "shots" / "hero.mp4").read_bytes()
    assert clip == (takes.film_dir / hero.takes[1].clip).read_bytes()
    manifest = json.loads((takes.film_dir / "manifest.json").read_text())
    [entry] = [shot for shot in manifest["shots"] if shot["id"] == "hero"]
    assert entry["picked"] and entry["take"] == 2 and entry["seed"] == hero.takes[1].seed
    # Out of range, or a shot that does not exist: a clear error, the file untouched.
    for args, message in ((("hero", "7"), "there is no take 7"), (("heroo", "1"), "did you mean `hero`")):
        wrong = cli(takes.folder, "pick", "board.yaml", *args)
        assert wrong.returncode == 2 and message in wrong.stderr, wrong.stderr
    assert takes.board.read_text() == after


@pytest.mark.slow  # shares the fixture above
def test_an_approved_shot_is_never_rendered_again_until_its_own_inputs_change(takes):
    assert cli(takes.folder, "pick", "board.yaml", "hero", "2").returncode == 0
    for shot in ("hero", "plain"):
        approved = cli(takes.folder, "approve", "board.yaml", shot)
        assert approved.returncode == 0, approved.stderr
    # A model setting that changes every content hash, and --force: both shots stay as approved.
    takes.board.write_text(takes.board.read_text().replace("steps: 2", "steps: 3"))
    forced = cli(takes.folder, "render", "board.yaml", "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    [result] = json.loads(forced.stdout[:forced.stdout.rindex("IMPORTED=")])["succeeded"].values()
    assert result["generated"] == 0 and result["reused"] == 2
    # The shot's own prompt changes: validation says the approval lapsed (the shot will render again).
    takes.board.write_text(takes.board.read_text().replace("waves on rocks", "waves on black rocks"))
    checked = cli(takes.folder, "validate", "board.yaml")
    assert checked.returncode == 0
    assert "shot `plain` was approved" in checked.stderr and "changed since" in checked.stderr
    assert "hero" not in checked.stderr
