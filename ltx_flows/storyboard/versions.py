"""Versions of one storyboard: variables (`vars:`, used as `${name}` in any text or path field) and variants
(`variants:`, named value sets or a matrix of them), each variant its own film.

Substitution itself happens at load (`variables.py`), before the substituted fields are validated.
"""

import itertools
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

VAR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
VARIANT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# A matrix multiplies: 5 products x 10 languages x 10 markets is 500 films, which is already a night of renders.
MAX_VARIANTS = 500

VarName = Annotated[str, Field(pattern=VAR_NAME_PATTERN)]
# A value is text; YAML numbers and booleans are taken as written (`seed: ${seed}` then validates as a number).
VarValue = Annotated[str | int | float | bool, Field(description="Text put in place of `${name}`.")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Variant(_Strict):
    """One named version of the film: its own values of the storyboard's variables."""

    name: str = Field(pattern=VARIANT_NAME_PATTERN, description="Names the variant's folder, `renders/<name>/<variant>/`.")
    vars: dict[VarName, VarValue] = Field(
        default_factory=dict, description="Values for `${name}`; they override the storyboard's `vars`."
    )


class Matrix(_Strict):
    """Every combination of the listed values, one variant each, named by its values joined with `-`."""

    matrix: dict[VarName, Annotated[list[VarValue], Field(min_length=1)]] = Field(
        min_length=1, description="Variable -> its values, e.g. `{product: [original, vanilla], lang: [en, de]}`."
    )

    @field_validator("matrix")
    @classmethod
    def _at_most_max(cls, matrix: dict[str, list]) -> dict[str, list]:
        films = 1
        for values in matrix.values():
            films *= len(values)
        if films > MAX_VARIANTS:
            sizes = " x ".join(str(len(values)) for values in matrix.values())
            raise ValueError(f"the matrix makes {films:,} films ({sizes}); at most {MAX_VARIANTS} per storyboard: "
                             "split it into several storyboards or list fewer values")
        return matrix


def variant_name(values: list[Any]) -> str:
    """A matrix variant's name: its values, lowercased, each reduced to letters, digits, `_` and `-`, joined by `-`."""
    parts = [re.sub(r"[^a-z0-9_-]+", "-", str(value).lower()).strip("-") or "x" for value in values]
    return "-".join(parts)[:64].rstrip("-")


def expand_variants(variants: "list[Variant] | Matrix | None") -> list[Variant]:
    """The variants as a list of named value sets (a matrix expanded in the order its values are listed)."""
    if variants is None:
        return []
    if isinstance(variants, Matrix):
        names = list(variants.matrix)
        return [Variant(name=variant_name(list(combination)), vars=dict(zip(names, combination)))
                for combination in itertools.product(*variants.matrix.values())]
    return list(variants)


def values_text(value: Any) -> str:
    """A variable's value as it is put into text: YAML's `true`/`false` for booleans, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def value_sets(data: dict) -> tuple[list[tuple[str | None, dict[str, Any]]], list[tuple[tuple, str]], set[str]]:
    """From a storyboard's raw data: (variant name or None, the variables' values) for every film it makes, the
    problems of `variants:` the models do not see (two variants of one name), as (location, message), and the names
    an invalid `variants:` section sets (the loader does not call them unknown).

    Sections that do not validate count as absent here: validating the storyboard reports them.
    """
    try:
        base = TypeAdapter(dict[VarName, VarValue]).validate_python(data.get("vars") or {})
    except ValidationError:
        base = {}
    raw = data.get("variants")
    try:
        variants = expand_variants(_VARIANTS.validate_python(raw)) if raw is not None else []
    except ValidationError:
        return [(None, base)], [], _names_in(raw)
    if not variants:
        return [(None, base)], [], set()
    problems, seen = [], {}
    for index, variant in enumerate(variants):
        if variant.name in seen:
            where = ("variants", "matrix") if isinstance(raw, dict) else ("variants", index, "name")
            problems.append((where, f"two variants are named `{variant.name}` (the first is variant {seen[variant.name] + 1}); "
                                    "each variant needs a name of its own"))
        seen.setdefault(variant.name, index)
    return [(variant.name, {**base, **variant.vars}) for variant in variants], problems, set()


def _names_in(raw: Any) -> set[str]:
    """The variable names a `variants:` section sets, read without validating it."""
    if isinstance(raw, dict) and isinstance(raw.get("matrix"), dict):
        return {str(name) for name in raw["matrix"]}
    if isinstance(raw, list):
        return {str(name) for item in raw if isinstance(item, dict) and isinstance(item.get("vars"), dict)
                for name in item["vars"]}
    return set()


Variants = list[Variant] | Matrix
_VARIANTS = TypeAdapter(Variants)


def variants_errors(errors: list[dict], data: dict) -> list[dict]:
    """Pydantic's errors with those of `variants:` told as its form is written: a list is checked as a list of
    variants, a mapping as a matrix, and the union member's name pydantic puts in the location is taken out."""
    raw = data.get("variants")
    kept = []
    for error in errors:
        loc = tuple(error["loc"])
        if loc[:1] == ("variants",) and len(loc) > 1 and loc[1] in ("list[Variant]", "Matrix"):
            written = "Matrix" if isinstance(raw, dict) else "list[Variant]"
            if loc[1] != written and isinstance(raw, (dict, list)):
                continue
            error = {**error, "loc": (loc[0], *loc[2:])}
        kept.append(error)
    return kept
