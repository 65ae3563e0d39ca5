"""Fixtures for the store tests: one Pricer for the session (its catalog loads once)."""

from __future__ import annotations

import pytest

from tokenomy.pricing import Pricer


@pytest.fixture(scope="session")
def pricer() -> Pricer:
    """The catalog Pricer with no overrides."""
    return Pricer()
