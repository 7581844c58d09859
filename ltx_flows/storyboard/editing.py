"""Writing a choice back into a storyboard file: a shot's `seed:` (`ltx-flows pick`, the review server's pick
button), its enhanced `prompt:` (`ltx-flows enhance --write`), with ruamel.yaml's round trip, so every comment,
key order, quote and blank line stays as the person wrote it. The edited text is validated before it replaces the file (atomically): a pick never leaves a
storyboard that does not load.
"""

import difflib
import io
import re
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from ..files import write_text_atomic
from .loading import load_storyboard_text
from .problems import StoryboardError


class EditError(ValueError):
    """The edit cannot be made (no such shot, a storyboard that is not a mapping of shots)."""


def _round_trip(text: str) -> YAML:
    yaml = YAML()  # round-trip mode: comments and layout are kept
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long prompt
    # ruamel writes lists with one indentation of its own; the file's (`shots:` then `  - id:`, or `- id:` flush)
    # is read from its first block list item and kept.
    item = re.search(r"^( *)- ", text, flags=re.MULTILINE)
    offset = len(item.group(1)) if item else 0
    yaml.indent(mapping=2, sequence=offset + 2, offset=offset)
    return yaml


def set_shot_seed(path: Path, shot_id: str, seed: int, root: Path | None = None) -> str:
    """Set shot `shot_id`'s `seed:` in the storyboard at `path` to `seed`; returns the new text. `root`: the
    workspace root its media must stay in (default: the current directory), as `load_storyboard` takes it."""
    return set_shot_fields(path, {shot_id: {"seed": seed}}, root, what=f"setting shot `{shot_id}`'s seed")


def set_shot_fields(path: Path, edits: dict[str, dict], root: Path | None = None, what: str = "this edit") -> str:
    """Set keys of shots in the storyboard at `path`: `edits` maps a shot id to its {key: value}. A key the shot
    has keeps its place; a new one goes right after the prompt (or the id), where a person would write it.
    Returns the new text, written only if it validates."""
    text = path.read_text()
    yaml = _round_trip(text)
    document = yaml.load(text)
    shots = document.get("shots") if isinstance(document, CommentedMap) else None
    if not isinstance(shots, list):
        raise EditError(f"{path} has no list of `shots`")
    ids = [shot.get("id") for shot in shots if isinstance(shot, CommentedMap)]
    for shot_id, values in edits.items():
        if shot_id not in ids:
            close = difflib.get_close_matches(shot_id, [str(i) for i in ids], n=1)
            hint = f"; did you mean `{close[0]}`?" if close else f"; its shots are {', '.join(map(str, ids))}"
            raise EditError(f"{path} has no shot `{shot_id}`{hint}")
        shot = shots[ids.index(shot_id)]
        for key, value in values.items():
            if key in shot:
                shot[key] = value
            else:
                keys = list(shot)
                after = keys.index("prompt") if "prompt" in keys else keys.index("id")
                shot.insert(after + 1, key, value)
    out = io.StringIO()
    yaml.dump(document, out)
    new = out.getvalue()
    try:
        load_storyboard_text(new, path, root)
    except StoryboardError as error:
        raise EditError(f"{path}: {what} would make it invalid: {error}") from None
    write_text_atomic(new, path)
    return new
