"""Run every benchmark module (``bench/bench_*.py``), or the ones named on the command line.

Usage: ``python -m bench [name ...]`` where a name is the part after ``bench_``. Each module
exposes ``main(argv: list[str]) -> int`` and prints its own ratios; absolute times drift on a
shared machine, ratios measured in the same run hold.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def _modules() -> list[str]:
    here = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    names = [f"bench_{a}" for a in argv] or _modules()
    unknown = [n for n in names if n not in _modules()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(_modules())}", file=sys.stderr)
        return 2
    worst = 0
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(f"bench.{name}")
        worst = max(worst, int(module.main([])))
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
