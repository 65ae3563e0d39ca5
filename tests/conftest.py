"""Shared fixtures: the real third-party data folder (skipped cleanly when absent), a redis-server."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """One throwaway redis-server on 127.0.0.1 for the session (tests use their own policy names, so
    their accounts never meet); skipped when redis-server is not installed."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/system-deps test installs it)")
    from tokenomy.budgets.redis_process import RedisProcess  # (here: this module sets TZ before imports)

    with RedisProcess() as server:
        yield server
