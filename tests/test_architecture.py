"""The layout docs/ARCHITECTURE.md promises: the registry carries the papers, the import graph runs one way.

Imports are read with `ast` from every module of the repository (function-level imports
included), so a lazy import cannot hide a cycle, an upward import or a dependency on a train
script. Checked: no cycle; no import of a higher layer (LAYERS); at most MAX_DEPTH modules on any
import chain; train scripts import no evaluation module or user tool; only bench/, demo.py and
experiments/ import a train script; no paper letter is compared or indexed outside papers.py,
a paper's own files (papers.own_modules), demo.py and claims.py; no module above MAX_LINES.
"""
import ast
import functools
import importlib
import pathlib

import papers

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAX_DEPTH = 7          # modules on the longest import chain
MAX_LINES = 450
# The only modules that may import a train script: bench/ (its synthetic steps), demo.py (runs them) and
# experiments/ (probes that train a model per experiment).
MAY_IMPORT_TRAIN_SCRIPTS = ("bench.", "demo", "experiments.")
USER_TOOLS = ("app", "app_actions", "inpaint", "sharpen", "damage", "export", "folders")
# Layers, bottom up: a module imports only modules of its own layer or below. Every module must
# match one prefix (the longest wins); `TRAIN` stands for the registry's train scripts.
LAYERS = (
    ("errors", "quiet_tf", "cliargs", "papers", "plots", "metrics"),               # 0: no TensorFlow, no repo deps
    ("rundir", "imagefiles", "blend", "data", "losses", "models"),                  # 1: foundations
    ("training",),                                                                  # 2: the shared training pieces
    ("TRAIN", "inpainters"),                                                        # 3: papers' train scripts, inference
    ("folders", "inpaint", "sharpen", "damage", "export", "app", "app_actions", "evaluation"),     # 4: user tools, the tables
    ("evaluate", "claims"),                                                         # 5: the evaluation command
    ("demo",),                                                                      # 6
    ("bench", "experiments"),                                                       # 7: measurements, probes
)
# Where a paper letter may be compared or indexed (besides each paper's own modules).
LETTERS_ALLOWED = {"papers", "demo", "claims"}


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


@functools.lru_cache(None)
def _graph():
    known = _modules()
    return {name: frozenset(_imports(name, path, known)) for name, path in known.items()}


def _train_scripts():
    return {p.train_module for p in papers.PAPERS.values()}


def layer_of(name):
    if name in _train_scripts():
        return LAYERS.index(next(layer for layer in LAYERS if "TRAIN" in layer))
    best = None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (i, len(prefix))
    assert best is not None, f"{name} is in no layer of tests/test_architecture.py LAYERS; give it one"
    return best[0]


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


def test_no_upward_import():
    upward = [f"{name} (layer {layer_of(name)}) imports {dep} (layer {layer_of(dep)})"
              for name, deps in sorted(_graph().items()) for dep in sorted(deps) if layer_of(dep) > layer_of(name)]
    assert not upward, upward


def test_import_chains_are_at_most_seven_modules():
    graph = _graph()

    @functools.lru_cache(None)
    def chain(node):
        return max((chain(dep) for dep in graph[node]), key=len, default=()) + (node,)

    longest = max((chain(n) for n in graph), key=len)
    assert len(longest) <= MAX_DEPTH, " <- ".join(reversed(longest))


def test_train_scripts_only_train():
    """A train script imports no evaluation module and no user tool."""
    graph = _graph()
    for script in _train_scripts():
        bad = {d for d in graph[script] if d.split(".")[0] in ("evaluate", "evaluation", "claims", "demo", *USER_TOOLS)}
        assert not bad, f"{script} imports {sorted(bad)}"


def test_only_bench_demo_and_experiments_import_train_scripts():
    train = _train_scripts()
    offenders = [f"{name} imports {', '.join(sorted(deps & train))}" for name, deps in _graph().items()
                 if deps & train and not name.startswith(MAY_IMPORT_TRAIN_SCRIPTS)]
    assert not offenders, offenders


def letter_uses(path):
    """(line, letter) for every string constant that is a paper letter in `path`'s code."""
    letters = set(papers.LETTERS)
    return [(node.lineno, node.value) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in letters]


def test_no_paper_letter_outside_the_papers_own_files():
    allowed = set(LETTERS_ALLOWED)
    for paper in papers.PAPERS.values():
        allowed |= papers.own_modules(paper)
    found = [f"{name}:{line} {letter!r}" for name, path in sorted(_modules().items()) if name not in allowed
             for line, letter in letter_uses(path)]
    assert not found, found


def test_the_letter_check_can_fail(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('x = 1\nif paper == "C":\n    pass\nrow = NAMES["E"]\n')
    assert letter_uses(probe) == [(2, "C"), (4, "E")]


def test_modules_are_at_most_450_lines():
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, long


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
        assert callable(importlib.import_module(paper.model_module).networks), paper.model_module
        if paper.table_module:
            assert papers.table_module(paper.table) == paper.table_module
        if paper.export:
            assert paper.export in paper.exports.values(), (letter, paper.export)
    from models import deblur
    assert set(deblur.VARIANTS) < set(papers.PAPERS["E"].variants)     # nonbn_res_l = nonbn_res + losses
    assert set(papers.PAPERS["E"].variant_labels) == set(papers.PAPERS["E"].variants)


def test_one_build_per_paper(tmp_path):
    """Training's build and papers.networks (inference, export, app, bench) make the same networks
    from the same flags: same names, same weight shapes."""
    import tensorflow as tf

    small = dict(A=["--width", "4", "--fc-units", "8", "--image-size", "32", "--local-size", "16", "--stage", "2"],
                 B=["--width", "4", "--image-size", "16"], C=["--width", "4", "--image-size", "16", "--z-dim", "8"],
                 D=["--width", "4", "--image-size", "32", "--bottleneck", "8"],
                 E=["--filters", "4", "--blocks", "1", "--d-filters", "4", "--d-dense", "8", "--image-size", "32",
                    "--variant", "nonbn_res"])
    for letter, argv in small.items():
        train = papers.train_module(letter)
        config = train.build_parser().parse_args(argv)
        trained = train.build(config, tf.distribute.get_strategy())       # stage 2 and nonbn_res: no VGG19
        loaded = papers.networks(vars(config))
        assert set(loaded) == set(trained.models), letter
        for name, model in loaded.items():
            assert [tuple(w.shape) for w in model.weights] == [tuple(w.shape) for w in trained.models[name].weights], \
                (letter, name)
