"""Importing many files: directories walked, each file detected on its own, failures kept to their file."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from tests.conftest import real_data_path
from tests.importers import samples
from tests.importers.support import run, write_json, write_lines
from tokenomy.errors import ConfigError
from tokenomy.importers import Progress, collect_files, import_paths
from tokenomy.pricing import Pricer
from tokenomy.store import DuckDBStore


def _tree(root: Path) -> dict[str, Path]:
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    files = {
        "litellm": write_json(root / "spend.json", [samples.spend_log("r1")]),
        "otlp": write_json(root / "nested" / "trace.json.gz", samples.agent_trace(), compress=True),
        "langfuse": write_json(root / "nested" / "deeper" / "lf.json", samples.langfuse_trace()),
        "native": write_lines(
            root / "nested" / "n.jsonl", [samples.native_call("n-1"), samples.native_call("n-2")]
        ),
    }
    write_json(root / ".hidden" / "ignored.json", [samples.spend_log("hidden")])
    write_json(root / ".also-ignored.json", [samples.spend_log("hidden-2")])
    return files


def test_directories_are_walked_and_each_file_detected(
    store: DuckDBStore, pricer: Pricer, tmp_path: Path
) -> None:
    files = _tree(tmp_path / "logs")
    summary = run(store, pricer, tmp_path / "logs")
    assert sorted((f.format, Path(f.path).name) for f in summary.files) == sorted(
        (fmt, path.name) for fmt, path in files.items()
    )
    assert (summary.calls, summary.rejected, summary.ok) == (1 + 2 + 2 + 2, 0, True)
    assert store.count() == 7
    assert summary.sessions == 4  # sess-ll, sess-9, sess-lf, and the native file's own count


def test_collect_files_is_sorted_and_skips_hidden(tmp_path: Path) -> None:
    _tree(tmp_path / "logs")
    single = write_json(tmp_path / "single.json", {})
    found = collect_files([tmp_path / "logs", single])
    names = [p.relative_to(tmp_path).as_posix() for p in found]
    assert names == [
        "logs/nested/deeper/lf.json",
        "logs/nested/n.jsonl",
        "logs/nested/trace.json.gz",
        "logs/spend.json",
        "single.json",
    ]


def test_a_bad_file_does_not_stop_the_run(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    empty = tmp_path / "a-empty.json"
    empty.write_text("")
    binary = tmp_path / "b-blob.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    truncated = tmp_path / "c-cut.json"
    truncated.write_text('{"resourceSpans": [{"scopeSpans": [')
    good = write_json(tmp_path / "d-good.json", [samples.spend_log("ok")])
    summary = run(store, pricer, empty, binary, truncated, good)
    messages = [str(f.failed) for f in summary.files[:3]]
    assert messages == [
        f"{empty}: empty file: nothing to import",
        f"{binary}: unrecognised format (binary data that is not an OTLP protobuf request); pass --format "
        "with one of: native, otlp, litellm, langfuse, openhands, swe-agent, provider, recording, transcript",
        f"{truncated}: truncated JSON: the data ends at line 1 before the value is complete",
    ]
    assert (summary.calls, len(summary.failed), summary.ok) == (1, 3, False)


def test_forced_format_reads_the_file_as_told(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    path = write_json(tmp_path / "rows.json", [samples.spend_log("r1")])
    wrong = run(store, pricer, path, fmt="otlp")
    assert wrong.files[0].failed is not None
    assert "not an OTLP trace request" in str(wrong.files[0].failed)
    assert run(store, pricer, path, fmt="litellm").calls == 1


def test_unknown_format_is_a_config_error(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown import format 'csv'"):
        run(store, pricer, tmp_path, fmt="csv")


def test_progress_reports_files_and_bytes(store: DuckDBStore, pricer: Pricer, tmp_path: Path) -> None:
    files = _tree(tmp_path / "logs")
    seen: list[Progress] = []
    import_paths([tmp_path / "logs"], store=store, pricer=pricer, progress=seen.append)
    total = sum(p.stat().st_size for p in files.values())
    assert seen[-1] == Progress(4, 4, total, total, str(files["litellm"]))
    assert all(a.bytes_done <= b.bytes_done for a, b in pairwise(seen))
    assert {p.files_total for p in seen} == {4}


@pytest.mark.realdata
def test_all_real_samples_in_one_run(store: DuckDBStore, pricer: Pricer) -> None:
    summary = run(store, pricer, real_data_path("litellm-logging"), real_data_path("trajectories"))
    formats = sorted({f.format or "" for f in summary.files})
    assert formats == ["litellm", "openhands", "swe-agent"]
    assert (summary.rejected, len(summary.failed)) == (0, 0)
    assert summary.calls == 2 + 10 + 38
