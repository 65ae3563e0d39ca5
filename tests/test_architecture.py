"""The package tree is the architecture: imports point one way along the layers of DESIGN section 2."""

from __future__ import annotations

import ast
from pathlib import Path

import tokenomy

PACKAGE = Path(tokenomy.__file__).parent

# A module may import from its own layer or from a lower one, never from a higher one.
LAYERS: dict[str, int] = {
    "schema": 0,
    "errors": 0,
    "config": 0,
    "native": 0,
    "native_fields": 0,
    "providers": 0,
    "listen": 0,
    "compiled": 0,
    "compression": 0,
    "usage": 1,
    "tokens": 1,
    "ascii_tokens": 1,
    "mockllm": 1,
    "pricing": 2,
    "store": 3,
    "capture": 4,
    "importers": 4,
    "simulate": 4,
    "budgets": 5,
    "gateway": 6,
    "analysis": 7,
    "server": 8,
    "cli": 9,
}


def _top(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "tokenomy" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def _layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def test_every_module_belongs_to_a_layer() -> None:
    names = {_layer_of(p) for p in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    unknown = sorted(names - LAYERS.keys())
    assert not unknown, f"add these modules to LAYERS (and to DESIGN.md's tree): {unknown}"


def test_imports_never_point_to_a_higher_layer() -> None:
    backwards: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer_of(path)
        if layer not in LAYERS:
            continue
        for module in _imports(path):
            target = _top(module)
            if target in LAYERS and LAYERS[target] > LAYERS[layer]:
                backwards.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not backwards, (
        "backwards imports (move the code down a layer or invert the dependency):\n" + "\n".join(backwards)
    )
