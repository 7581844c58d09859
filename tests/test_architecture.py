"""The package's layout holds: imports run one way down the layers (the path a shot takes), with no cycle,
function-level imports included; modules stay readable; the storyboard and plan layers never load torch;
importing a module changes no global state; docs/production.md's Layout names every module.

Read from the source with `ast` (no stubs): a new import that breaks a rule fails here with the edge named.
"""

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "ltx_flows"
# Lowest first: a module may import its own layer or a lower one. The order is the path a shot takes;
# the bottom layer is plumbing every stage shares.
LAYERS = (
    ("ltx_flows", "ltx_flows.files", "ltx_flows.failures", "ltx_flows.lifetime", "ltx_flows.layout"),
    ("ltx_flows.media",),
    ("ltx_flows.storyboard",),
    ("ltx_flows.plan",),
    ("ltx_flows.models",),
    ("ltx_flows.render",),
    ("ltx_flows.finish",),
    ("ltx_flows.production",),
    ("ltx_flows.cli", "ltx_flows.tables", "ltx_flows.commands"),
)
MAX_MODULE_LINES = 500


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports() -> list[Import]:
    """Every import of one ltx_flows module by another, at any depth in the file (function-level ones too)."""
    known = modules()
    found = []
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                # `from . import x` imports the module x; `from .x import y` imports module x (y may be a module too).
                targets = [source] + [f"{source}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                if target in known and target != name:
                    found.append(Import(importer=name, imported=target, line=node.lineno))
    return found


def layer_of(module: str) -> int:
    for rank, layer in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in layer if prefix != "ltx_flows") or (
            module == "ltx_flows" and "ltx_flows" in layer
        ):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS (and to docs/production.md's Layout)")


def cycles(edges: list[Import]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.importer, set()).add(edge.imported)
        graph.setdefault(edge.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_reader_sees_function_level_and_relative_imports():
    edges = {(edge.importer, edge.imported) for edge in imports()}
    # cli.py imports these inside functions, relative to the package.
    assert ("ltx_flows.cli", "ltx_flows.production.batch") in edges
    assert any(importer.startswith("ltx_flows.render.") and imported.startswith("ltx_flows.models.")
               for importer, imported in edges)


def test_no_import_cycle():
    assert cycles(imports()) == []


def test_imports_run_down_the_layers():
    upward = [f"{edge.importer} (line {edge.line}) imports {edge.imported}, a higher layer"
              for edge in imports() if layer_of(edge.imported) > layer_of(edge.importer)]
    assert upward == []


def test_every_module_is_in_a_layer():
    for module in modules():
        layer_of(module)


def test_no_module_is_too_long_to_read():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines: split them by concept"


def test_subpackages_re_export_nothing():
    # Modules are imported by their own path: an __init__ that imports would tie every module of its package
    # to every importer (and hide cycles).
    for path in PACKAGE.rglob("__init__.py"):
        body = ast.parse(path.read_text()).body
        code = [node for node in body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        assert code == [], f"{path.relative_to(REPO)} holds code; import from the module itself"


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_storyboard_and_plan_layers_never_load_torch_diffusers_or_prefect():
    names = [name for name in modules() if name.startswith(("ltx_flows.storyboard", "ltx_flows.plan"))]
    loaded = _run(
        "import importlib, json, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'diffusers', 'prefect', 'dask'})))"
    )
    assert json.loads(loaded) == []


def test_importing_a_module_changes_no_global_state():
    # The libraries first (their own imports set up logging), then every ltx_flows module: loggers' levels,
    # filters and handlers and the environment must be as they were.
    names = sorted(modules())
    changed = _run(
        "import importlib, json, logging, os\n"
        "import torch, diffusers, prefect_dask, rich.progress  # noqa\n"
        "import diffusers.schedulers.scheduling_flow_match_euler_discrete, diffusers.pipelines.ltx2  # noqa\n"
        # Prefect sets up its logging when its top-level names are first read: that is Prefect's, not ours.
        "from prefect import Task, flow, task  # noqa\n"
        "def state():\n"
        "    loggers = {'': logging.getLogger()} | {n: l for n, l in logging.root.manager.loggerDict.items()\n"
        "                                          if isinstance(l, logging.Logger)}\n"
        "    return {'env': dict(os.environ), 'loggers': {n: [l.level, len(l.filters), len(l.handlers), l.disabled]\n"
        "                                                for n, l in loggers.items()}}\n"
        "before = state()\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "after = state()\n"
        "env = sorted(k for k in set(before['env']) | set(after['env']) if before['env'].get(k) != after['env'].get(k))\n"
        # Loggers the libraries make lazily as their modules load are theirs; ours start untouched.
        "untouched = [logging.NOTSET, 0, 0, False]\n"
        "loggers = sorted(n for n in after['loggers'] if (n in before['loggers'] or n.startswith('ltx_flows'))\n"
        "                 and before['loggers'].get(n, untouched) != after['loggers'][n])\n"
        "print(json.dumps({'env': env, 'loggers': loggers}))"
    )
    assert json.loads(changed) == {"env": [], "loggers": []}


def _layout_rows() -> set[str]:
    text = (REPO / "docs" / "production.md").read_text()
    section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    return {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}


def test_the_layout_doc_names_every_module_and_only_real_ones():
    files = {str(path.relative_to(REPO)) for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"}
    rows = _layout_rows()
    assert sorted(files - rows) == [], "modules missing from docs/production.md's Layout"
    stale = sorted(row for row in rows if row.startswith("ltx_flows/") and not (REPO / row).exists())
    assert stale == [], "docs/production.md's Layout names modules that do not exist"
