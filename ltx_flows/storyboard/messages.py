"""Pydantic's validation errors rewritten for people: located in the YAML, echoing the value, suggesting a fix
(a did-you-mean for a typo, the section an unknown key belongs under)."""

import difflib
import re
import typing
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from .models import Control, Defaults, Keyframe, ModelConfig, OutputConfig, Retake, Segments, Shot, Storyboard, Transition
from .problems import Loc, Problem, dotted, locate, problem_at, quoted, safe, shown_value


def problem_from_pydantic(root: yaml.Node | None, error: dict) -> Problem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        node, matched, key_node = locate(root, loc)
        mark = (key_node or node).start_mark if (key_node or node) is not None else None
        return Problem(line=mark.line + 1 if mark else 1, column=mark.column + 1 if mark else 1,
                       where=dotted(matched[:-1]), message=_unknown_key_message(loc))
    if kind == "missing":
        problem = problem_at(root, loc[:-1], f"missing required key `{loc[-1]}`")
        # A new Problem, not a copy: its `where` (keys from the file) goes through the same escaping as every message.
        return Problem(line=problem.line, column=problem.column, where=dotted(loc), message=problem.message)
    if kind == "string_pattern_mismatch":
        message = (f"{quoted(error['input'])} is not a valid name: use lowercase letters, digits, `-` and `_`, "
                   "starting with a letter or digit, at most 64 characters")
    else:
        message = _value_message(loc, error)
    return problem_at(root, loc, message)


_NUMBER_WITH_UNIT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-z]+)\s*$", re.IGNORECASE)


def _value_message(loc: Loc, error: dict) -> str:
    """A pydantic error about a value, rewritten to echo the value and suggest a fix."""
    kind, value, key = error["type"], error.get("input"), str(loc[-1]) if loc else "value"
    shown = shown_value(value)
    if kind in ("float_parsing", "float_type", "int_parsing", "int_type"):
        whole = kind.startswith("int")
        match = _NUMBER_WITH_UNIT.match(value) if isinstance(value, str) else None
        if match and key == "duration":
            return (f"{shown} is not a number: `duration` is plain seconds, so write `duration: {match[1]}` "
                    "(seconds with an `s` are for keyframe positions, e.g. `at: \"2.5s\"`)")
        if match:
            return f"{shown} is not a number: write the number alone, e.g. `{key}: {match[1]}`"
        return f"{shown} is not {'a whole number' if whole else 'a number'}: write e.g. `{key}: {_example(loc)}`"
    if kind == "int_from_float":
        return f"{shown} is not a whole number: write e.g. `{key}: {int(value) if isinstance(value, float) else 1}`"
    if kind in ("bool_parsing", "bool_type"):
        return f"{shown} is not true or false: write `{key}: true` or `{key}: false`"
    if kind == "literal_error":
        options = _literal_options(loc)
        close = _closest(str(value), [str(o) for o in options])
        hint = f"; did you mean `{close}`?" if close else ""
        return f"{shown} is not one of {', '.join(f'`{o}`' for o in options)}{hint}"
    if kind == "string_too_short" and not value:
        field = _field_at(loc)
        required = field is not None and field.is_required()
        return f"`{key}` is empty: write some text" + ("" if required else f", or leave `{key}` out for its default")
    if kind == "too_short" and not value:
        return f"`{key}` is empty: give at least {error.get('ctx', {}).get('min_length', 1)} item"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = next(iter(error.get("ctx", {}).values()), None)
        words = {"greater_than": "more than", "greater_than_equal": "at least", "less_than": "less than",
                 "less_than_equal": "at most"}[kind]
        return f"{shown} is out of range: `{key}` must be {words} {bound}"
    if kind in ("string_type", "list_type", "dict_type", "model_type", "model_attributes_type"):
        wanted = {"string_type": "text", "list_type": "a list", "dict_type": "a mapping",
                  "model_type": "a mapping of keys", "model_attributes_type": "a mapping of keys"}[kind]
        return f"{shown} is not {wanted}" + (" (quote it to make it text)" if kind == "string_type" else "")
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind.startswith("value_error") or kind == "assertion_error" or isinstance(value, (dict, list)) or value is None:
        return message
    return f"{message} (got {shown})"


def _example(loc: Loc) -> str:
    field = _field_at(loc)
    default = getattr(field, "default", None)
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        return str(default)
    return "2" if loc and loc[-1] == "duration" else "1"


def _closest(value: str, options: list[str]) -> str | None:
    """The option a typo most likely meant: ignoring case, dashes and underscores first, then by similarity."""
    def normal(text: str) -> str:
        return re.sub(r"[-_\s]", "", text.lower())

    same = [option for option in options if normal(option) == normal(value)]
    if same:
        return same[0]
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    return close[0] if close else None


def _literal_options(loc: Loc) -> list:
    field = _field_at(loc)
    found: list = []

    def collect(annotation: Any) -> None:
        if typing.get_origin(annotation) is Literal:
            found.extend(typing.get_args(annotation))
        for arg in typing.get_args(annotation):
            collect(arg)

    if field is not None:
        collect(field.annotation)
    return found


def _field_at(loc: Loc):
    """The pydantic field a storyboard location names, or None."""
    model: type[BaseModel] | None = Storyboard
    field = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in _keys(model):
            return None
        field = _keys(model)[part]
        model = _model_in(field.annotation)
    return field


def _unknown_key_message(loc: Loc) -> str:
    """An unknown key: a did-you-mean among the keys allowed here, or where the key belongs instead."""
    key = str(loc[-1])
    allowed = _allowed_keys(loc[:-1])
    close = difflib.get_close_matches(key, allowed, n=1)
    key = safe(key)
    # A key that is exactly another section's says more than a near name here (`steps` beside `takes`).
    homes = [section for section, model in _KEY_HOMES if key in _keys(model) and model is not _model_at(loc[:-1])]
    if homes:
        return f"`{key}` does not go here: it belongs under `{homes[0]}` ({homes[0]}.{key}). Allowed here: {', '.join(allowed)}"
    if close:
        return f"unknown key `{key}`; did you mean `{close[0]}`? Allowed here: {', '.join(allowed)}"
    return f"unknown key `{key}`. Allowed here: {', '.join(allowed)}"


def _model_at(loc: Loc) -> type[BaseModel] | None:
    if not loc:
        return Storyboard
    field = _field_at(loc)
    return _model_in(field.annotation) if field is not None else None


def _allowed_keys(loc: Loc) -> list[str]:
    """The keys a storyboard accepts at `loc`, read from the models."""
    model: type[BaseModel] | None = Storyboard
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list keeps the list's item model
        field = _keys(model).get(part) if model else None
        model = _model_in(field.annotation) if field else None
    if model is None:
        return []
    if model is Transition:
        return ["crossfade"]
    return list(_keys(model))


def _keys(model: type[BaseModel]) -> dict:
    """A model's fields by the key a storyboard writes (a retake's `from` is the field `from_`)."""
    return {field.alias or name: field for name, field in model.model_fields.items()}


# Where each section's keys live, for "belongs under" hints on a key put at the wrong level.
_KEY_HOMES: tuple[tuple[str, type[BaseModel]], ...] = (
    ("model", ModelConfig), ("output", OutputConfig), ("defaults", Defaults), ("shots[]", Shot),
    ("shots[].segments", Segments), ("shots[].control", Control), ("shots[].keyframes[]", Keyframe),
    ("shots[].retakes[]", Retake),
)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None

