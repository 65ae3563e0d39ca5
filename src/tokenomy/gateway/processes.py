"""Child processes for tests, the budget proof and benchmarks: ``tokenomy gateway`` and ``tokenomy mock-llm``.

:class:`ServerProcess` starts a command that announces ``... listening on http://host:port`` in
its first lines of output (both commands do; ``--port 0`` picks a free port), waits for that
line, and stops the child with SIGTERM (the gateway then drains its streams), killing it if it
does not exit in time. ``taskset`` pinning is a prefix of the command (``cpu=0``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from tokenomy.errors import ConfigError

_BANNER: Final = re.compile(r"listening on (http://[^\s]+)")


class ServerProcess:
    """A tokenomy server in a child process (see the module docstring).

    Args:
        args: The tokenomy command and its options (``["gateway", "--config", "t.toml"]``).
        cpu: Pin the child to this CPU with taskset (None: no pinning).
        env: Extra environment variables.
        module: The module run with ``python -m`` (default: the tokenomy CLI).
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        cpu: int | None = None,
        env: dict[str, str] | None = None,
        module: str = "tokenomy.cli.main",
    ) -> None:
        command = [sys.executable, "-m", module, *args, "--port", "0"]
        if cpu is not None:
            taskset = shutil.which("taskset")
            if taskset is None:
                raise ConfigError("taskset is not installed (util-linux); run without pinning")
            command = [taskset, "-c", str(cpu), *command]
        self.command = command
        self.env = {**os.environ, **(env or {})}
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None
        self.stderr: list[str] = []

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return None if self._proc is None else self._proc.pid

    def start(self, timeout: float = 60.0) -> Self:
        """Start the child and wait for its banner.

        Raises:
            ConfigError: It exited or said nothing in ``timeout`` seconds (its stderr is quoted).
        """
        proc = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env
        )
        self._proc = proc
        found = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.stderr.append(line)
                match = _BANNER.search(line)
                if match and not found.is_set():
                    self.base_url = match.group(1).rstrip("/")
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(timeout):
            self.stop()
            raise ConfigError(f"{' '.join(self.command[-6:])} did not start: {''.join(self.stderr)[-2000:]}")
        return self

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait, then SIGKILL; the exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._proc = None
        return proc.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def gateway_process(config: Path, *, cpu: int | None = None, sink: str = "none") -> ServerProcess:
    """``tokenomy gateway --config CONFIG --sink SINK --port 0`` (not started)."""
    return ServerProcess(["gateway", "--config", str(config), "--sink", sink], cpu=cpu)


def mock_process(*options: str, cpu: int | None = None) -> ServerProcess:
    """``tokenomy mock-llm OPTIONS --port 0`` (not started)."""
    return ServerProcess(["mock-llm", *options], cpu=cpu)


def proof_config(
    *, upstream: str, ledger: str, budget_usd: str, team: str = "proof", name: str = "proof-team"
) -> str:
    """A tokenomy.toml for gateways in front of ``upstream`` (an OpenAI base URL) enforcing one hard
    daily dollar budget on ``team`` through the shared ``ledger`` (the budget proof's set-up)."""
    lines = [
        "[budgets]",
        f'ledger = "{ledger}"',
        'fail = "closed"',
        "redis_timeout = 5",
        "[[budget]]",
        f'name = "{name}"',
        'scope = "team"',
        f'match = "{team}"',
        f'limit_usd = "{budget_usd}"',
        'window = "day"',
        "[gateway]",
        "read_timeout = 120",
        "[[gateway.route]]",
        'models = "*"',
        'kind = "openai"',
        f'base_url = "{upstream}"',
    ]
    return "\n".join(lines) + "\n"
