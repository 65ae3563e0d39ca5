"""Shared fixtures: the real third-party data folder (skipped cleanly when absent)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

# Records hold naive UTC times, and every reading of them must say so. The suite runs in a zone far
# from UTC (Chatham Islands, UTC+13:45 in summer; without a time-zone database the same offset as
# a POSIX rule, which DuckDB ignores), so that a time read as the host's local time fails here
# rather than on a user's laptop. TOKENOMY_TEST_TZ overrides it. Set before any test module
# imports DuckDB (whose session zone follows TZ); servers the tests start inherit it.
os.environ["TZ"] = os.environ.get("TOKENOMY_TEST_TZ", "Pacific/Chatham")
time.tzset()
if "TOKENOMY_TEST_TZ" not in os.environ and time.timezone == 0:  # no time-zone database here
    os.environ["TZ"] = "XST-13:45"
    time.tzset()

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = ROOT.parent / "shared" / "data" / "real"


def real_data_path(*parts: str) -> Path:
    """A path under ../shared/data/real; skips the calling test when it is absent."""
    path = REAL_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


@pytest.fixture
def real_data() -> Path:
    """The real-data folder; the test is skipped when it is absent."""
    return real_data_path()


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Name bytes parameters by their length: their content may vary between collections (a gzip
    header holds the time), and pytest-xdist needs every worker to collect the same test ids."""
    if isinstance(val, bytes | bytearray):
        return f"{argname}-{len(val)}bytes"
    return None
