"""tokenomy.tokens.count against raw tiktoken, on the same texts, in the same run.

Both sides count with a tiktoken Encoding built from the same packaged ranks; the difference is
tokenomy's own work (model lookup, cached encoding, result record). Each round times both sides
back to back, in alternating order, and the median of the per-round throughput ratios is printed
for a short, a medium and a 1 MB text. Target: tokenomy's throughput >= 0.95x raw tiktoken's.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pydoc_data import topics

import tiktoken

from tokenomy import tokens

TARGET = 0.95


def _texts() -> dict[str, str]:
    prose = "\n\n".join(topics.topics.values())  # Python's own reference docs: English and code
    return {
        "short (1 message, ~250 chars)": prose[1_000:1_250],
        "medium (~20 KB)": prose[20_000:40_000],
        "large (1 MB)": (prose * (1_000_000 // len(prose) + 1))[:1_000_000],
    }


def _time(fn: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def _compare(text: str, raw: tiktoken.Encoding, rounds: int, repeat: int) -> tuple[float, float, float]:
    """Best time of each side and the median of the per-round throughput ratios."""

    def ours() -> object:
        return tokens.count(text, model="gpt-4o")

    def baseline() -> object:
        return len(raw.encode_ordinary(text))

    assert tokens.count(text, model="gpt-4o").tokens == baseline()
    ours_times, raw_times, ratios = [], [], []
    for i in range(rounds):
        # Each round times both sides back to back, in alternating order, so that the noise of a
        # shared machine hits both sides of a ratio alike.
        if i % 2 == 0:
            mine, base = _time(ours, repeat), _time(baseline, repeat)
        else:
            base, mine = _time(baseline, repeat), _time(ours, repeat)
        ours_times.append(mine)
        raw_times.append(base)
        ratios.append(base / mine)
    return min(ours_times), min(raw_times), statistics.median(ratios)


def main(argv: list[str]) -> int:
    """Print per-text timings and the throughput ratio; exit 1 if a ratio misses the target."""
    quick = "--quick" in argv
    raw = tiktoken.Encoding(
        name="o200k_base",
        pat_str=tokens.PATTERNS["o200k_base"],
        mergeable_ranks=tokens.load_ranks("o200k_base"),
        special_tokens=tokens.SPECIAL_TOKENS["o200k_base"],
    )
    plans = {"short": (41, 2_000), "medium": (41, 20), "large": (21, 1)}
    worst = float("inf")
    print(f"{'text':32} {'tokens':>9} {'tokenomy':>12} {'tiktoken':>12} {'ratio':>7}")
    for label, text in _texts().items():
        rounds, repeat = plans[label.split()[0]]
        if quick:
            rounds, repeat = 3, max(1, repeat // 10)
        ours, base, ratio = _compare(text, raw, rounds, repeat)
        worst = min(worst, ratio)
        n = len(raw.encode_ordinary(text))
        print(f"{label:32} {n:>9,} {ours * 1e6:>10.1f}us {base * 1e6:>10.1f}us {ratio:>7.3f}")
    verdict = "meets" if worst >= TARGET else "MISSES"
    print(f"throughput ratio tokenomy/tiktoken: worst {worst:.3f} ({verdict} the {TARGET} target)")
    return 0 if worst >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
