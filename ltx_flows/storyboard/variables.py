"""`${name}` in a storyboard's text and path fields: replaced by the variable's value at load, before the fields
are validated, and an unknown name reported at its own character (`file:line:col` of its `${`).

Plain and safe: `${name}` is the only form (no expressions, defaults or nesting), a value is put in as text and
never read again for `${...}`, and `$${` writes a literal `${`.
"""

import difflib
import re
from dataclasses import dataclass
from typing import Any

import yaml

from .problems import Loc, Problem, dotted, locate, safe
from .versions import values_text

# A `${...}` reference; `$${` (a literal `${`) is matched first so it is never read as one.
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}\n]*)\}?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Sections whose strings are the values themselves, never substituted.
NOT_SUBSTITUTED = ("vars", "variants")


@dataclass(frozen=True)
class Unknown:
    """A `${name}` that names no variable (or is not a name), where it is in the data."""

    loc: Loc
    occurrence: int  # which `${` of the string (0 = first)
    name: str
    reference: str  # as written: `${name}`, or what was taken for one
    well_formed: bool


def substitute(data: Any, values: dict[str, Any]) -> tuple[Any, list[Unknown]]:
    """The storyboard's data with every `${name}` in its strings replaced (keys and NOT_SUBSTITUTED sections
    untouched), and the references that name no variable of `values`."""
    unknown: list[Unknown] = []
    texts = {name: values_text(value) for name, value in values.items()}

    def walk(value: Any, loc: Loc) -> Any:
        if isinstance(value, dict):
            return {key: (item if not loc and key in NOT_SUBSTITUTED else walk(item, (*loc, key)))
                    for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*loc, index)) for index, item in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            return _replace(value, loc, texts, unknown)
        return value

    return walk(data, ()), unknown


def _replace(text: str, loc: Loc, texts: dict[str, str], unknown: list[Unknown]) -> str:
    occurrence = -1

    def one(match: re.Match) -> str:
        nonlocal occurrence
        occurrence += 1
        if match[0] == "$${":
            return "${"
        name = match[1]
        well_formed = match[0].endswith("}") and _NAME.fullmatch(name) is not None
        if well_formed and name in texts:
            return texts[name]
        unknown.append(Unknown(loc=loc, occurrence=occurrence, name=name, reference=match[0], well_formed=well_formed))
        return match[0]

    return _REFERENCE.sub(one, text)


def unknown_problem(root: yaml.Node | None, found: Unknown, defined: list[str], variants: list[str]) -> Problem:
    """The problem at the `${` of an unknown reference; `variants` names the variants that lack it (empty: all)."""
    line, column = _position(root, found.loc, found.occurrence)
    if not found.well_formed:
        message = (f"`{safe(found.reference)}` is not a variable reference: write `${{name}}` with a name of letters, "
                   "digits and `_` (a literal `${` is written `$${`)")
    else:
        close = None if found.name in defined else next(iter(difflib.get_close_matches(found.name, defined, n=1, cutoff=0.6)), None)
        hint = f" (did you mean `{close}`?)" if close else ""
        where = f" for variant{'s' if len(variants) > 1 else ''} {', '.join(f'`{v}`' for v in variants[:5])}" if variants else ""
        message = (f"unknown variable `${{{safe(found.name)}}}`{where}: define it under `vars:`"
                   + (" or in every variant" if variants else "") + hint)
    return Problem(line=line, column=column, where=dotted(found.loc), message=message)


def _position(root: yaml.Node | None, loc: Loc, occurrence: int) -> tuple[int, int]:
    """(line, column), 1-based, of the `occurrence`-th `${` of the string at `loc` in the file; the string's own
    start when its text in the file does not show it (escapes in a double-quoted string)."""
    node, matched, _ = locate(root, loc)
    if node is None:
        return 1, 1
    start, end = node.start_mark, node.end_mark
    buffer = getattr(start, "buffer", None)
    if matched == loc and isinstance(node, yaml.ScalarNode) and buffer is not None:
        source = buffer[start.index:end.index]
        found = [m.start() for m in _REFERENCE.finditer(source)]
        if occurrence < len(found):
            offset = found[occurrence]
            before = source[:offset]
            if "\n" in before:
                return start.line + 1 + before.count("\n"), offset - before.rfind("\n")
            return start.line + 1, start.column + 1 + offset
    return start.line + 1, start.column + 1
