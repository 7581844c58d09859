"""The JSON Schema editors check storyboards with, generated from the models (`ltx-flows schema`)."""

from typing import Any

from .looks import CAMERA_MOVES
from .models import SIZE_STEP, Storyboard
from .presets import PRESETS


def storyboard_json_schema() -> dict:
    """The JSON Schema editors check storyboards with (yaml-language-server, VS Code): the models' schema, plus
    the cross-field rules JSON Schema can express, hover text in Markdown, examples and snippets."""
    schema = Storyboard.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ltx-flows storyboard"
    defs = schema["$defs"]
    for key in ("width", "height"):
        defs["OutputConfig"]["properties"][key]["multipleOf"] = SIZE_STEP
    # Exactly one of duration and frames (or neither, with a voice: the shot lasts its line).
    defs["Shot"]["anyOf"] = [{"required": ["duration"]}, {"required": ["frames"]}, {"required": ["voice"]}]
    defs["Shot"]["not"] = {"required": ["duration", "frames"]}
    # No generated sound when the film's family is ltxv: `family: ltxv`, or no `family` and no preset of another
    # family (a preset sets the family, e.g. `preset: ltx2-distilled` alone is ltx2). An `if` without `required`
    # would also match where `family` is left out.
    ltxv_presets = [name for name, preset in PRESETS.items() if preset.family == "ltxv"]
    schema["if"] = {"anyOf": [
        {"not": {"required": ["model"]}},
        {"required": ["model"], "properties": {"model": {"anyOf": [
            {"required": ["family"], "properties": {"family": {"const": "ltxv"}}},
            {"not": {"required": ["family"]}, "properties": {"preset": {"enum": [*ltxv_presets, None]}}},
        ]}}},
    ]}
    schema["then"] = {"properties": {"output": {"properties": {"audio": {
        "not": {"const": "generate"},
        "markdownDescription": "LTX-Video makes no sound: `generate` needs `model.family: ltx2`.",
    }}}}}
    defs["Keyframe"]["properties"]["at"]["examples"] = ["start", "end", "2.5s", 48]
    preset = defs["ModelConfig"]["properties"]["preset"]
    preset["markdownEnumDescriptions"] = [getattr(PRESETS[name], "description", "") for name in PRESETS]
    preset["enumDescriptions"] = [_plain(text) for text in preset["markdownEnumDescriptions"]]
    defs["Shot"]["properties"]["transition"]["defaultSnippets"] = [
        {"label": "crossfade", "description": "Fade into the next shot over SECONDS", "body": {"crossfade": "^${1:0.5}"}},
        {"label": "cut", "description": "Cut straight to the next shot", "body": "cut"},
    ]
    # A bare move name is a camera too (`camera: dolly-in`).
    defs["Shot"]["properties"]["camera"]["anyOf"].insert(0, {"enum": list(CAMERA_MOVES)})
    _editor_hints(schema)
    return schema


def _plain(markdown: str) -> str:
    return markdown.replace("`", "")


def _editor_hints(node: Any) -> None:
    """Hover text as Markdown (plain `description` for other tools), and one clean entry per nullable field.

    Pydantic gives each field a title and nullable fields `anyOf: [X, null]`; editors show both as
    "Duration || Duration". The key names the field well enough, and `type: [X, "null"]` is one entry.
    """
    if isinstance(node, list):
        for item in node:
            _editor_hints(item)
        return
    if not isinstance(node, dict):
        return
    properties = node.get("properties")
    if isinstance(properties, dict):
        for field in properties.values():
            if isinstance(field, dict):
                field.pop("title", None)
                options = field.get("anyOf")
                if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
                    other = next(option for option in options if option != {"type": "null"})
                    if isinstance(other.get("type"), str):
                        del field["anyOf"]
                        field.update({**other, "type": [other["type"], "null"]})
                        if "enum" in field:
                            field["enum"] = [*field["enum"], None]
    if isinstance(node.get("description"), str) and "body" not in node:  # (a snippet's description is plain)
        node.setdefault("markdownDescription", node["description"])
        node["description"] = _plain(node["description"])
    for value in node.values():
        _editor_hints(value)
