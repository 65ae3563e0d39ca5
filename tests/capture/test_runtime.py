"""The process's capture state across ``os.fork``: the child records on its own, the parent is unaffected."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from tokenomy import capture
from tokenomy.capture.records import Record
from tokenomy.capture.runtime import RUNTIME, Runtime
from tokenomy.capture.sink.core import Sink
from tokenomy.capture.sink.settings import SinkSettings
from tokenomy.config import Config
from tokenomy.errors import ConfigError
from tokenomy.mockllm import MockThread
from tokenomy.schema import Call

pytestmark = pytest.mark.integration

CHAT: Any = [{"role": "user", "content": "Hello there"}]


class LineTarget:
    """Appends ``<pid> <call id>`` per call to a file, so two processes' deliveries can be told apart."""

    description = "lines"

    def __init__(self, path: Path) -> None:
        self.path = path

    def prepare(self, records: list[Record]) -> list[Record]:
        return records

    def send(self, records: Sequence[Record]) -> None:
        with open(self.path, "a", encoding="utf-8") as out:
            out.writelines(f"{os.getpid()} {r.id}\n" for r in records if isinstance(r, Call))

    def close(self) -> None:
        """Nothing to close."""

    def after_fork(self) -> None:
        """Nothing inherited to forget."""


def _client(mock: MockThread) -> OpenAI:
    return capture.instrument(OpenAI(base_url=mock.openai_base_url, api_key="k", max_retries=0))


def _in_child(mock: MockThread, answer: Path) -> int:
    """The forked child: starts empty, records its own call, delivers it alone."""
    fresh = capture.sink_stats()
    reply = _client(mock).chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    delivered = capture.flush(30)
    stats = capture.sink_stats()
    answer.write_text(reply.id, encoding="utf-8")
    ok = (fresh.enqueued, fresh.queued) == (0, 0) and delivered and (stats.enqueued, stats.sent) == (1, 1)
    return 0 if ok else 1


def test_a_forked_child_records_its_own_calls_and_never_the_parents(mock: MockThread, tmp_path: Path) -> None:
    out, answer = tmp_path / "delivered.txt", tmp_path / "child-call.txt"
    RUNTIME.configure(
        Sink(LineTarget(out), SinkSettings(flush_interval=60, batch_size=1000)), config=Config()
    )
    try:
        client = _client(mock)
        parent_ids = [client.chat.completions.create(model="gpt-4o", messages=CHAT).id for _ in range(3)]
        assert capture.sink_stats().queued == 3  # waiting in the parent's queue when it forks
        pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            code = 1
            try:
                code = _in_child(mock, answer)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert capture.sink_stats().queued == 3  # the fork took nothing from the parent
        assert capture.flush(30) is True
    finally:
        RUNTIME.shutdown(10)
    lines = [line.split() for line in out.read_text(encoding="utf-8").splitlines()]
    assert [ident for who, ident in lines if int(who) == os.getpid()] == parent_ids
    assert [ident for who, ident in lines if int(who) == pid] == [answer.read_text(encoding="utf-8")]


@pytest.mark.parametrize(
    ("named", "where"), [("env", "TOKENOMY_SINK"), ("file", "the configuration file's sink")]
)
def test_a_bad_sink_from_the_environment_or_the_file_says_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, named: str, where: str
) -> None:
    """Nothing in the application's code names it, so the error must."""
    monkeypatch.chdir(tmp_path)
    if named == "env":
        monkeypatch.setenv("TOKENOMY_SINK", "./x.duckdb")
    else:
        monkeypatch.delenv("TOKENOMY_SINK", raising=False)
        (tmp_path / "tokenomy.toml").write_text('[tokenomy]\nsink = "./x.duckdb"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{where}: sink './x.duckdb' is not a known target"):
        Runtime().configure_from_environment()
