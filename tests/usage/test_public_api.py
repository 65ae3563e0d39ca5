"""Pins the public API of tokenomy.usage and the layering rule for its modules."""

from __future__ import annotations

import ast
from pathlib import Path

import tokenomy.usage

PUBLIC = {
    "ADAPTERS",
    "Adapter",
    "AutoStream",
    "Extracted",
    "SSEDecoder",
    "SSEEvent",
    "StreamAccumulator",
    "accumulate",
    "args_hash",
    "decode_otlp_attributes",
    "detect",
    "extract",
    "from_otel",
    "iter_json_events",
    "parse_sse",
    "resolve",
    "stream_accumulator",
}
ALLOWED = ("tokenomy.schema", "tokenomy.errors", "tokenomy.config", "tokenomy.native", "tokenomy.providers")
"""What usage/ may import from the rest of tokenomy: its own layer and the ones below it."""


def test_public_names_are_pinned() -> None:
    assert set(tokenomy.usage.__all__) == PUBLIC
    assert all(hasattr(tokenomy.usage, name) for name in PUBLIC)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_usage_imports_only_its_own_layer_and_lower_ones() -> None:
    folder = Path(tokenomy.usage.__file__).parent
    wrong = {
        f"{path.name}: {module}"
        for path in sorted(folder.glob("*.py"))
        for module in _imports(path)
        if module.startswith("tokenomy")
        and not module.startswith(("tokenomy.usage", *ALLOWED))
        and module != "tokenomy"
    }
    assert not wrong, f"backwards imports: {sorted(wrong)}"
    assert len(list(folder.glob("*.py"))) >= 14


def test_module_sizes_stay_small() -> None:
    folder = Path(tokenomy.usage.__file__).parent
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in folder.glob("*.py")}
    assert max(sizes.values()) < 600, sizes
