"""The layout the README promises: the paper registry, who may import a train script, no import cycle.

Imports are read with `ast` from every module of the repository (function-level imports
included), so a lazy import cannot hide a cycle or a dependency on a train script.
"""
import ast
import importlib
import pathlib

import papers

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The only modules that may import a train script: bench/ (for build), demo.py (runs them) and
# experiments/ (the issue-14 probes, which train a model per experiment).
MAY_IMPORT_TRAIN_SCRIPTS = ("bench.", "demo", "experiments.")


def _modules():
    """module name -> path, for every .py of the repository outside tests/ and hidden folders."""
    out = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] == "tests" or any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name, path, known):
    """The repository modules `name` imports (`from pkg import mod` counts as pkg.mod)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for a in node.names:
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return {m for m in found if m in known and m != name}


def _graph():
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def test_no_import_cycles():
    graph = _graph()
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, [" -> ".join(c) for c in cycles]


def test_only_bench_and_demo_import_train_scripts():
    train = {p.train_module for p in papers.PAPERS.values()}
    offenders = [f"{name} imports {', '.join(sorted(deps & train))}" for name, deps in _graph().items()
                 if deps & train and not name.startswith(MAY_IMPORT_TRAIN_SCRIPTS)]
    assert not offenders, offenders


def test_user_tools_reach_the_guard_without_training():
    graph = _graph()
    for light in ("errors", "papers", "rundir"):            # what every CLI needs before anything heavy
        assert graph[light] <= {"errors"}, (light, graph[light])
    for tool in ("inpaint", "sharpen", "damage", "evaluate", "demo"):
        assert "errors" in graph[tool], tool


def test_the_registry_lists_five_papers_whose_modules_import():
    assert papers.LETTERS[:5] == ("A", "B", "C", "D", "E")
    assert papers.TABLES[:3] == ("A", "D", "E")
    for letter, paper in papers.PAPERS.items():
        assert paper.letter == letter and len(paper.seed) == 3 and paper.seed.isdigit() and paper.title
        assert paper.table in papers.TABLES and paper.task in ("inpaint", "deblur")
        train = importlib.import_module(paper.train_module)
        for entry in ("build_parser", "build", "main", "SMOKE"):
            assert hasattr(train, entry), (paper.train_module, entry)
        importlib.import_module(paper.model_module)
    from models import deblur
    assert set(deblur.VARIANTS) < set(papers.PAPERS["E"].variants)     # nonbn_res_l = nonbn_res + losses
    import evaluate
    assert tuple(evaluate.TABLES) == papers.TABLES
