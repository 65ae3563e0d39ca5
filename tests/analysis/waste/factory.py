"""Hand-built agent sessions for the detector tests: prompts as hashed segments, priced at real rates.

A :class:`Conversation` keeps one agent run's prompt the way a capture sees it: a system prompt,
tool definitions, a history of messages and a newest turn, each a named segment with a token count.
Prefix hashes are cut after the system prompt, after the tools, before the newest turn and at the
end (the simulator's convention), so "the same prompt" and "the previous prompt plus a note" come
out of the same arithmetic a real capture would do. Every call is priced with the catalog.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tokenomy import native
from tokenomy.analysis.dimensions import Scope, scope_sql
from tokenomy.analysis.waste.base import AuditOptions, Context, Detection, Detector
from tokenomy.pricing import Pricer
from tokenomy.schema import Attribution, Call, Charge, Status, ToolUse, Usage
from tokenomy.simulate import SimulationConfig, WasteRates, run
from tokenomy.store import DuckDBStore, open_store

T0 = datetime(2026, 10, 5, 9, 0, 0)
PRICER = Pricer()


def digest(*parts: str) -> str:
    """A 16-hex hash of the segments, as a capture would hash a prompt prefix."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


@dataclass
class Conversation:
    """One agent run; :meth:`ask` sends a call and, by default, carries its answer into the history."""

    session: str
    provider: str = "openai"
    model: str = "gpt-4.1-mini"
    agent: str | None = "bot"
    feature: str | None = "chat"
    team: str | None = "support"
    intent: str | None = "chat_support"
    system: int = 1_200
    tools: int = 400
    system_text: str = "system"
    tools_text: str = "tools"
    history: list[tuple[str, int]] = field(default_factory=list)
    step: int = 0
    clock: datetime = T0
    last: Call | None = None
    newest: tuple[str, int] | None = None

    def hashes(self, newest: tuple[str, int]) -> tuple[str, ...]:
        """Prefix hashes of the prompt: after system, after tools, before the newest turn, at the end."""
        head = [f"{self.system_text}:{self.system}", f"{self.tools_text}:{self.tools}"]
        history = [f"{name}:{n}" for name, n in self.history]
        return (
            digest(self.session, head[0]),
            digest(self.session, *head),
            digest(self.session, *head, *history),
            digest(self.session, *head, *history, f"{newest[0]}:{newest[1]}"),
        )

    def ask(
        self,
        call_id: str,
        newest: tuple[str, int],
        *,
        answer: int = 60,
        after: float = 5.0,
        carry: bool = True,
        **fields: Any,
    ) -> Call:
        """Send the history plus ``newest``; the answer (``answer`` tokens) joins the history if ``carry``."""
        self.clock += timedelta(seconds=after)
        self.step += 1
        history_tokens = sum(n for _, n in self.history)
        call = make_call(
            call_id,
            session=self.session,
            step=self.step,
            started_at=self.clock,
            provider=self.provider,
            model=self.model,
            attribution=Attribution(
                team=self.team, feature=self.feature, agent=self.agent, intent=self.intent
            ),
            system=self.system,
            tools=self.tools,
            history=history_tokens,
            user=newest[1],
            n_messages=len(self.history) + 2,
            hashes=self.hashes(newest),
            visible=answer,
            **fields,
        )
        self.last, self.newest = call, newest
        if carry and call.status is Status.OK:
            self.history += [newest, (f"answer-{call_id}", answer)]
        return call

    def reask(self, call_id: str, note: tuple[str, int], *, kept: bool = False, **fields: Any) -> Call:
        """Ask the last step again: its prompt becomes history, its answer is dropped, a note is the
        newest turn; ``kept`` when this attempt's answer is the one the run goes on with."""
        assert self.newest is not None
        self.history = [m for m in self.history if m[0] != f"answer-{self.last.id if self.last else ''}"]
        if self.newest not in self.history:
            self.history.append(self.newest)
        return self.ask(call_id, note, carry=kept, **fields)

    def again(self, call_id: str, note: tuple[str, int], *, kept: bool = False, **fields: Any) -> Call:
        """Ask the same step again over the same history with another note (``kept``: see :meth:`reask`)."""
        return self.ask(call_id, note, carry=kept, **fields)


def make_call(
    call_id: str,
    *,
    session: str | None,
    step: int | None = None,
    started_at: datetime | None = T0,
    provider: str = "openai",
    model: str = "gpt-4.1-mini",
    attribution: Attribution | None = None,
    system: int = 1_200,
    tools: int = 400,
    history: int = 0,
    user: int = 100,
    n_messages: int | None = 2,
    hashes: tuple[str, ...] = (),
    visible: int = 60,
    reasoning: int = 0,
    cache_read: int = 0,
    write_5m: int = 0,
    write_1h: int = 0,
    status: Status = Status.OK,
    http_status: int | None = None,
    finish_reason: str | None = "stop",
    tool_uses: Sequence[ToolUse] = (),
    filler_tokens: int | None = None,
    max_output_tokens: int | None = None,
    batch: bool = False,
    streamed: bool | None = None,
    usage: Usage | None = None,
    completion: str | None = None,
) -> Call:
    """A priced call whose input adds up: system + tools + history + newest turn."""
    total = system + tools + history + user
    if usage is None and status is Status.OK:
        usage = Usage.of(
            input_uncached=total - cache_read - write_5m - write_1h,
            cache_read=cache_read,
            cache_write_5m=write_5m,
            cache_write_1h=write_1h,
            output_visible=visible,
            reasoning=reasoning,
        )
    elif usage is None:
        usage = Usage.of(
            input_uncached=0, cache_read=0, cache_write_5m=0, cache_write_1h=0, output_visible=0, reasoning=0
        )
    call = Call(
        id=call_id,
        provider=provider,
        request_model=model,
        response_model=model,
        started_at=started_at,
        ended_at=None if started_at is None else started_at + timedelta(seconds=2),
        session_id=session,
        step=step,
        streamed=streamed,
        batch=batch,
        usage=usage,
        max_output_tokens=max_output_tokens,
        n_messages=n_messages,
        system_tokens=system,
        tool_def_tokens=tools,
        user_tokens=user,
        history_tokens=history,
        prefix_hashes=hashes,
        status=status,
        http_status=http_status or (200 if status is Status.OK else 429),
        finish_reason=finish_reason if status is Status.OK else None,
        tool_uses=tuple(tool_uses),
        filler_tokens=filler_tokens,
        attribution=attribution
        or Attribution(team="support", feature="chat", agent="bot", intent="chat_support"),
        content=None if completion is None else _content(completion),
    )
    return call.replace(cost=PRICER.price(call))


def _content(completion: str) -> Any:
    from tokenomy.schema import Content

    return Content(prompt=None, completion=completion)


def store_of(tmp_path: Path, calls: Iterable[Call], charges: Iterable[Charge] = ()) -> DuckDBStore:
    """A new store in ``tmp_path`` holding ``calls`` and ``charges``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = open_store(tmp_path / "audit.duckdb")
    store.insert_calls(list(calls))
    charges = list(charges)
    if charges:
        store.insert_charges(charges)
    return store


def context(store: DuckDBStore, options: AuditOptions | None = None) -> Context:
    """A detector context over every call of ``store``, with the catalog pricer."""
    return Context(store, scope_sql(Scope(), store.dialect), PRICER, options or AuditOptions())


def detect(tmp_path: Path, detector: Detector, calls: Iterable[Call], **kwargs: Any) -> Detection:
    """Run one detector over a store holding ``calls`` (and ``charges=`` if given)."""
    options = kwargs.pop("options", None)
    with store_of(tmp_path, calls, kwargs.pop("charges", ())) as store:
        return detector.detect(context(store, options))


@dataclass(frozen=True)
class Scored:
    """A detector's sessions on a simulation, next to the sessions the truth lists for its category."""

    found: set[str]
    truth: set[str]
    clean: int
    """Sessions of the simulation without an instance of the category."""


def score_on_simulation(
    tmp_path: Path, detector: Detector, *, rate: float, calls: int = 8_000, seed: int = 3
) -> Scored:
    """Simulate ``calls`` with only ``detector``'s category injected at ``rate``, and run it."""
    waste = WasteRates.none().with_overrides({detector.category: rate})
    config = SimulationConfig(calls=calls, days=3, seed=seed, waste=waste)
    data, truth = io.BytesIO(), io.BytesIO()
    run(config, data, truth)
    lines = [json.loads(line) for line in data.getvalue().splitlines()]
    made = [native.call_from_native(o) for o in lines if not native.is_charge(o)]
    charges = [native.charge_from_native(o) for o in lines if native.is_charge(o)]
    entries = [json.loads(line) for line in truth.getvalue().splitlines()]
    listed = {e["session_id"] for e in entries if e.get("category") == detector.category}
    with store_of(tmp_path, [c.replace(cost=PRICER.price(c)) for c in made], charges) as store:
        found = {h.session_id for h in detector.detect(context(store)).hits}
    sessions = {c.session_id for c in made}
    return Scored(found, listed, len(sessions - listed))
