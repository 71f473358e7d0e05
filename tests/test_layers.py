"""The layers of the code base, checked: who may import whom, no import cycles, and protocol/ without torch.

Rules (the data flows one way: protocol -> node -> swarm):
- protocol/ imports neither torch, node nor swarm;
- node/ imports neither swarm nor hivemind;
- node/algorithms/ imports neither the sampler (node.sampler) nor swarm;
- only swarm/transports/hivemind/ imports hivemind;
- no import cycles among the modules of swarm/, node/ and protocol/ (module-level imports).

Imports are read statically (ast: every ``import`` and ``from ... import``, inside functions too, so a
lazy import counts), and protocol/ is also imported in a fresh interpreter to see that torch stays out.
`test_each_rule_catches_a_break` plants one violation of each rule in a copy of the tree.

    .venv/bin/python -m pytest tests/test_layers.py -q
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "node", "swarm")
TOLERATED_CYCLES: set[frozenset[str]] = set()
"""Known cycles to tolerate, never added to (none since the sampler registry became one package)."""


@dataclass(frozen=True)
class Import:
    importer: str
    """Dotted name of the importing module."""
    target: str
    """Dotted name of the module imported (a submodule when ``from pkg import sub`` names one)."""
    line: int
    top_level: bool
    """Executed at import time: not inside a function, nor under ``if TYPE_CHECKING``."""


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_modules(root: Path) -> dict[str, Path]:
    return {module_name(root, p): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _walk(tree: ast.AST, top_level: bool = True):
    """(node, top_level) for every import node; function bodies and TYPE_CHECKING blocks are not top level."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, top_level
        nested = top_level and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            nested = False
        yield from _walk(child, nested)


def imports_of(root: Path, modules: dict[str, Path]) -> list[Import]:
    found = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for node, top in _walk(tree):
            if isinstance(node, ast.Import):
                found += [Import(name, alias.name, node.lineno, top) for alias in node.names]
                continue
            base = _resolve(node, name, path.name == "__init__.py")
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append(Import(name, sub if sub in modules else base, node.lineno, top))
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


RULES: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    # (rule, importers, forbidden targets, importers exempt)
    ("protocol/ imports neither torch, node nor swarm", "protocol", ("torch", "node", "swarm"), ()),
    ("node/ imports neither swarm nor hivemind", "node", ("swarm", "hivemind"), ()),
    ("node/algorithms/ imports neither the sampler nor swarm", "node.algorithms",
     ("node.sampler", "swarm"), ()),
    ("only swarm/transports/hivemind/ imports hivemind", "", ("hivemind",), ("swarm.transports.hivemind",)),
]


def violations(root: Path) -> list[str]:
    """Every import that breaks a rule, as "rule: importer:line imports target"."""
    found = imports_of(root, product_modules(root))
    out = []
    for rule, importers, forbidden, exempt in RULES:
        for imp in found:
            if importers and not _within(imp.importer, importers):
                continue
            if any(_within(imp.importer, e) for e in exempt):
                continue
            if any(_within(imp.target, f) for f in forbidden):
                out.append(f"{rule}: {imp.importer}:{imp.line} imports {imp.target}")
    return list(dict.fromkeys(out))


def cycles(root: Path) -> list[list[str]]:
    """Strongly connected groups of 2+ product modules over their top-level imports (Tarjan)."""
    modules = product_modules(root)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports_of(root, modules):
        if imp.top_level and imp.target in modules and imp.target != imp.importer:
            graph[imp.importer].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


# ---------------------------------------------------------------- the rules, on this tree


def test_imports_follow_the_layers() -> None:
    found = violations(REPO)
    assert not found, "\n".join(found)


def test_no_import_cycles() -> None:
    found = [c for c in cycles(REPO) if frozenset(c) not in TOLERATED_CYCLES]
    assert not found, "\n".join(" <-> ".join(c) for c in found)


def test_protocol_loads_without_torch_node_or_swarm() -> None:
    """In a fresh interpreter: importing every protocol module loads neither torch, node, swarm nor hivemind."""
    names = [m for m in product_modules(REPO) if _within(m, "protocol")]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in names) +
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'node', 'swarm', 'hivemind'})\n"
            "print(bad)\nsys.exit(1 if bad else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"importing protocol/ loaded {result.stdout.strip()} {result.stderr[-2000:]}"


# ---------------------------------------------------------------- the checks can fail

BREAKS = {
    "protocol/layers_break.py": ("import torch\n", "protocol/ imports neither torch"),
    "node/layers_break.py": ("def f():\n    from swarm.transports import build_transport\n", "node/ imports neither swarm"),
    "node/algorithms/layers_break.py": ("from node.sampler import select_groups\n", "node/algorithms/ imports neither the sampler"),
    "swarm/layers_break.py": ("from hivemind.p2p import PeerID\n", "only swarm/transports/hivemind/ imports hivemind"),
}


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.mark.parametrize("path", sorted(BREAKS))
def test_each_rule_catches_a_break(tree_copy: Path, path: str) -> None:
    code, rule = BREAKS[path]
    planted = tree_copy / path
    planted.write_text(code)
    try:
        found = violations(tree_copy)
    finally:
        planted.unlink()
    assert any(v.startswith(rule) and "layers_break" in v for v in found), found


def test_a_planted_cycle_is_found(tree_copy: Path) -> None:
    (tree_copy / "node" / "cycle_a.py").write_text("from node import cycle_b\n")
    (tree_copy / "node" / "cycle_b.py").write_text("import node.cycle_a\n")
    try:
        assert ["node.cycle_a", "node.cycle_b"] in cycles(tree_copy)
    finally:
        (tree_copy / "node" / "cycle_a.py").unlink()
        (tree_copy / "node" / "cycle_b.py").unlink()
