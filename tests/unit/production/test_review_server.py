"""Unit tests: the review server's refusals and its note, over real HTTP on 127.0.0.1 (the browser test that picks
a take is tests/test_takes_integration.py). A render folder is faked with a manifest only: no clip is needed here."""

import json
import urllib.error
import urllib.request

import pytest

from ltx_flows.production.report import review_link
from ltx_flows.production.review_server import start_review_server


@pytest.fixture
def served(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    film = tmp_path / "renders" / "film"
    film.mkdir(parents=True)
    (film / "manifest.json").write_text(json.dumps({"storyboard": {"path": str(tmp_path / "board.yaml")}}))
    (film / "review.html").write_text("<html><body><p>page</p></body></html>")
    (tmp_path / "secret.txt").write_text("not yours")
    server = start_review_server(tmp_path / "renders")
    base, token = server.url.split("/?token=")
    yield base, token, film
    server.shutdown()


def _get(url, **headers):
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers))


def _post(url, body, **headers):
    return urllib.request.urlopen(urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers))


def _refused(call) -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as error:
        call()
    return error.value.code, json.loads(error.value.read())["error"]


def test_the_page_needs_the_token_and_gets_its_buttons(served):
    base, token, _ = served
    code, why = _refused(lambda: _get(f"{base}/films/film/review.html"))
    assert code == 403 and "?token=" in why
    page = _get(f"{base}/films/film/review.html?token={token}").read().decode()
    assert "const REVIEW" in page and token in page and 'id="review-result"' in page
    # The cookie the first answer sets lets the page's videos load without the token in their URLs.
    assert _get(f"{base}/films/film/review.html", Cookie=f"ltx_flows_review={token}").status == 200


def test_nothing_outside_a_film_folder_is_served(served):
    base, token, _ = served
    for path in ("/films/film/../../secret.txt", "/films/film/%2e%2e/%2e%2e/secret.txt", "/films/nope/review.html",
                 "/etc/passwd"):
        code, _ = _refused(lambda: _get(f"{base}{path}?token={token}"))
        assert code == 404, path


def test_writes_need_the_token_header_and_a_note_lands_beside_the_render(served):
    base, token, film = served
    note = {"film": "film", "shot": "one", "text": "too dark at the end"}
    code, _ = _refused(lambda: _post(f"{base}/api/note", note))
    assert code == 403
    code, _ = _refused(lambda: _post(f"{base}/api/note", note, Cookie=f"ltx_flows_review={token}"))  # a cookie is not enough
    assert code == 403
    assert _post(f"{base}/api/note", note, **{"X-Review-Token": token}).status == 200
    assert (film / "notes" / "one.txt").read_text() == "too dark at the end"
    code, why = _refused(lambda: _post(f"{base}/api/note", {**note, "shot": "../x"}, **{"X-Review-Token": token}))
    assert code == 400 and "no shot" in why
    code, why = _refused(lambda: _post(f"{base}/api/pick", {"film": "film", "shot": "one", "take": 1},
                                       **{"X-Review-Token": token}))
    assert code == 400 and "board.yaml" in why  # the storyboard is not there: said, nothing written


def test_artifact_links_go_to_the_review_server_when_its_url_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("LTX_FLOWS_REVIEW_URL", raising=False)
    assert review_link(tmp_path / "film", "review.html") is None
    monkeypatch.setenv("LTX_FLOWS_REVIEW_URL", "http://render-head:8765/")
    assert review_link(tmp_path / "film", "shots/a b.mp4") == "http://render-head:8765/films/film/shots/a%20b.mp4"


def test_approving_waits_for_no_render_holding_the_film(served):
    # A render holds the film's lock while it replaces clips: approving then would pin a clip about to go.
    from ltx_flows.production.lock import film_lock

    base, token, film = served
    with film_lock(film):
        code, why = _refused(lambda: _post(f"{base}/api/approve", {"film": "film", "shot": "one"},
                                           **{"X-Review-Token": token}))
    assert code == 409 and "being rendered by another run" in why and "approve once it is done" in why
    code, why = _refused(lambda: _post(f"{base}/api/approve", {"film": "film", "shot": "one"},
                                       **{"X-Review-Token": token}))
    assert code == 400  # lock free: on to the storyboard, which is not there here
