"""Where a model comes from: the one reader of `checkpoint`, `upsampler` and LoRA values.

A value is one of four kinds:
- `tiny`: the offline tiny model of the family (random weights; its output is noise);
- `twin:<generation>:owner/repo[/path]`: a path in the tiny twin of a published generation;
- a local path: starts with `/`, `./`, `../` or `~`, is not shaped like a hub id, or is an existing
  file or folder (relative to the folder ltx-flows runs in);
- a hub id: `owner/repo[/path]`, a repo (and a subfolder or file in it) on the Hugging Face Hub.

Validation, the download command and the model loader all read values through `model_source`, so they
never disagree about which kind a value is.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

TWIN_PREFIX = "twin:"
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+(/.+)?$")


@dataclass(frozen=True)
class ModelSource:
    kind: Literal["tiny", "twin", "local", "hub"]
    value: str
    path: Path | None = None  # local: the path as given (user-expanded, not resolved)
    repo: str | None = None  # twin and hub: `owner/repo`
    rest: str = ""  # twin and hub: the path inside the repo ("" for the repo itself)
    generation: str | None = None  # twin: whose twin


def model_source(value: str, hub_id_allowed: bool = True) -> ModelSource:
    """Which kind of source `value` names (see the module docstring); `hub_id_allowed=False` reads every
    value that is not `tiny` or a twin as a local path."""
    if value == "tiny":
        return ModelSource("tiny", value)
    if value.startswith(TWIN_PREFIX):
        generation, _, hub_path = value[len(TWIN_PREFIX):].partition(":")
        return ModelSource("twin", value, generation=generation, **_repo_and_rest(hub_path))
    local = Path(value).expanduser()
    if value.startswith(("/", "./", "../", "~")) or not (hub_id_allowed and HUB_ID.match(value)):
        return ModelSource("local", value, path=local)
    try:
        if local.exists():  # `owner/repo` may also be a local folder
            return ModelSource("local", value, path=local)
    except OSError:  # e.g. a name too long for the file system: not a folder here, so a hub id
        pass
    return ModelSource("hub", value, **_repo_and_rest(value))


def local_path(value: str | None, hub_id_allowed: bool = True) -> Path | None:
    """The path `value` names when it is a local path; None for `tiny`, twins, hub ids and None."""
    if value is None:
        return None
    return model_source(value, hub_id_allowed).path


def _repo_and_rest(hub_path: str) -> dict:
    owner, _, tail = hub_path.partition("/")
    name, _, rest = tail.partition("/")
    return {"repo": f"{owner}/{name}", "rest": rest}
