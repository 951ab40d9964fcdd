"""The package's architecture, checked: imports point one way, subsystems stay in their rooms.

Every import counts, also those inside functions (they are what keeps ``--help``
fast, but they are dependencies all the same); ``TYPE_CHECKING`` imports do not.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "autodynamics_cli"
SUBSYSTEMS = ("midi", "encoding", "musicxml", "formats", "model", "inference", "humanize", "training", "cli")
# What each subsystem may import of the others (besides itself, errors and the version).
ALLOWED = {
    "midi": {"encoding"},  # the key range of the grid, nothing else
    "encoding": set(),
    "musicxml": {"midi", "encoding"},  # MusicXML played into MIDI bytes; the grid's key range
    "formats": {"midi", "musicxml", "encoding"},  # file kinds and one reader per input kind
    "model": {"encoding"},
    "inference": {"encoding", "model", "midi"},
    "humanize": {"inference", "midi", "encoding", "model", "musicxml", "formats"},
    "training": {"inference", "midi", "encoding", "model", "musicxml", "formats"},
    "cli": {"humanize", "inference", "training", "model", "midi", "encoding", "musicxml", "formats"},
}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, child.end_lineno + 1))
    return lines


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level) for each runtime import of ``path``."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, id(node) in top))
            found += [(f"{node.module}.{a.name}", id(node) in top) for a in node.names]
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def internal_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in MODULES.items():
        for target, _ in imports(path):
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def subsystem(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in SUBSYSTEMS else None


def test_every_module_lives_in_a_subsystem():
    loose = [
        m
        for m in MODULES
        if subsystem(m) is None
        and m not in ("autodynamics_cli", "autodynamics_cli.__main__", "autodynamics_cli.errors")
    ]
    assert loose == []


def test_no_import_cycle():
    graph = internal_graph()
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m: str, stack: list[str]) -> bool:
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                cycle.extend(stack[stack.index(n) :] + [m, n] if n in stack else [m, n])
                return True
            if n not in state and visit(n, [*stack, m]):
                return True
        state[m] = 2
        return False

    for m in sorted(MODULES):
        if m not in state and visit(m, []):
            break
    assert not cycle, " -> ".join(cycle)


@pytest.mark.parametrize("sub", SUBSYSTEMS)
def test_imports_point_one_way(sub):
    wrong = sorted(
        {
            (m, t)
            for m, targets in internal_graph().items()
            if subsystem(m) == sub
            for t in targets
            if subsystem(t) not in (None, sub, *ALLOWED[sub])
        }
    )
    assert wrong == []


def test_the_engines_do_not_import_each_other():
    graph = internal_graph()
    numpy_e, torch_e = "autodynamics_cli.inference.numpy_engine", "autodynamics_cli.inference.torch_engine"
    assert torch_e not in graph[numpy_e] and numpy_e not in graph[torch_e]


# Where a file name's suffix may decide anything: the input/output kinds, the MusicXML sniff,
# a weights file's name (models, export).
SUFFIX_DECIDERS = {
    "autodynamics_cli.formats.kinds",
    "autodynamics_cli.musicxml.names",
    "autodynamics_cli.model.registry",
    "autodynamics_cli.cli.export",
    "autodynamics_cli.cli.calibrate",
}


def test_only_the_formats_seam_reads_suffixes():
    assert (
        sorted(m for m, p in MODULES.items() if ".suffix" in p.read_text() and m not in SUFFIX_DECIDERS) == []
    )


@pytest.mark.parametrize("sub", ["midi", "musicxml"])
def test_reads_only_the_grid_of_encoding(sub):
    for m, targets in internal_graph().items():
        if subsystem(m) == sub:
            assert {t for t in targets if subsystem(t) == "encoding"} <= {"autodynamics_cli.encoding.grid"}


def test_the_musicxml_extra_only_imported_when_a_score_is_read():
    """The [musicxml] extra is optional: no module may need lxml or lark to be imported, and none
    imports partitura (autodyn's own reader replaced it)."""
    assert [
        (m, t)
        for m, p in MODULES.items()
        for t, at_top in imports(p)
        if (t.split(".")[0] in ("lxml", "lark") and at_top) or t.split(".")[0] == "partitura"
    ] == []


@pytest.mark.parametrize(
    "module",
    [
        m
        for m in MODULES
        if subsystem(m) in ("encoding", "midi", "musicxml", "formats", "humanize")
        or m.endswith(
            (
                ".config",
                ".numpy_net",
                ".registry",
                ".engine",
                ".numpy_engine",
                ".predict",
                ".weights_file",
                ".readout",
                ".referee",
                ".model",
                ".choose",
            )
        )
    ],
)
def test_torch_free_at_import(module):
    """What the numpy engine's path loads must not load torch (the bundled model runs without it)."""
    assert not [t for t, at_top in imports(MODULES[module]) if t.split(".")[0] == "torch" and at_top]


# In ruff format's layout (one argument a line once a call wraps): 80 and 250 lines before the
# code was formatted, the same code now spreads over up to about 100 and 350.
MAX_FUNCTION_LINES = 100
MAX_CLI_LINES = 350


def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_library_functions_are_short():
    long = [
        f"{module_name(p)}.{f.name}: {f.end_lineno - f.lineno + 1} lines"
        for m, p in MODULES.items()
        if subsystem(m) != "cli"
        for f in _functions(p)
        if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_cli_modules_are_short():
    assert [
        m
        for m, p in MODULES.items()
        if subsystem(m) == "cli" and len(p.read_text().splitlines()) > MAX_CLI_LINES
    ] == []


TESTS = PACKAGE.parent / "tests"


def test_tests_mirror_the_package():
    """One test folder per subpackage (and one for scripts/), none for what does not exist."""
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert folders == {*SUBSYSTEMS, "scripts"}


def test_no_test_module_imports_another():
    """Shared test code lives in helpers.py and xml_scores.py, never in a test module."""
    wrong = []
    for path in TESTS.rglob("test_*.py"):
        for target, _ in imports(path):
            if target.split(".")[0].startswith("test_") or target.startswith("tests."):
                wrong.append((path.name, target))
    assert wrong == []
