"""Loading what recording needs (the call builder, the ``o200k_base`` tokenizer) happens when capture is
configured, or when the application says (``tokenomy.warm_up``), never at ``import tokenomy``; a child
forked in the middle of it loads on its own.

Each case runs in a fresh interpreter: in the test process these modules are long loaded.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.capture.support import run_python

pytestmark = pytest.mark.integration

LOADED = (
    "('tiktoken' in sys.modules, 'tokenomy.capture.build' in sys.modules, "
    "'tokenomy.tokens' in sys.modules and 'o200k_base' in sys.modules['tokenomy.tokens']._CACHE._built)"
)
"""What is loaded, as a Python expression: tiktoken, the call builder, the built encoding."""


def _run(script: str) -> list[str]:
    return run_python("-c", textwrap.dedent(script)).stdout.split("\n")[:-1]


def test_warm_up_loads_the_builder_and_the_tokenizer_which_importing_tokenomy_does_not() -> None:
    lines = _run(
        f"""
        import sys, tokenomy
        print({LOADED})
        print(tokenomy.warm_up(60), {LOADED})
        print(tokenomy.warm_up(0))  # once loaded, at once
        """
    )
    assert lines == ["(False, False, False)", "True (True, True, True)", "True"]


def test_configure_starts_loading_in_the_background_before_any_call(tmp_path: Path) -> None:
    lines = _run(
        f"""
        import sys, tokenomy
        from tokenomy.capture.runtime import RUNTIME
        tokenomy.configure("duckdb:{tmp_path}/calls.duckdb", spool=False)
        print(RUNTIME._loaded.wait(60), {LOADED})
        """
    )
    assert lines == ["True (True, True, True)"]


def test_a_child_forked_while_the_tokenizer_is_being_built_builds_it_itself() -> None:
    """The parent's loading thread waits inside the encoding cache's lock (as if building) when the
    process forks: the child gets a fresh lock and loading of its own, and both count.

    The fork comes once the thread has reached the lock (an event it sets on its way in), never
    after a fixed time: the imports before it take 0.6-4 s, and a child forked in their middle
    inherits Python's locks on the modules being imported, held by a thread it does not have, and
    may hang on them (what the fork's own wait for the loading, FORK_WAIT, is there to avoid)."""
    lines = _run(
        """
        import os, signal, threading, tokenomy
        from tokenomy import tokens
        from tokenomy.capture import runtime
        from tokenomy.capture.runtime import RUNTIME

        class Reached:  # the cache's lock, held here, telling when the loading thread comes to it
            def __init__(self):
                self.lock, self.event = threading.Lock(), threading.Event()
            def __enter__(self):
                self.event.set()
                self.lock.acquire()
            def __exit__(self, *exc):
                self.lock.release()

        runtime.FORK_WAIT = 0.0  # the loading cannot end while the lock is held: the fork need not wait
        gate = tokens._CACHE._lock = Reached()
        gate.lock.acquire()  # the loading thread, once its imports are done, waits here as if building
        RUNTIME.preload()
        print(gate.event.wait(60))
        pid = os.fork()
        if pid == 0:
            signal.alarm(60)  # a child stuck on the parent's lock would end here, failing the test
            ok = tokenomy.warm_up(60) and tokens.count("hello world", model="gpt-4o").tokens == 2
            os._exit(0 if ok else 1)
        gate.lock.release()
        print(tokenomy.warm_up(60), tokens.count("hello world", model="gpt-4o").tokens)
        _, status = os.waitpid(pid, 0)  # bounded: the child's alarm ends it within 60 s
        print(os.waitstatus_to_exitcode(status) == 0)
        """
    )
    assert lines == ["True", "True 2", "True"]


def test_a_child_forked_while_a_thread_holds_the_loading_event_still_finds_it_done() -> None:
    """The loading has ended, but another thread is inside the lock of its event at the fork (as
    ``warm_up``'s wait, or the loading thread's ``set()``, hold it for an instant): the child gets
    an event of its own, already set, and its ``warm_up`` answers at once. It waited forever on the
    parent's event, whose lock no thread of the child would release."""
    lines = _run(
        """
        import os, signal, threading, tokenomy
        from tokenomy.capture.runtime import RUNTIME

        print(tokenomy.warm_up(60))
        inside, leave = threading.Event(), threading.Event()

        def hold():
            with RUNTIME._loaded._cond:  # the lock Event.wait() and Event.set() take
                inside.set()
                leave.wait(60)

        threading.Thread(target=hold, daemon=True).start()
        inside.wait(60)
        pid = os.fork()
        if pid == 0:
            signal.alarm(60)  # a child stuck on the parent's event would end here, failing the test
            os._exit(0 if tokenomy.warm_up(60) else 1)
        leave.set()
        _, status = os.waitpid(pid, 0)  # bounded: the child's alarm ends it within 60 s
        print(os.waitstatus_to_exitcode(status) == 0)
        """
    )
    assert lines == ["True", "True"]


def test_a_fork_soon_after_configure_waits_for_the_loading_so_the_child_can_import(tmp_path: Path) -> None:
    """The loading thread holds Python's import locks while it imports Arrow and DuckDB; a child
    forked then hung on its own first import of them (a server that configures, then forks its
    workers). The fork now waits for the loading to end first."""
    lines = _run(
        f"""
        import os, signal, time, tokenomy

        tokenomy.configure(sink="duckdb:{tmp_path / "store.duckdb"}")
        time.sleep(0.3)  # inside the loading's imports, where the child used to inherit their locks
        pid = os.fork()
        if pid == 0:
            signal.alarm(60)  # a child stuck on an import lock ends here, failing the test
            import duckdb, pyarrow, tokenomy.capture.build
            os._exit(0)
        _, status = os.waitpid(pid, 0)  # bounded: the child's alarm ends it within 60 s
        print(os.waitstatus_to_exitcode(status) == 0)
        """
    )
    assert lines == ["True"]
