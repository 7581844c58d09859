"""YAML syntax slips: what a PyYAML error means for the mistakes people make in storyboards, where it is, and the
text repaired as the message says, so reading can go on and report the next slip too."""

import dataclasses
import math
import re
from typing import Any

import yaml

from .problems import MAX_ECHOED_CHARACTERS, Problem, quoted, safe


@dataclasses.dataclass(frozen=True)
class Shift:
    """A repair moved the characters of `line` from `column` on (both 1-based, as written) by `delta` columns."""

    line: int
    column: int
    delta: int


@dataclasses.dataclass(frozen=True)
class Slip:
    """A YAML syntax slip: the problem to report (None for one repaired silently), and the text repaired as the
    message suggests (None when no repair is sure enough to read on)."""

    problem: Problem | None
    repaired: str | None = None
    shifts: tuple[Shift, ...] = ()


def yaml_slip(error: yaml.MarkedYAMLError, text: str) -> Slip:
    """Where a YAML syntax error is, what to do about it (for the mistakes people make in storyboards), and the
    text with that done, when the fix is clear enough to read on."""
    mark = error.problem_mark or error.context_mark
    problem, context = error.problem or "", error.context or ""
    lines = text.splitlines()
    if isinstance(error, yaml.constructor.ConstructorError):
        return _slip(mark, f"{safe(context)} {safe(problem)} (only plain YAML is allowed: no Python or custom tags)".strip())
    if "cannot start any token" in problem and "\\t" in problem and mark is not None and mark.line < len(lines):
        return _tab_slip(text, lines, mark)
    found = _line_slip(problem, text, lines, mark)
    if found is not None:
        return found
    if problem.startswith("could not find expected ':'") and error.context_mark is not None:
        start = error.context_mark
        return _slip(start, "this line is neither `key: value` nor a `- ` list item: add its key, or, if it continues "
                            "the value above, indent it deeper than that value's key")
    if problem.startswith("found undefined alias"):
        name = safe(problem.removeprefix("found undefined alias").strip(" '"))
        return _slip(mark, f"`*{name}` refers to no anchor: define `&{name}` on a value above it, or quote the text if "
                           "the `*` is meant as text")
    if re.fullmatch(r"expected <block end>, but found '[\]}]'", problem):
        return _slip(mark, f"a `{problem[-2]}` with no `{'[' if problem[-2] == ']' else '{'}` open before it: remove it")
    if problem == "but found another document":
        return _slip(mark, "a storyboard is one YAML document: remove this `---` (or split the file in two)")
    if "while scanning a quoted scalar" in context and error.context_mark is not None:
        start = error.context_mark
        return _slip(start, f"the quote opened on line {start.line + 1}, column {start.column + 1} is never closed; "
                            "close it")
    if context.startswith("while parsing a flow") and error.context_mark is not None:
        start = error.context_mark
        opener = lines[start.line][start.column] if start.line < len(lines) else "["
        closer = {"[": "]", "{": "}"}.get(opener, "]")
        return _slip(start, f"the `{opener}` opened on line {start.line + 1}, column {start.column + 1} is not closed: "
                            f"separate items with `,` and end with `{closer}`")
    return _slip(mark, safe(" ".join(filter(None, [context, problem])), limit=4 * MAX_ECHOED_CHARACTERS))


def _slip(at: Any, message: str, repaired: str | None = None, shifts: tuple[Shift, ...] = ()) -> Slip:
    """A slip reported at the YAML mark `at` (the file's start without one)."""
    line, column = (at.line + 1, at.column + 1) if at is not None else (1, 1)
    return Slip(Problem(line=line, column=column, where="", message=f"invalid YAML: {message}"), repaired, shifts)


def _tab_slip(text: str, lines: list[str], mark: Any) -> Slip:
    """A tab PyYAML refuses: between or after values it is white space, repaired silently; as indentation it is
    reported, and the line indented with spaces as it most likely meant."""
    line = lines[mark.line]
    if line[: mark.column].strip() or not line.strip():
        # A tab between or after values is white space to YAML; PyYAML refuses it. Read every such tab as a space.
        rows = [re.match(r"^([ \t]*)(.*)$", row) for row in text.split("\n")]
        repaired = "\n".join(row[1] + row[2].replace("\t", " ") if row[2].strip() else "" for row in rows)
        return Slip(None, repaired if repaired != text else None)
    indent = _tab_indent_guess(lines, mark.line)
    return _slip(mark, "a tab: YAML indents with spaces only; replace the tab with spaces",
                 *_reindented(text, mark.line, _line_shape(line.lstrip(" \t")), indent))


def _line_slip(problem: str, text: str, lines: list[str], mark: Any) -> Slip | None:
    """The slips read from the line they are on: `: ` inside a value, a line out of line with its block, text after
    a closing quote, a character that cannot start an unquoted value; None for the others."""
    at_line_start = mark is not None and mark.line < len(lines) and mark.column == _indent_of(lines[mark.line])
    unquoted = _unquoted_value(lines[mark.line]) if mark is not None and mark.line < len(lines) else None
    if problem == "mapping values are not allowed here" and mark is not None and mark.line < len(lines):
        line = lines[mark.line]
        if unquoted is not None and ": " in unquoted.value:
            return _slip(mark, f"`: ` inside a value starts a new key; quote the value: {safe(unquoted.fixed.strip())}",
                         _replace_line(text, mark.line, unquoted.fixed), (Shift(mark.line + 1, unquoted.column, 1),))
        if "{" in line[: mark.column]:
            return _slip(mark, '`: ` inside a value starts a new key; quote the value, e.g. {prompt: "she says: hi"}')
        if ":" in line[_indent_of(line): mark.column]:
            return _slip(mark, "`: ` after the value starts a new key: put the whole value inside the quotes")
        indentation = _indentation_slip(text, lines, mark.line)
        return indentation or _slip(mark, "a key here is indented differently from the keys of its mapping above; "
                                          "line them up")
    if "expected <block end>" in problem and at_line_start:
        indentation = _indentation_slip(text, lines, mark.line)
        return indentation or _slip(mark, "this line does not line up with the block above it: indent it like the "
                                          "keys (or the `- ` list items) it belongs with")
    if "expected <block end>, but found '<scalar>'" in problem:
        return _slip(mark, "text after a closing quote: put the whole value inside the quotes")
    if "cannot start any token" in problem and mark is not None:
        character = quoted(text[mark.index]) if mark.index < len(text) else "this character"
        if unquoted is not None:
            return _slip(mark, f"{character} cannot start an unquoted value; quote the value: "
                               f"{safe(unquoted.fixed.strip())}",
                         _replace_line(text, mark.line, unquoted.fixed), (Shift(mark.line + 1, unquoted.column, 1),))
        return _slip(mark, f"{character} cannot start an unquoted value: put the value in quotes")
    return None


@dataclasses.dataclass(frozen=True)
class _LineShape:
    """What a line of block YAML starts with: its indentation, a list item's dash, a key."""

    indent: int
    dash: int | None  # column of `- ` (0-based), for a list item
    key: str | None
    key_column: int  # where the key (or the item's content) starts
    opens: bool  # a key with nothing after it: the lines below may be indented deeper

    @property
    def label(self) -> str:
        if self.dash is not None:
            return f"`- {safe(self.key)}`" if self.key else "the list item `-`"
        return f"`{safe(self.key)}:`"


MAX_SHAPE_CHARACTERS = 500
_SHAPE = re.compile(r"^( *)((?:-(?: +|$))*)(.*)$")
_KEY = re.compile(r"""^([^\s#'"{\[\]:,&*!|>%@`-][^#:]*?|-[^\s#:][^#:]*?|"[^"]*"|'[^']*')\s*:(?:\s+(.*))?$""")


def _line_shape(line: str) -> _LineShape | None:
    """The shape of a line that holds a key or a list item; None for blank lines, comments and text."""
    found = _SHAPE.match(line[:MAX_SHAPE_CHARACTERS])  # keys are short: a long line costs no more
    indent, dashes, rest = len(found[1]), found[2], found[3]
    if not rest.strip() and not dashes or rest.startswith("#"):
        return None
    key = _KEY.match(rest)
    if key is None and not dashes:
        return None
    value = (key[2] or "").split(" #")[0].strip() if key else rest
    return _LineShape(indent=indent, dash=indent if dashes else None, key=key[1] if key else None,
                      key_column=indent + len(dashes), opens=key is not None and not value)


def _indentation_slip(text: str, lines: list[str], number: int) -> Slip | None:
    """A line indented to no level of the block above it: what it is out of line with, and the fix.

    The levels it could have are those of the lines above that are still open: the nearest key (a sibling), the
    list item it may continue, and their parents. It most likely meant the nearest (ties: the deeper one)."""
    here = _line_shape(lines[number])
    if here is None:
        return None
    item = here.dash is not None
    levels: list[tuple[int, int, _LineShape]] = []  # (column, line number, shape) a line like this one may take
    limit = math.inf
    for above in range(number - 1, -1, -1):
        shape = _line_shape(lines[above])
        if shape is None:
            continue
        if item and shape.dash is not None and shape.dash < limit:
            levels.append((shape.dash, above, shape))
        if not item and shape.key is not None and shape.key_column < limit:
            levels.append((shape.key_column, above, shape))
        limit = min(limit, shape.indent)
        if limit == 0:
            break
    if not levels:
        return None
    column, above, shape = min(levels, key=lambda level: (abs(level[0] - here.indent), -level[0]))
    if column == here.indent:
        return None
    spaces = lambda n: f"{n} space{'' if n == 1 else 's'}"  # noqa: E731
    if here.indent < column:
        how = f"less than {shape.label} on line {above + 1} ({spaces(column)})"
    else:
        how = f"more than {shape.label} on line {above + 1} ({spaces(column)})"
        if not item and not shape.opens:
            how += ", which has a value and so cannot hold keys"
    what = "continue that list" if item else f"keep it in the same mapping as {shape.label}"
    fix = f"indent it {spaces(column)}" if column else "start it at the beginning of the line"
    message = f"{here.label} is indented {spaces(here.indent)}, {how}: {fix} to {what}"
    repaired, shifts = _reindented(text, number, here, column)
    return Slip(Problem(line=number + 1, column=here.indent + 1, where="", message=f"invalid YAML: {message}"),
                 repaired, shifts)


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


@dataclasses.dataclass(frozen=True)
class _Unquoted:
    """A `key: value` line whose value is not quoted, and the line with the value quoted."""

    value: str
    column: int  # 1-based, where the value starts
    fixed: str


def _unquoted_value(line: str) -> _Unquoted | None:
    found = re.match(r"^(\s*(?:- )?)([^\s:#{\[][^:#]*?):\s+(.*)$", line[:MAX_SHAPE_CHARACTERS])
    if found is None or len(line) > MAX_SHAPE_CHARACTERS:
        return None
    value = found[3].rstrip()
    if not value or value.startswith(("\"", "'", "{", "[", "|", ">", "#")):
        return None
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return _Unquoted(value=value, column=found.start(3) + 1, fixed=f'{found[1]}{found[2]}: "{escaped}"')


def _tab_indent_guess(lines: list[str], number: int) -> int:
    """The indentation a tab-indented line most likely meant: under a key that opens a block, one level deeper;
    else that of the nearest key or item above."""
    for above in range(number - 1, -1, -1):
        shape = _line_shape(lines[above])
        if shape is not None:
            return shape.key_column + 2 if shape.opens else shape.key_column
    return 0


def _reindented(text: str, number: int, shape: _LineShape | None, new: int) -> tuple[str, tuple[Shift, ...]]:
    """`text` with line `number` (0-based) moved to indentation `new`, with the lines nested under it when they
    line up with it as written (a key's block, a list item's further keys); and the shifts that makes."""
    rows = text.split("\n")
    old = len(rows[number]) - len(rows[number].lstrip(" \t"))
    delta = new - old
    shifts = []
    for index in range(number, len(rows)):
        row = rows[index]
        stripped = row.lstrip(" \t")
        depth = len(row) - len(stripped)
        if index > number and stripped and not stripped.startswith("#"):
            if depth <= old:
                break
            if index == number + 1 and shape is not None and not (shape.opens or shape.dash is not None
                                                                  and depth == shape.key_column):
                break  # not nested under it: that line is out of line by itself (and reported by itself)
        if index == number or stripped:
            rows[index] = " " * max(depth + delta if index > number else new, 0) + stripped
            shifts.append(Shift(index + 1, depth + 1, len(rows[index]) - len(row)))
    return "\n".join(rows), tuple(shifts)


def _replace_line(text: str, number: int, line: str) -> str:
    rows = text.split("\n")
    rows[number] = line
    return "\n".join(rows)
