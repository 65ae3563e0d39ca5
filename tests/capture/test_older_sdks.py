"""Capture with the SDK releases built on ``httpx`` (openai 1.x and 2.x, anthropic 0.x), which most
installed code still runs: their decoders give out bytes where ``httpx2``'s give out iterators, and an
async stream broke on that once (``AttributeError`` in the caller's loop). One environment cannot hold
two releases of an SDK: ``make test`` installs each set in a folder of its own
(``.venv/older-sdks/openai-1`` and ``openai-2``, each with anthropic 0.x: the Makefile pins the
releases), and :mod:`tests.capture.older_sdks_driver` drives them in a process with
that folder first on its path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OLDER = Path(os.environ.get("TOKENOMY_OLDER_SDKS", ROOT / ".venv" / "older-sdks")).resolve()

pytestmark = pytest.mark.integration

# (feature, provider, api, streamed, status, input, output, first token timed): the mock's counts
EXPECTED = [
    ("chat", "openai", "chat", False, "ok", 8, 16, False),
    ("chat stream", "openai", "chat", True, "ok", 8, 16, True),
    ("responses stream", "openai", "responses", True, "ok", 4, 16, True),
    ("embeddings", "openai", "embeddings", False, "ok", 1, 0, False),
    ("relayed", "openai", "chat", True, "ok", 8, 16, True),
    ("raw", "openai", "chat", False, "ok", 8, 16, False),
    ("messages", "anthropic", "messages", False, "ok", 5, 16, False),
    ("messages stream", "anthropic", "messages", True, "ok", 5, 16, True),
    ("messages helper", "anthropic", "messages", True, "ok", 5, 16, True),
    ("abandoned", "openai", "chat", True, "cancelled", 8, 0, False),  # left after the role-only chunk
    ("async chat", "openai", "chat", False, "ok", 8, 16, False),
    ("async chat stream", "openai", "chat", True, "ok", 8, 16, True),
    ("async responses stream", "openai", "responses", True, "ok", 4, 16, True),
    ("async messages stream", "anthropic", "messages", True, "ok", 5, 16, True),
    ("async messages helper", "anthropic", "messages", True, "ok", 5, 16, True),
]


@pytest.mark.parametrize("major", ["1", "2"])
def test_every_kind_of_call_of_the_httpx_releases_is_recorded(major: str, tmp_path: Path) -> None:
    folder = OLDER / f"openai-{major}"
    if not (folder / "openai").is_dir():
        pytest.skip(f"no older SDK releases in {folder} (make test installs them)")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT / "src"), str(ROOT)])}
    environment.pop("TOKENOMY_SINK", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.capture.older_sdks_driver", str(tmp_path / "calls.duckdb")],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    head, *lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert Path(head["openai_at"]).is_relative_to(folder)  # the older release ran, not the venv's own
    assert head["versions"]["openai"].startswith(f"{major}.")
    assert head["versions"]["anthropic"].startswith("0.")
    recorded = [
        (c["feature"], c["provider"], c["api"], c["streamed"], c["status"], c["input"], c["output"],
         c["timed_first_token"])
        for c in lines
    ]  # fmt: skip
    assert sorted(recorded) == sorted(EXPECTED)
