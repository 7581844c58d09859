"""Reading a storyboard's YAML: safely (no tags, bounded nesting and alias expansion), with duplicate keys found,
and repairing syntax slips to read on, so one round of `validate` reports every slip it can."""

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from .problems import Loc, Problem, StoryboardError, dotted, safe, whole_file
from .yaml_slips import Shift, Slip, yaml_slip

# A storyboard is a few hundred nodes; this only stops alias bombs ("billion laughs").
MAX_YAML_NODES = 100_000
# Limits that keep hostile or mistaken input from costing more than a storyboard ever needs (the file's size is
# loading.MAX_STORYBOARD_BYTES): how deeply YAML may nest, and how much text it may expand to through aliases (a
# 1 MB prompt referenced by 5,000 shots is 5 GB).
MAX_YAML_DEPTH = 64
MAX_EXPANDED_BYTES = 16 * 1024 * 1024
# Repairing syntax slips: after one, the text is repaired as the message says and read again, so one slip does not
# hide the others. Bounded: a storyboard is a few kilobytes, and each round parses the whole text again.
MAX_YAML_REPAIRS = 20
MAX_REPAIR_BYTES = 2 * 1024 * 1024
# Characters YAML does not allow in a file (control characters but tab and newlines, and a few more): PyYAML's set.
_NOT_IN_YAML = yaml.reader.Reader.NON_PRINTABLE
_LINE_BREAKS = re.compile("\r\n?|[\x85\u2028\u2029]")
_CONTROL_NAMES = {0x00: "NUL", 0x08: "backspace", 0x0C: "form feed", 0x1B: "escape", 0x7F: "delete"}
MAX_CHARACTER_PROBLEMS = 10


class _SlipError(Exception):
    def __init__(self, slip: Slip):
        super().__init__(slip.problem.message if slip.problem else "")
        self.slip = slip


@dataclasses.dataclass
class ParsedYaml:
    node: yaml.Node | None
    data: Any
    duplicates: list[Problem]  # duplicate keys, found before merge keys (`<<`) are folded in
    slips: list[Problem]  # syntax problems, each repaired to read on
    shifts: list[Shift]  # where the repairs moved columns


def parse_repairing(path: Path, text: str) -> ParsedYaml:
    """Parse the storyboard; after a syntax slip, repair it as its message says and parse again, so that one
    round of `validate` reports every slip it can (and, once the repaired text reads, every other problem)."""
    # One kind of line break, as PyYAML counts lines (`\r\n`, `\r`, NEL, U+2028/9): the repairs below split and
    # join lines on `\n`, and a `\r`-only file would otherwise have them edit the wrong line.
    slips, text = _control_characters(_LINE_BREAKS.sub("\n", text))
    shifts: list[Shift] = []
    rounds = max(1, min(MAX_YAML_REPAIRS, MAX_REPAIR_BYTES // max(len(text), 1)))
    for _ in range(rounds + 1):
        try:
            node, data, duplicates = _parse_yaml(path, text)
        except _SlipError as error:
            slip = error.slip
            if slip.problem is not None:
                problem = unshift(slip.problem, shifts)
                if problem in slips:
                    break  # the repair did not take: stop rather than report it again
                slips.append(problem)
            if slip.repaired is None:
                break
            text = slip.repaired
            shifts += slip.shifts
            continue
        except StoryboardError as error:  # refused outright (nesting, alias bombs): nothing more is read
            raise StoryboardError(path, [*slips, *error.problems]) from None
        return ParsedYaml(node=node, data=data, duplicates=duplicates, slips=slips, shifts=shifts)
    # Not read to its end: the slips found so far are all there is to say.
    raise StoryboardError(path, slips or [whole_file("invalid YAML: it cannot be read; check its indentation and quotes")])


def unshift(problem: Problem, shifts: list[Shift]) -> Problem:
    """A problem found in repaired text, at the column of the text as written."""
    column = problem.column
    for shift in reversed(shifts):
        if shift.line == problem.line and column >= shift.column + shift.delta:
            column -= shift.delta
    return problem if column == problem.column else problem.model_copy(update={"column": max(column, 1)})


def _control_characters(text: str) -> tuple[list[Problem], str]:
    """Each character YAML refuses in a file (NUL, form feed, escape...), located; and the text with them blanked.
    The source line is not quoted: printed, the character would act on the terminal."""
    problems = []
    found = list(_NOT_IN_YAML.finditer(text))
    for match in found[:MAX_CHARACTER_PROBLEMS]:
        code = ord(match[0])
        name = f"U+{code:04X}" + (f", {_CONTROL_NAMES[code]}" if code in _CONTROL_NAMES else "")
        line = text.count("\n", 0, match.start()) + 1
        column = match.start() - text.rfind("\n", 0, match.start())
        problems.append(Problem(line=line, column=column, where="", quote_source=False, message=(
            f"invalid YAML: an invisible control character ({name}) is not allowed in a storyboard; delete it")))
    if len(found) > MAX_CHARACTER_PROBLEMS:
        problems[-1] = problems[-1].model_copy(update={"message": problems[-1].message + (
            f" ({len(found) - MAX_CHARACTER_PROBLEMS} more such characters follow: was a binary file renamed?)")})
    return problems, _NOT_IN_YAML.sub(" ", text) if found else text


def _parse_yaml(path: Path, text: str) -> tuple[yaml.Node | None, Any, list[Problem]]:
    """The node tree (with line/column marks), the data, and duplicate keys; a syntax slip raises _SlipError."""
    loader = None
    try:
        # SafeLoader: no Python tags, no object construction. Built inside the `try`: its reader checks characters.
        loader = yaml.SafeLoader(text)
        _check_depth(path, text)  # on the event stream, before PyYAML's recursive composer sees the text
        node = loader.get_single_node()
        if node is not None:
            nodes, size = _expanded_size(path, node, {}, set())
            message = None
            if nodes > MAX_YAML_NODES:
                message = f"the document expands to more than {MAX_YAML_NODES} nodes through aliases; refusing it"
            elif size > MAX_EXPANDED_BYTES:
                message = (f"the document expands to more than {MAX_EXPANDED_BYTES // (1024 * 1024)} MiB of text "
                           "through aliases; refusing it")
            if message:
                mark = node.start_mark
                raise StoryboardError(path, [Problem(line=mark.line + 1, column=mark.column + 1, where="", message=message)])
        duplicates = _duplicate_keys(node)  # before construction folds merge keys (`<<: *base`) into their mappings
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        raise _SlipError(yaml_slip(error, text)) from None
    except yaml.YAMLError as error:
        raise _SlipError(Slip(whole_file(f"invalid YAML: {safe(str(error))}"))) from None
    finally:
        if loader is not None:
            loader.dispose()
    return node, data, duplicates


def _check_depth(path: Path, text: str) -> None:
    # YAML parsers are state machines (no recursion): count nesting on the event stream, with
    # libyaml's parser where PyYAML has it (fast on a large scalar). Syntax errors are left to the
    # loader, which reports them with its own messages.
    depth = 0
    try:
        for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    mark = event.start_mark
                    raise StoryboardError(path, [Problem(
                        line=mark.line + 1, column=mark.column + 1, where="",
                        message=f"nested more than {MAX_YAML_DEPTH} levels deep; a storyboard needs a handful")])
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return


def _expanded_size(path: Path, node: yaml.Node, memo: dict[int, tuple[int, int]], open_: set[int]) -> tuple[int, int]:
    """(nodes, bytes of scalar text) the document holds once its aliases are expanded.

    Aliases share nodes, so counting with a memo is linear while the totals are what
    validation would walk after expansion. A node reached again while it is still open is an
    alias to one of its own ancestors: a recursive document, refused.
    """
    if id(node) in open_:
        mark = node.start_mark
        raise StoryboardError(path, [Problem(
            line=mark.line + 1, column=mark.column + 1, where="",
            message="an alias refers to a node that contains it (a recursive document); storyboards cannot be recursive")])
    if id(node) in memo:
        return memo[id(node)]
    open_.add(id(node))
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = node.value
    else:
        children = []
    nodes, size = 1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0
    for child in children:
        child_nodes, child_size = _expanded_size(path, child, memo, open_)
        nodes, size = nodes + child_nodes, size + child_size
    open_.discard(id(node))
    memo[id(node)] = nodes, size
    return nodes, size


def _duplicate_keys(node: yaml.Node | None, loc: Loc = ()) -> list[Problem]:
    # PyYAML keeps the last of two equal keys without a word; a user almost never means that.
    problems = []
    if isinstance(node, yaml.MappingNode):
        seen = {}
        for key, value in node.value:
            # A merge key (`<<: *base`) brings in keys that the mapping's own keys may override: not duplicates.
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if key.value in seen:
                    first = seen[key.value]
                    problems.append(
                        Problem(line=key.start_mark.line + 1, column=key.start_mark.column + 1, where=dotted((*loc, key.value)),
                                message=f"duplicate key `{safe(key.value)}` (first set on line {first}); keep one")
                    )
                else:
                    seen[key.value] = key.start_mark.line + 1
            problems += _duplicate_keys(value, (*loc, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(item, (*loc, index))
    return problems

