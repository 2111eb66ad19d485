"""Keeps the shape of the code true to ARCHITECTURE.md.

- modules stay under 500 lines and functions under 60;
- imports flow one way: cli/server -> pipeline -> providers/pricing/storage.base
  -> types/errors (never backwards);
- no branching on a provider's name outside providers/ and the emulator;
- no module-level mutable state (a module-level list/dict/set assigned from a
  literal must be named in UPPER_CASE and never mutated, i.e. a constant).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fleetcost"
MODULES = sorted(p for p in SRC.rglob("*.py"))

# package -> packages it must never import
FORBIDDEN = {
    "types": {"pipeline", "server", "cli", "providers", "pricing", "storage", "emulator"},
    "errors": {"pipeline", "server", "cli", "providers", "pricing", "storage", "emulator"},
    "pricing": {"providers", "pipeline", "server", "cli", "storage", "emulator", "fleet"},
    "providers": {"pipeline", "server", "cli", "storage", "emulator", "fleet"},
    "storage": {"pipeline", "server", "cli", "providers", "emulator", "fleet"},
    "pipeline": {"server", "cli", "emulator", "fleet"},
    "analytics": {"server", "cli", "pipeline", "emulator"},
    "cache": {"server", "cli", "pipeline", "emulator", "fleet", "providers"},
    "compress": {"server", "cli", "pipeline", "emulator", "fleet", "providers", "storage"},
    "server": {"cli", "emulator", "fleet"},
    "emulator": {"pipeline", "server", "storage", "fleet"},
}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fleetcost."):
            found.add(str(node.module).split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("fleetcost."):
                    found.add(alias.name.split(".")[1])
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 500


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_functions_small(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= 60, f"{node.name} is {length} lines"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_import_direction(path: Path) -> None:
    banned = FORBIDDEN.get(_package(path), set())
    wrong = _imports(ast.parse(path.read_text())) & banned
    assert not wrong, f"{path.name} imports {wrong}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_provider_name_branching(path: Path) -> None:
    if _package(path) in {"providers", "emulator", "fleet", "pricing", "config"}:
        return
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for const in [node.left, *node.comparators]:
                if isinstance(const, ast.Constant) and const.value in ("openai", "anthropic"):
                    pytest.fail(f"{path.name}:{node.lineno} compares with {const.value!r}")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_level_mutable_state(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            mutable = isinstance(value, ast.List | ast.Dict | ast.Set | ast.ListComp
                                 | ast.DictComp | ast.SetComp)
            for t in targets:
                if mutable and isinstance(t, ast.Name) and t.id != "__all__":
                    assert t.id.isupper(), f"{path.name}:{node.lineno} module-level mutable {t.id}"
