"""A problem with a storyboard: where it is in the file, and its message, safe to print.

Every message echoes text from the file only through `safe`, `quoted` or `shown_value`: control characters
escaped, long values cut, so no escape sequence or line break from the file reaches a terminal or a log line.
"""

import errno
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, field_validator

Loc = tuple[str | int, ...]


class Problem(BaseModel):
    """One thing wrong with a storyboard, located in its file."""

    line: int
    column: int
    where: str
    message: str
    # Whether showing the source line helps: not for a problem with the whole file, which may not be a
    # storyboard at all (a config with secrets, a device) and whose content is never repeated.
    quote_source: bool = Field(default=True, exclude=True)

    @field_validator("where", "message")
    @classmethod
    def _printable(cls, text: str) -> str:
        # Whatever a message echoes from the file, no control character reaches a terminal or a log line.
        return _escape_unprintable(text)

    def format(self, path: Path | str) -> str:
        where = f" {self.where}:" if self.where else ""
        return f"{path}:{self.line}:{self.column}:{where} {self.message}"


class StoryboardError(ValueError):
    """A storyboard that cannot be rendered; carries every problem found, in file order."""

    def __init__(self, path: Path | str, problems: list[Problem]):
        self.path = path
        self.problems = sorted(problems, key=lambda p: (p.line, p.column))
        super().__init__("\n".join(p.format(path) for p in self.problems))


def whole_file(message: str) -> Problem:
    """A problem with the file as a whole, at its start; its content is never quoted."""
    return Problem(line=1, column=1, where="", message=message, quote_source=False)


def locate(root: yaml.Node | None, loc: Loc) -> tuple[yaml.Node | None, Loc, yaml.Node | None]:
    """The deepest YAML node along `loc`, the part of `loc` that matched, and the key node of the last step."""
    node, matched, key_node = root, (), None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            # The last of equal keys is the one the data holds: merged keys (`<<`) are folded in before the mapping's own.
            found = next((pair for pair in reversed(node.value)
                          if isinstance(pair[0], yaml.ScalarNode) and pair[0].value == str(part)), None)
            if found is None:
                break
            key_node, node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            key_node, node = None, node.value[part]
        else:
            break
        matched = (*matched, part)
    return node, matched, key_node


def dotted(loc: Loc) -> str:
    """A location as messages name it: `shots[2].keyframes[0].at`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{safe(str(part))}" if text else safe(str(part)))
    return text


def problem_at(root: yaml.Node | None, loc: Loc, message: str, at_key: bool = False) -> Problem:
    """A problem at `loc`'s value, or with `at_key` at its key (when the key, not its value, is what is wrong)."""
    node, matched, key_node = locate(root, loc)
    if at_key and key_node is not None and matched == loc:
        node = key_node
    mark = node.start_mark if node is not None else None
    return Problem(
        line=mark.line + 1 if mark else 1, column=mark.column + 1 if mark else 1, where=dotted(matched), message=message
    )


# Control characters, and the invisible ones that reorder or hide text (zero widths, bidi controls, line separators).
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
MAX_ECHOED_CHARACTERS = 80


def _escape_unprintable(text: str) -> str:
    return _UNPRINTABLE.sub(lambda found: found[0].encode("unicode_escape").decode("ascii"), text)


def safe(text: str, limit: int = MAX_ECHOED_CHARACTERS) -> str:
    """Text from the file as a message echoes it: control characters escaped as Python writes them (`\\x1b`,
    `\\n`), so no escape sequence or line break reaches the terminal, and at most `limit` characters of it."""
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text):,} characters)"
    return _escape_unprintable(text)


def quoted(value: Any) -> str:
    """A value in Python quotes (which escape control characters), at most MAX_ECHOED_CHARACTERS of it."""
    if isinstance(value, str) and len(value) > MAX_ECHOED_CHARACTERS:
        return f"{value[:MAX_ECHOED_CHARACTERS]!r}... ({len(value):,} characters)"
    return safe(repr(value), limit=4 * MAX_ECHOED_CHARACTERS)


def shown_value(value: Any) -> str:
    """A value as the user wrote it in YAML, in backticks, safe to print (see `safe`)."""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value is None:
        return "`null`"
    if isinstance(value, (dict, list)):
        return f"`{safe(yaml.safe_dump(value, default_flow_style=True, width=1000).strip())}`"
    return f"`{safe(str(value))}`"


def short(value: str, limit: int = 80) -> str:
    """A path as messages name it: one of thousands of characters is shown by its start and end."""
    return value if len(value) <= limit else f"{value[: limit // 2]}...{value[-limit // 4:]}"


def path_error(error: RuntimeError | OSError) -> str:
    """Why a path cannot be opened, in words (no traceback, no errno number)."""
    if isinstance(error, RuntimeError) and "home directory" in str(error):  # Path.expanduser on `~nosuchuser`
        return "its `~` names a home directory this machine does not have; write the full path"
    if isinstance(error, RuntimeError) or getattr(error, "errno", None) == errno.ELOOP:
        return "it is a symlink loop (a link that leads back to itself)"
    if getattr(error, "errno", None) == errno.ENAMETOOLONG:
        return "a part of it is longer than the file system allows (usually 255 bytes)"
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)
