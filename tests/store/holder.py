"""A second process that holds a store file open, for the tests of what a held file says.

Run as a script (``python holder.py FILE [read-only]``) it opens FILE with DuckDB, prints
``held``, and keeps the file until its standard input closes. :func:`held` runs it and yields
the process, whose ``pid`` DuckDB names to anyone else who opens the file.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb


@contextmanager
def held(path: Path, *, read_only: bool = False) -> Iterator[subprocess.Popen[str]]:
    """``path`` held open (for writing, or ``read_only``) by another process while the block runs."""
    args = [sys.executable, __file__, str(path)] + (["read-only"] if read_only else [])
    holder = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held", "the holder process could not open the file"
        yield holder
    finally:
        holder.communicate("", timeout=30)


def _hold(path: str, read_only: bool) -> None:
    connection = duckdb.connect(path, read_only=read_only)
    print("held", flush=True)
    sys.stdin.read()
    connection.close()


if __name__ == "__main__":
    _hold(sys.argv[1], read_only=sys.argv[2:] == ["read-only"])
