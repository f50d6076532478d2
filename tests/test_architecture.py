"""The layout of doc/architecture.rst holds: layers, no cycles, short orchestration functions."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "skranode"

#: The layers of doc/architecture.rst, top first: a module imports only its
#: own layer's modules (without a cycle) and those of the layers below.
LAYERS = [
    {"cli", "__main__", "demo", "file_analysis", "analysis", "scan_job"},
    {"scan", "methods"},
    {"closure", "inference", "bump_hunt", "plotting", "metrics", "estimator_checks"},
    {
        "anode",
        "classifiers",
        "curtains",
        "ensemble",
        "sideband",
        "flows",
        "training",
        "background",
        "preprocessing",
        "datasets",
    },
    {"stats", "mass_spectrum"},
    {"mass_window", "exceptions", "utils", "presets"},
]

#: Modules of the search, the statistics and the application, where no
#: function may be longer than 100 lines (docstring included).
ORCHESTRATION = [
    "scan",
    "stats",
    "analysis",
    "scan_job",
    "closure",
    "inference",
    "bump_hunt",
    "methods",
    "demo",
    "file_analysis",
    "cli",
    "mass_spectrum",
]


def _unit(module):
    """``skranode.scan._kfold`` -> ``scan``; the package itself -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _files():
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        module = ".".join(p for p in rel.parts if p != "__init__")
        yield module, path


def _imports(path):
    """The skranode modules a file imports (anywhere in it)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("skranode"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names if node.module == "skranode")
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("skranode"))
    return out


def _graph():
    graph = {}
    for module, path in _files():
        src = _unit(module)
        if not src:
            continue  # the package's public face re-exports the estimators
        deps = {_unit(d) for d in _imports(path)} - {src, ""}
        graph.setdefault(src, set()).update(deps)
    return graph


def _layer(unit):
    return next(k for k, layer in enumerate(LAYERS) if unit in layer)


def test_every_module_has_a_layer():
    assert sorted(u for u in _graph() if not any(u in layer for layer in LAYERS)) == []


def test_no_import_points_up():
    upward = [
        f"{src} imports {dst}"
        for src, deps in _graph().items()
        for dst in deps
        if _layer(dst) < _layer(src)
    ]
    assert upward == []


def test_no_import_cycle():
    graph = _graph()

    def reaches(start, goal):
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            for nxt in graph.get(node, ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    assert sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if reaches(b, a)) == []


def test_the_main_job_uses_the_scan_only_through_its_public_face():
    offences = [
        f"{module} imports {dep}"
        for module, path in _files()
        if _unit(module) != "scan"
        for dep in _imports(path)
        if dep.startswith("skranode.scan._")
    ]
    assert offences == []


@pytest.mark.parametrize("unit", ORCHESTRATION)
def test_orchestration_functions_fit_on_a_few_screens(unit):
    long = []
    for module, path in _files():
        if _unit(module) != unit:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > 100:
                    long.append(f"{module}.{node.name}: {length} lines")
    assert long == []
