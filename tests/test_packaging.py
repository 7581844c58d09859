"""The README's set-up command installs everything ltx_flows imports: each third-party module it imports (function-level
imports included) belongs to a distribution that pyproject.toml declares itself, not one that arrives only because
another dependency happens to need it today."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions

from .conftest import REPO


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_top_level_modules() -> set[str]:
    modules = set()
    for path in (REPO / "ltx_flows").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m != "ltx_flows" and m not in sys.stdlib_module_names}


def test_every_imported_distribution_is_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_normalized(re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]) for requirement in project["dependencies"]}
    owners = packages_distributions()
    undeclared = {
        module: owners.get(module, ["(not installed)"]) for module in sorted(imported_top_level_modules())
        if not any(_normalized(dist) in declared for dist in owners.get(module, []))
    }
    assert not undeclared, f"imported by ltx_flows but not declared in pyproject.toml's dependencies: {undeclared}"
