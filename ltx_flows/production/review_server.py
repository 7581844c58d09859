"""The review server (`ltx-flows review`): every film's review page, served with working pick, approve and note
buttons, for a person choosing takes in a browser.

Plain stdlib `http.server` (threads; nothing to install). It binds 127.0.0.1 unless told otherwise and needs the
token printed at its start (a fresh one each start, as Jupyter does): the link carries it once, the server then
sets it as a cookie for the page's videos, and every write must send it in the `X-Review-Token` header (a cookie
alone does not do: another site could make the browser send one). Writes are only:
- pick: a take's seed into the storyboard the film was rendered from (plan/takes.py `pick_take`);
- approve: the shot's clip pinned beside that storyboard (storyboard/approvals.py);
- note: `notes/<shot>.txt` in the film's folder (finish/quality.py shows it in the next run's artifacts).
The storyboard must lie inside the allowed roots (`LTX_FLOWS_ALLOWED_ROOTS`, else the folder the server was started
in: production/batch.py); anything else is refused with a message saying why.
"""

import json
import mimetypes
import re
import secrets
import threading
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from ..files import write_text_atomic
from ..layout import FilmFolder
from ..plan.takes import pick_take
from ..storyboard.approvals import approve_shot
from ..storyboard.editing import EditError
from ..storyboard.problems import StoryboardError
from .batch import OutsideAllowedRoots, allowed_roots, confine
from .lock import FilmBusy, film_lock

COOKIE = "ltx_flows_review"
MAX_BODY = 64 * 1024
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # a film's or shot's name (storyboard/models.py)

# What the served page runs on top of review.html's own script: the buttons post to the server with the token.
_ACTIONS = """
document.body.classList.add("served");
async function act(path, body) {
  const response = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json",
    "X-Review-Token": REVIEW.token}, body: JSON.stringify({film: REVIEW.film, ...body})});
  const answer = await response.json();
  const line = document.getElementById("review-result");
  line.textContent = answer.error ? "refused: " + answer.error : answer.message;
  line.dataset.state = answer.error ? "error" : "done";
}
for (const button of document.querySelectorAll("button.pick"))
  button.addEventListener("click", () => act("/api/pick", {shot: button.dataset.shot, take: Number(button.dataset.take)}));
for (const button of document.querySelectorAll("button.approve"))
  button.addEventListener("click", () => act("/api/approve", {shot: button.dataset.shot}));
for (const button of document.querySelectorAll("button.save-note"))
  button.addEventListener("click", () => act("/api/note", {shot: button.dataset.shot,
    text: button.parentElement.querySelector("textarea").value}));
"""


class Refused(Exception):
    """A request the server will not do: its status and a message for the person."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


class ReviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, renders: Path, host: str, port: int, token: str, roots: list[Path] | None):
        self.renders, self.token, self.roots = renders.resolve(), token, roots
        super().__init__((host, port), ReviewHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/?token={self.token}"

    def film_dir(self, film: object) -> Path:
        if not isinstance(film, str) or not NAME.match(film) or not (self.renders / film / "manifest.json").is_file():
            raise Refused(HTTPStatus.NOT_FOUND, f"no rendered film {film!r} under {self.renders}")
        return self.renders / film

    def storyboard(self, film_dir: Path) -> Path:
        """The storyboard the film was rendered from, when it is inside the allowed roots."""
        path = Path(json.loads((film_dir / "manifest.json").read_text())["storyboard"]["path"])
        try:
            return confine(path, self.roots, "storyboard")
        except OutsideAllowedRoots as error:
            raise Refused(HTTPStatus.FORBIDDEN, f"{error}; the review server writes only storyboards inside them")

    def act(self, action: str, body: dict) -> str:
        """Do one write the page asked for; returns what was done, in words."""
        film_dir = self.film_dir(body.get("film"))
        shot = body.get("shot")
        if not isinstance(shot, str) or not NAME.match(shot):
            raise Refused(HTTPStatus.BAD_REQUEST, f"no shot {shot!r}")
        if action == "note":
            text = body.get("text")
            if not isinstance(text, str) or len(text) > 4000:
                raise Refused(HTTPStatus.BAD_REQUEST, "a note is text of at most 4000 characters")
            note = FilmFolder(film_dir).note(shot)
            note.parent.mkdir(exist_ok=True)
            write_text_atomic(text, note)
            return f"note on {shot} saved; the next run's summary shows it"
        storyboard = self.storyboard(film_dir)
        root = self.roots[0] if self.roots else None
        try:
            if action == "pick":
                take = body.get("take")
                if not isinstance(take, int) or isinstance(take, bool):
                    raise Refused(HTTPStatus.BAD_REQUEST, f"take {take!r} is not a number")
                seed = pick_take(storyboard, shot, take, root)
                return f"{shot}: take {take} picked (seed {seed}) in {storyboard.name}; render to re-make the film"
            if action == "approve":
                # Under the film's lock: a render replacing the clip now would leave the pin on a clip that is gone.
                with film_lock(film_dir):
                    approve_shot(storyboard, shot, film_dir, root)
                return f"{shot}: approved; its clip will not be rendered again until the shot changes"
        except FilmBusy as error:
            raise Refused(HTTPStatus.CONFLICT, f"{error}; approve once it is done") from None
        except (ValueError, EditError, StoryboardError) as error:
            raise Refused(HTTPStatus.BAD_REQUEST, str(error)) from None
        raise Refused(HTTPStatus.NOT_FOUND, f"no action {action!r}: use pick, approve or note")


class ReviewHandler(BaseHTTPRequestHandler):
    server: ReviewServer

    def log_message(self, format: str, *args) -> None:  # quiet: the person sees the page, not the access log
        pass

    def _token_ok(self, query: dict) -> bool:
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        given = [*query.get("token", []), self.headers.get("X-Review-Token", "")]
        given += [cookie[COOKIE].value] if COOKIE in cookie else []
        return any(secrets.compare_digest(value, self.server.token) for value in given if value)

    def _send(self, status: HTTPStatus, body: bytes, kind: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _refuse(self, refused: Refused) -> None:
        self._send(refused.status, json.dumps({"error": str(refused)}).encode(), "application/json")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        try:
            if not self._token_ok(query):
                raise Refused(HTTPStatus.FORBIDDEN, "this review server needs its token: open the link "
                              "`ltx-flows review` printed (it ends in ?token=...)")
            cookie = {"Set-Cookie": f"{COOKIE}={self.server.token}; HttpOnly; SameSite=Strict; Path=/"}
            parts = [part for part in url.path.split("/") if part]
            if not parts:
                return self._send(HTTPStatus.OK, self._index().encode(), "text/html; charset=utf-8", cookie)
            if parts[0] != "films" or len(parts) < 3:
                raise Refused(HTTPStatus.NOT_FOUND, f"nothing at {url.path}")
            film_dir = self.server.film_dir(parts[1])
            path = (film_dir / "/".join(parts[2:])).resolve()
            if not path.is_relative_to(film_dir) or not path.is_file():
                raise Refused(HTTPStatus.NOT_FOUND, f"nothing at {url.path}")
            if path == FilmFolder(film_dir).review:
                return self._send(HTTPStatus.OK, self._page(path, parts[1]).encode(), "text/html; charset=utf-8", cookie)
            self._file(path)
        except Refused as refused:
            self._refuse(refused)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        try:
            if not secrets.compare_digest(self.headers.get("X-Review-Token", ""), self.server.token):
                raise Refused(HTTPStatus.FORBIDDEN, "a write needs the server's token in the X-Review-Token header")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large")
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                raise Refused(HTTPStatus.BAD_REQUEST, "the request is not JSON") from None
            path = urlsplit(self.path).path
            if not path.startswith("/api/") or not isinstance(body, dict):
                raise Refused(HTTPStatus.NOT_FOUND, f"nothing to post at {path}")
            message = self.server.act(path.removeprefix("/api/"), body)
            self._send(HTTPStatus.OK, json.dumps({"message": message}).encode(), "application/json")
        except Refused as refused:
            self._refuse(refused)

    def _index(self) -> str:
        films = sorted(path.parent.name for path in self.server.renders.glob("*/manifest.json"))
        items = "".join(f'<li><a href="/films/{quote(name)}/review.html">{name}</a></li>' for name in films)
        return (f"<!DOCTYPE html><html><head><meta charset=utf-8><title>ltx-flows review</title></head><body>"
                f"<h1>Films under {self.server.renders}</h1><ul>{items or '<li>none rendered yet</li>'}</ul></body></html>")

    def _page(self, path: Path, film: str) -> str:
        """The film's review page with its buttons working: the token and film for the script, a result line."""
        page = path.read_text()
        review = json.dumps({"token": self.server.token, "film": film}).replace("<", "\\u003c")
        extra = (f'<p id="review-result" role="status"></p><script>const REVIEW = {review};{_ACTIONS}</script>')
        return page.replace("</body>", extra + "</body>", 1)

    def _file(self, path: Path) -> None:
        """A file of the film's folder, with single byte ranges (a browser's video player seeks with them)."""
        size = path.stat().st_size
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        start, end = 0, size - 1
        ranged = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if ranged and (ranged.group(1) or ranged.group(2)):
            if ranged.group(1):
                start, end = int(ranged.group(1)), min(int(ranged.group(2) or end), end)
            else:
                start = max(size - int(ranged.group(2)), 0)
        with open(path, "rb") as file:
            file.seek(start)
            body = file.read(max(end - start + 1, 0))
        status = HTTPStatus.PARTIAL_CONTENT if ranged else HTTPStatus.OK
        headers = {"Accept-Ranges": "bytes"}
        if ranged:
            headers["Content-Range"] = f"bytes {start}-{start + len(body) - 1}/{size}"
        self._send(status, body, kind, headers)


def start_review_server(renders: Path, host: str = "127.0.0.1", port: int = 0) -> ReviewServer:
    """A review server over `renders`, serving in a thread of its own; `.url` has its token, `.shutdown()` stops it."""
    server = ReviewServer(renders, host, port, secrets.token_urlsafe(24), allowed_roots(Path.cwd()))
    threading.Thread(target=server.serve_forever, name="ltx-flows-review", daemon=True).start()
    return server
