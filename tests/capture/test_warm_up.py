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
    """The parent's loading thread is made to wait inside the encoding cache's lock (as if building)
    when the process forks: the child gets a fresh lock and loading of its own, and both count."""
    lines = _run(
        """
        import os, signal, tokenomy
        from tokenomy import tokens
        from tokenomy.capture.runtime import RUNTIME

        from tokenomy.capture import runtime

        runtime.FORK_WAIT = 0.2  # the fork waits for the loading this long, then forks regardless
        tokens._CACHE._lock.acquire()  # the loading thread, once started, waits here as if building
        RUNTIME.preload()
        pid = os.fork()
        if pid == 0:
            signal.alarm(60)  # a child stuck on the parent's lock would end here, failing the test
            ok = tokenomy.warm_up(60) and tokens.count("hello world", model="gpt-4o").tokens == 2
            os._exit(0 if ok else 1)
        tokens._CACHE._lock.release()
        print(tokenomy.warm_up(60), tokens.count("hello world", model="gpt-4o").tokens)
        _, status = os.waitpid(pid, 0)  # bounded: the child's alarm ends it within 60 s
        print(os.waitstatus_to_exitcode(status) == 0)
        """
    )
    assert lines == ["True 2", "True"]


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
