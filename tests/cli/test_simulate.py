"""``tokenomy simulate`` writes the calls, the truth next to them, and reports what it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenomy.cli.main import cli, main
from tokenomy.cli.simulate import truth_path_for


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["simulate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_writes_calls_and_truth_next_to_them(tmp_path: Path) -> None:
    out = tmp_path / "calls.jsonl"
    code, stdout, stderr = _invoke("--calls", "300", "--days", "2", "--seed", "4", "--out", str(out))
    assert code == 0, stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(1 for o in lines if o.get("type") != "charge") == 300
    truth = [json.loads(line) for line in (tmp_path / "calls.truth.jsonl").read_text().splitlines()]
    assert truth[0]["type"] == "run"
    assert truth[-1]["type"] == "summary"
    assert truth[-1]["calls"] == 300
    assert "wrote 300 calls" in stderr
    assert stdout == ""


def test_stdout_output_carries_only_the_records(tmp_path: Path) -> None:
    code, stdout, stderr = _invoke("--calls", "120", "--days", "1", "--out", "-")
    assert code == 0, stderr
    objects = [json.loads(line) for line in stdout.splitlines()]
    assert sum(1 for o in objects if o.get("type") != "charge") == 120
    assert "to stdout" in stderr
    assert not list(tmp_path.iterdir())


def test_waste_rates_and_start_reach_the_run(tmp_path: Path) -> None:
    out, truth = tmp_path / "a.jsonl", tmp_path / "t.jsonl"
    code, _, stderr = _invoke(
        "-n", "200", "-d", "1", "-o", str(out), "--truth", str(truth), "--no-waste", "--waste", "filler=0.5",
        "--start", "2026-01-05",
    )  # fmt: skip
    assert code == 0, stderr
    header = json.loads(truth.read_text().splitlines()[0])
    assert header["waste_rates"]["filler"] == 0.5
    assert header["waste_rates"]["retry_loop"] == 0.0
    assert header["start"] == "2026-01-05T00:00:00.000Z"
    first = json.loads(out.read_text().splitlines()[0])
    assert first["started_at"].startswith("2026-01-05")


def test_bad_waste_option_says_what_is_expected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "-n", "10", "-o", str(tmp_path / "x.jsonl"), "--waste", "filler"]) == 2
    assert "expected CATEGORY=RATE" in capsys.readouterr().err
    assert main(["simulate", "-n", "10", "-o", str(tmp_path / "x.jsonl"), "--waste", "typo=0.1"]) == 2
    assert "unknown waste category typo" in capsys.readouterr().err


def test_unwritable_output_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["simulate", "-n", "10", "-o", str(blocker / "calls.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "cannot write the output file" in err
    assert "choose a writable path" in err


def test_same_seed_same_file(tmp_path: Path) -> None:
    for name in ("a.jsonl", "b.jsonl"):
        assert _invoke("-n", "500", "-d", "2", "-s", "77", "-o", str(tmp_path / name))[0] == 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert (tmp_path / "a.truth.jsonl").read_bytes() == (tmp_path / "b.truth.jsonl").read_bytes()


def test_default_truth_path() -> None:
    assert truth_path_for(Path("d/calls.jsonl")) == Path("d/calls.truth.jsonl")
    assert truth_path_for(Path("calls.json")) == Path("calls.json.truth.jsonl")


@pytest.mark.parametrize(
    ("out", "truth"), [("calls.jsonl", "calls.jsonl"), ("calls.jsonl", "x/../calls.jsonl"), ("-", "-")]
)
def test_a_truth_file_that_is_the_output_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], out: str, truth: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").mkdir()
    (tmp_path / "calls.jsonl").write_bytes(b"kept\n")
    assert main(["simulate", "-n", "10", "-o", out, "--truth", truth]) == 2
    captured = capsys.readouterr()
    assert f"--truth {truth} is the --out file too" in captured.err
    assert captured.out == ""
    assert (tmp_path / "calls.jsonl").read_bytes() == b"kept\n"
