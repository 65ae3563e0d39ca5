"""``tokenomy audit`` in each format, with --by, --sample, --where and --no-save."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.analysis.test_audit import _caching_session, _retry_session
from tests.analysis.waste.factory import store_of
from tokenomy.cli import audit_json
from tokenomy.cli.main import cli, main


def _db(tmp_path: Path) -> Path:
    calls = [*_retry_session("r1"), *_retry_session("r2", after=86_400 * 2)]
    calls += [*_caching_session("k1", after=60), *_caching_session("k2", after=86_400)]
    store_of(tmp_path, calls).close()
    return tmp_path / "audit.duckdb"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", *args])
    return result.exit_code, result.output


def test_json_lists_findings_plan_and_cache_advice(tmp_path: Path) -> None:
    db = _db(tmp_path)
    code, out = _run("--db", str(db), "--format", "json", "--no-save")
    assert code == 0, out
    data = json.loads(out)
    assert [f["category"] for f in data["findings"]] == ["missed_caching", "retry_loop"]
    retry = data["findings"][1]
    assert (retry["sessions"], retry["wasted_calls"], retry["wasted_tokens"]) == (2, 2, 5_840)
    assert retry["wasted_cost"] == "0.002480000000"  # two superseded attempts of $0.00124 each
    assert retry["monthly_savings"]["low"] is not None
    assert data["period"]["calls"] == 14
    assert data["plan"]["standalone_total"] == str(sum(Decimal(f["wasted_cost"]) for f in data["findings"]))
    assert data["cache"]["routes"][0]["misses"][0]["reason"] == "not_cached"
    assert data["saved"] is None
    assert (data["plan"]["fixes_in_total"], data["plan"]["listed_total"]) == (2, data["plan"]["total"])


def test_the_json_names_at_most_so_many_sessions_and_calls_with_whole_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_json, "NAMED", 1)
    code, out = _run("--db", str(_db(tmp_path)), "--format", "json", "--no-save")
    assert code == 0, out
    retry = json.loads(out)["findings"][1]
    assert (retry["session_ids"], retry["sessions"]) == (["r1"], 2)
    assert (retry["call_ids"]["wasted"], retry["wasted_calls"]) == (["r1-2"], 2)
    assert retry["call_ids"]["context"] == ["r1-3"]


def test_each_format_names_the_sessions_and_calls_to_open(tmp_path: Path) -> None:
    db = _db(tmp_path)
    code, out = _run("--db", str(db), "--format", "json", "--no-save")
    assert code == 0, out
    retry = json.loads(out)["findings"][1]
    assert retry["session_ids"] == ["r1", "r2"]
    assert retry["call_ids"] == {"wasted": ["r1-2", "r2-2"], "partial": [], "context": ["r1-3", "r2-3"]}
    code, text = _run("--db", str(db), "--no-save")
    assert "where to look" in text
    assert re.search(rf"│ 2 │ {retry['id']} │ r1 \(\+1 more\) +│ one step asked 2 times", text)
    code, page = _run("--db", str(db), "--no-save", "--format", "html")
    assert "<th>costliest session</th>" in page
    assert "<td>r1</td>" in page


def test_the_table_ranks_findings_and_saves_them(tmp_path: Path) -> None:
    db = _db(tmp_path)
    code, out = _run("--db", str(db))
    assert code == 0, out
    assert "waste findings, ranked by dollars (2 in all)" in out
    assert out.index("missed_caching") < out.index("retry_loop")
    assert "savings plan: top fixes" in out
    assert "findings saved to the store (replacing 0 earlier audit(s))" in out
    code, again = _run("--db", str(db), "--format", "json")
    assert json.loads(again)["saved"] == {"replaced_audits": 1}


def test_by_team_and_where_filter(tmp_path: Path) -> None:
    db = _db(tmp_path)
    code, out = _run("--db", str(db), "--format", "json", "--no-save", "--by", "feature")
    assert code == 0, out
    rows = json.loads(out)["by"]["rows"]
    assert [(r["value"], r["category"], r["sessions"]) for r in rows] == [
        ("review", "missed_caching", 2),
        ("chat", "retry_loop", 2),
    ]
    code, out = _run("--db", str(db), "--format", "json", "--no-save", "--where", "feature=chat")
    assert [f["category"] for f in json.loads(out)["findings"]] == ["retry_loop"]


def test_a_bad_where_is_a_usage_error_and_a_missing_store_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _db(tmp_path)
    assert main(["audit", "--db", str(db), "--no-save", "--where", "colour=red"]) == 2
    assert "unknown dimension 'colour' in --where" in capsys.readouterr().err
    assert main(["audit", "--db", str(db), "--no-save", "--where", "feature"]) == 2
    assert "expected dimension=value" in capsys.readouterr().err
    typo = tmp_path / "tpyo.duckdb"
    for save in ([], ["--no-save"]):  # saving would have created an empty store and audited it
        assert main(["audit", "--db", str(typo), *save]) == 1
        assert f"{typo}: no store here yet" in capsys.readouterr().err
    assert not typo.exists()


def test_sample_walks_through_sessions_step_by_step(tmp_path: Path) -> None:
    db = _db(tmp_path)
    code, out = _run("--db", str(db), "--format", "json", "--no-save", "--sample", "2")
    assert code == 0, out
    samples = json.loads(out)["samples"]
    assert [s["stratum"] for s in samples] == [1, 2]
    for sample in samples:
        assert [step["step"] for step in sample["steps"]] == sorted(step["step"] for step in sample["steps"])
    wasted = [w for s in samples for step in s["steps"] for w in step["waste"]]
    assert {w["category"] for w in wasted} <= {"retry_loop", "missed_caching"}
    code, table = _run("--db", str(db), "--no-save", "--sample", "1")
    assert "cost stratum 1 of 1" in table


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.findings: list[tuple[str, str]] = []
        self.sections: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and "data-finding" in found:
            self.findings.append((found["data-finding"] or "", found.get("data-wasted") or ""))
        if tag == "section" and found.get("id"):
            self.sections.append(found["id"] or "")


def test_out_writes_the_file_and_says_so_in_every_format(tmp_path: Path) -> None:
    db = _db(tmp_path)
    for fmt in ("table", "json", "html"):
        target = tmp_path / f"audit.{fmt}"
        result = CliRunner().invoke(
            cli, ["audit", "--db", str(db), "--format", fmt, "--no-save", "-o", str(target)]
        )
        assert result.exit_code == 0, result.output
        assert result.stdout == ""  # the audit itself went to the file
        assert result.stderr == f"wrote {target}\n"
        assert "missed_caching" in target.read_text() or "missed caching" in target.read_text().lower()


def test_html_is_one_page_with_each_finding_and_its_dollars(tmp_path: Path) -> None:
    db = _db(tmp_path)
    out_file = tmp_path / "audit.html"
    code, out = _run("--db", str(db), "--format", "html", "--no-save", "--out", str(out_file))
    assert code == 0, out
    page = out_file.read_text()
    assert page.startswith("<!doctype html>")
    assert "<script" not in page
    parsed = _Cells()
    parsed.feed(page)
    assert parsed.sections == ["findings", "plan", "cache"]
    code, data = _run("--db", str(db), "--format", "json", "--no-save")
    expected = [(f["id"], f["wasted_cost"]) for f in json.loads(data)["findings"]]
    assert parsed.findings == expected


def test_an_empty_store_has_no_waste(tmp_path: Path) -> None:
    store_of(tmp_path, []).close()
    code, out = _run("--db", str(tmp_path / "audit.duckdb"), "--no-save")
    assert code == 0
    assert "no waste found in this period" in out


def test_json_money_is_never_in_exponent_form(tmp_path: Path) -> None:
    db = _db(tmp_path)
    code, out = _run("--db", str(db), "--format", "json", "--no-save")
    assert code == 0, out
    data = json.loads(out)
    assert data["plan"]["overlap_removed"] == "0.000000000000"  # str(Decimal) would say "0E-12"
    assert [f["overlap_removed"] for f in data["plan"]["fixes"]] == ["0.000000000000"] * 2
    assert "E-" not in out


def test_json_times_are_utc_with_a_z_like_the_report(tmp_path: Path) -> None:
    db = _db(tmp_path)
    code, out = _run("--db", str(db), "--format", "json", "--no-save", "--since", "2026-01-01")
    assert code == 0, out
    data = json.loads(out)
    assert (data["scope"]["since"], data["scope"]["until"]) == ("2026-01-01T00:00:00Z", None)
    assert data["period"]["start"] == "2026-01-01T00:00:00Z"
    assert data["period"]["end"].endswith("Z")
    assert data["created_at"].endswith("Z")


def test_the_plan_caption_says_when_the_total_covers_more_fixes_than_listed() -> None:
    from types import SimpleNamespace
    from typing import Any, cast

    from tests.analysis.test_savings import COSTS, finding, part
    from tokenomy.analysis.savings import build_plan
    from tokenomy.cli.audit_text import plan_caption
    from tokenomy.schema import WasteEffect, WasteRole

    retry = finding("retry", "retry_loop", part("a", WasteEffect.CALL, "0.01", 5_000, WasteRole.WASTED))
    bloat = finding("bloat", "bloated_system_prompt", part("b", WasteEffect.SYSTEM, "0.003", 1_000))
    report = cast(Any, SimpleNamespace(plan=build_plan([retry, bloat], COSTS, top=1)))
    assert plan_caption(report).startswith(
        "all 2 fixes (the 1 listed: $0.0100): total $0.0130 over the period"
    )
    report = cast(Any, SimpleNamespace(plan=build_plan([retry, bloat], COSTS, top=2)))
    assert plan_caption(report).startswith("total $0.0130 over the period")


def test_the_cache_advisors_saving_is_said_to_be_the_findings_money_in_every_format(tmp_path: Path) -> None:
    db = _db(tmp_path)
    code, out = _run("--db", str(db), "--format", "json", "--no-save")
    assert code == 0, out
    data = json.loads(out)
    (caching,) = [f for f in data["findings"] if f["category"] == "missed_caching"]
    cache = data["cache"]
    assert cache["same_money_as"] == {
        "category": "missed_caching",
        "findings": 1,
        "wasted_cost": caching["wasted_cost"],
    }
    assert Decimal(cache["expected_saving"]) == Decimal(caching["wasted_cost"])  # one money, two views
    sentence = "the expected saving is the same money as the 1 missed_caching finding(s)"
    assert cache["same_money_note"].startswith(sentence)
    assert "do not add it to them" in cache["same_money_note"]
    code, out = _run("--db", str(db), "--no-save")
    assert code == 0, out
    assert sentence in " ".join(out.split())  # the table's caption, however rich wraps it
    page = tmp_path / "audit.html"
    code, out = _run("--db", str(db), "--format", "html", "--no-save", "-o", str(page))
    assert code == 0, out
    assert f"<caption>T{sentence[1:]}" in page.read_text()
