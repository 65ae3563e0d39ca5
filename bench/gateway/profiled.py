"""The tokenomy CLI with a switchable cProfile, for finding where a running gateway spends its CPU.

``TOKENOMY_BENCH_PROFILE=OUT python -m bench.gateway.profiled gateway --config T --sink none``
runs ``tokenomy gateway ...`` as usual; SIGUSR1 starts profiling the main thread (the event
loop's, where the gateway serves and builds its calls) afresh and SIGUSR2 stops and writes the
profile to OUT (``pstats`` format), so a window of steady load is profiled without the start-up.
Without the variable it is the plain CLI. The profile counts every Python call, so compare call
counts and the shares of functions between two runs of the same load, not absolute times
(profiling slows Python calls several times over).
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
from types import FrameType

from tokenomy.cli.main import main as cli_main


def main(argv: list[str]) -> int:
    """Run the CLI, with the profiling signals when ``TOKENOMY_BENCH_PROFILE`` names an output file."""
    out = os.environ.get("TOKENOMY_BENCH_PROFILE")
    if out:
        _install(out)
    return cli_main(argv)


def _install(out: str) -> None:
    current: list[cProfile.Profile] = []

    def start(_signum: int, _frame: FrameType | None) -> None:
        profiler = cProfile.Profile()
        current[:] = [profiler]
        profiler.enable()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        if current:
            profiler = current.pop()
            profiler.disable()
            profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
