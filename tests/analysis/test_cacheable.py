from __future__ import annotations

import duckdb
import pytest

from tokenomy.analysis.cacheable import minimum_for, minimum_sql

CASES = [
    ("openai", "gpt-4o-mini", 1024),
    ("anthropic", "claude-sonnet-4-5-20250929", 1024),
    ("anthropic", "claude-haiku-4-5-20251001", 4096),
    ("anthropic", "claude-3-5-haiku-latest", 2048),
    ("aws", "anthropic.claude-3-haiku-20240307-v1:0", 2048),
    ("google", "gemini-2.5-flash", 1024),
    ("google", "gemini-2.5-pro", 2048),
    ("deepseek", "deepseek-chat", 64),
    ("acme", "m3", None),
    (None, None, None),
]


@pytest.mark.parametrize(("provider", "model", "minimum"), CASES)
def test_minimum_cacheable_prompt(provider: str | None, model: str | None, minimum: int | None) -> None:
    assert minimum_for(provider, model) == minimum


def test_the_sql_agrees_with_python() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE c (provider VARCHAR, response_model VARCHAR, request_model VARCHAR)")
    con.executemany("INSERT INTO c VALUES (?, NULL, ?)", [(p, m) for p, m, _ in CASES])
    got = con.execute(f"SELECT {minimum_sql('c')} FROM c").fetchall()
    assert [row[0] for row in got] == [expected for _, _, expected in CASES]
