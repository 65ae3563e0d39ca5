"""Fixtures for the importer tests: one pricer per session, a fresh store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tokenomy.pricing import Pricer
from tokenomy.store import DuckDBStore, open_store


@pytest.fixture(scope="session")
def pricer() -> Pricer:
    """The catalog pricer (loaded once: building it reads the bundled catalog)."""
    return Pricer()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    """A fresh embedded store in the test's temporary folder."""
    with open_store(tmp_path / "test.duckdb") as opened:
        yield opened
