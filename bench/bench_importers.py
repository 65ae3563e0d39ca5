"""Import throughput of the record importers, next to the cost of just reading the same records.

For provider bodies and LiteLLM spend-log rows, the reference is the least any importer must do
per record: ``json.loads`` of the line and the usage adapter (``tokenomy.usage.extract`` /
LiteLLM's usage convention). The import adds detection, the Call record, pricing and the batched
insert into a fresh DuckDB store. Both run in the same process, one after the other, so the ratio
holds on a noisy machine even when the absolute rates drift.

Usage: ``python -m bench importers [N]`` (N records per input, default 20000).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tokenomy.importers import import_paths
from tokenomy.importers.litellm_usage import litellm_usage
from tokenomy.pricing import Pricer
from tokenomy.store import open_store
from tokenomy.usage import extract


def _body(i: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{i}",
        "object": "chat.completion",
        "created": 1767225600 + i,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 1000 + i % 97,
            "completion_tokens": 50,
            "total_tokens": 1050 + i % 97,
            "prompt_tokens_details": {"cached_tokens": 512},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _spend_row(i: int) -> dict[str, Any]:
    usage = {"prompt_tokens": 1200, "completion_tokens": 80, "prompt_tokens_details": {"cached_tokens": 1000}}
    return {
        "request_id": f"req-{i}",
        "session_id": f"s-{i // 10}",
        "call_type": "acompletion",
        "startTime": "2026-01-02 10:00:00.000000",
        "endTime": "2026-01-02 10:00:02.500000",
        "model": "claude-sonnet-4-20250514",
        "custom_llm_provider": "anthropic",
        "metadata": json.dumps({"usage_object": usage}),
        "spend": 0.0028,
        "prompt_tokens": 1200,
        "completion_tokens": 80,
        "status": "success",
    }


def _reference_provider(line: str) -> None:
    extract(json.loads(line))


def _reference_litellm(line: str) -> None:
    row = json.loads(line)
    litellm_usage(json.loads(row["metadata"])["usage_object"])


def _measure(name: str, path: Path, reference: Callable[[str], None], pricer: Pricer, n: int) -> float:
    lines = path.read_text().splitlines()
    start = time.perf_counter()
    for line in lines:
        reference(line)
    ref_rate = n / (time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp, open_store(Path(tmp) / "bench.duckdb") as store:
        start = time.perf_counter()
        summary = import_paths([path], store=store, pricer=pricer)
        rate = n / (time.perf_counter() - start)
    assert summary.calls == n, summary.errors[:3]
    print(f"{name:<10} import {rate:>9,.0f} calls/s   read+usage only {ref_rate:>9,.0f} records/s   "
          f"ratio {rate / ref_rate:.2f}")  # fmt: skip
    return rate / ref_rate


def main(argv: list[str]) -> int:
    """Write the inputs, then measure each importer against its reference, side by side."""
    n = int(argv[0]) if argv else 20_000
    pricer = Pricer()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        provider = root / "bodies.jsonl"
        provider.write_text("".join(json.dumps(_body(i)) + "\n" for i in range(n)))
        litellm = root / "spend.jsonl"
        litellm.write_text("".join(json.dumps(_spend_row(i)) + "\n" for i in range(n)))
        print(f"{n:,} records per input")
        _measure("provider", provider, _reference_provider, pricer, n)
        _measure("litellm", litellm, _reference_litellm, pricer, n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
