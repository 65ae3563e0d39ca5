"""Metering's compiled modules: the guard that loads their sources when it must, and the same answers."""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tokenomy import compiled
from tokenomy.gateway import metering

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
ROOT = Path(__file__).resolve().parent.parent
ROADS = [
    "tests/gateway/test_metering_paths.py",
    "tests/gateway/test_metering_fast.py",
    "tests/pricing/test_price_plan.py",
    "tests/gateway/test_build_steps.py",
]
"""Tests that force the general road by patching a module's own functions, which a compiled
module calls directly (so, compiled, they would compare the short road with itself)."""


def _tree(tmp_path: Path, *, built: tuple[str, ...]) -> Path:
    for name in compiled.MODULES:
        source = compiled.source_of(name, tmp_path)
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text("x = 1\n")
        os.utime(source, (1_000, 1_000))
        if name in built:
            made = source.with_name(source.stem + SUFFIX)
            made.write_bytes(b"")
            os.utime(made, (2_000, 2_000))
    return tmp_path


def test_nothing_compiled_needs_nothing(tmp_path: Path) -> None:
    assert compiled.why_interpreted(_tree(tmp_path, built=()), {}) == ""


def test_every_module_compiled_and_up_to_date_is_used(tmp_path: Path) -> None:
    root = _tree(tmp_path, built=compiled.MODULES)
    assert compiled.why_interpreted(root, {}) is None
    assert compiled.why_interpreted(root, {compiled.INTERPRETED_ENV: "0"}) is None
    assert compiled.why_interpreted(root, {compiled.INTERPRETED_ENV: "1"}) == "TOKENOMY_INTERPRETED is set"


def test_one_edited_source_sends_all_to_their_sources(tmp_path: Path) -> None:
    root = _tree(tmp_path, built=compiled.MODULES)
    os.utime(compiled.source_of("tokenomy.pricing.compute", root), (3_000, 3_000))
    assert compiled.why_interpreted(root, {}) == "edited since compiled: tokenomy.pricing.compute"


def test_a_missing_compiled_module_sends_all_to_their_sources(tmp_path: Path) -> None:
    root = _tree(tmp_path, built=compiled.MODULES[1:])
    assert compiled.why_interpreted(root, {}) == f"not compiled: {compiled.MODULES[0]}"


def _run(code: str, **env: str) -> str:
    environ = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **env}
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    return done.stdout.strip() + "|" + done.stderr.strip()


CHECK = "from tokenomy import compiled; import tokenomy.gateway.metering as m; print(compiled.is_compiled(m))"


def test_the_variable_gives_the_sources() -> None:
    assert _run(CHECK, TOKENOMY_INTERPRETED="1") == "False|"


needs_build = pytest.mark.skipif(
    compiled.compiled_of(compiled.MODULES[0], ROOT / "src") is None,
    reason="metering is not compiled here (make install compiles it when mypy and a C compiler are at hand)",
)


@needs_build
def test_a_built_checkout_runs_compiled() -> None:
    if os.environ.get(compiled.INTERPRETED_ENV):
        assert not compiled.is_compiled(metering)
    else:
        assert compiled.is_compiled(metering)
        assert _run(CHECK) == "True|"


@needs_build
def test_the_general_roads_match_interpreted() -> None:
    """The tests of :data:`ROADS`, run again with every module from its source."""
    environ = {**os.environ, compiled.INTERPRETED_ENV: "1", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *ROADS],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert " passed" in done.stdout


def test_make_rebuilds_on_every_compiled_source() -> None:
    """The Makefile reads the module list from this package's source; its stamp depends on each."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-p", "-n", "help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("COMPILED_SOURCES :="))
    read = line.split(":=", 1)[1].split()
    assert read == [str(compiled.source_of(name, Path("src"))) for name in compiled.MODULES]
