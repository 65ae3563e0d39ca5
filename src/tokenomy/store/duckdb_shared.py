"""What the DuckDB store objects on one database file in one process share: a lock and a clock."""

from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path


class Shared:
    """What every store object on one database file in this process shares.

    DuckDB gives two connections to one file in one process the same database, so their writes
    could interleave: two transactions could both find a call id (or a rollup pair) missing and
    both insert it. One lock per file serializes them (reads too: each connection is used by one
    thread at a time anyway), and one stamp clock keeps every write's ``imported_at`` distinct.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.last_stamp = datetime(1970, 1, 1)


_SHARED: dict[str, Shared] = {}
_SHARED_GUARD = threading.Lock()
os.register_at_fork(after_in_child=_SHARED.clear)  # a lock held by a parent's thread stays held


def shared_state(path: Path) -> Shared:
    """The state every store object on ``path`` in this process shares (a fresh one in memory)."""
    if str(path) == ":memory:":
        return Shared()
    key = str(path.resolve())
    with _SHARED_GUARD:
        return _SHARED.setdefault(key, Shared())
