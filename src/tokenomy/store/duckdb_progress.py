"""How far a DuckDB statement has run, for progress bars: DuckDB's own estimate, read from a thread.

DuckDB tracks a statement's progress only with its progress bar on (``enable_progress_bar``, its
printing off so it draws nothing of its own), and ``query_progress()`` reads the estimate without
the connection's lock, so a helper thread can read it while the statement runs on the connection
(a percentage, or -1 while none is known). The native import (bytes of the file) and the export
(a share of the rows) report it so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final

import duckdb

POLL_SECONDS: Final = 0.2
_SETTINGS: Final = ("enable_progress_bar", "enable_progress_bar_print")


@contextmanager
def tracked(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB's progress tracking on for the block (printing nothing), the settings as they were after."""
    rows = con.execute(f"SELECT {', '.join(f'current_setting({n!r})' for n in _SETTINGS)}").fetchall()
    before = dict(zip(_SETTINGS, rows[0], strict=True))
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")
    try:
        yield
    finally:
        for name, value in before.items():
            con.execute(f"SET {name} = ?", [value])


class Poller:
    """Passes ``report`` how far the statements run on ``con`` inside the block are (0 to 100),
    every :data:`POLL_SECONDS`, from a thread of its own, while DuckDB knows (see :func:`tracked`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, report: Callable[[float], object]) -> None:
        self._con, self._report = con, report
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="tokenomy-progress", daemon=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._done.wait(POLL_SECONDS):
            try:
                percent = self._con.query_progress()
            except duckdb.Error:  # between two statements, or the connection closing: nothing to say
                continue
            if percent >= 0:
                self._report(min(float(percent), 100.0))
