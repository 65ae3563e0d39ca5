"""SWE-agent trajectories (``.traj``): a session per run, a call per model turn, scaled to the run totals.

A trajectory keeps the conversation (``history``) and the run's totals (``info.model_stats``:
``tokens_sent``, ``tokens_received``, ``api_calls``, ``instance_cost``, ``total_cost``) but no
per-call usage. Each
assistant message of the history (demonstrations excluded) is a call whose prompt is every message
before it, counted locally (:mod:`tokenomy.importers.conversation`). When the run's totals are
recorded, the local counts are scaled so that the calls add up exactly to them: each call gets
its share of ``tokens_sent`` in proportion to its counted prompt (largest remainders get the
leftover tokens), and likewise for ``tokens_received``. Every call is marked estimated.

The recorded ``instance_cost`` (the run's own; ``total_cost`` when there is none, as it keeps
adding up over the instances of a batch run) is kept for reconciliation: it is spread over the
run's calls as ``provider_reported_cost`` in proportion to their tokens, so the session adds up to
exactly the recorded figure (compare per session, not per call).

A run saved before its last reply reached the history (its ``trajectory`` has more steps than the
history has replies) gets a call for each missing step, answering the whole history.

Tool uses: SWE-agent's commands are the tools. Newer trajectories record ``tool_calls``; older
ones an ``action`` string, read as the command name plus a hash of its arguments.

The model comes from ``--model``, else the trajectory's ``replay_config``; the session id is a
hash of the whole run (its history and totals).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Final

from tokenomy.importers.base import RecordImporter
from tokenomy.importers.conversation import Turn, make_turn, turns
from tokenomy.importers.ids import content_id
from tokenomy.importers.messages import Message, normalize, render, text_of, tool_uses_of
from tokenomy.importers.reading import Sample, Source
from tokenomy.importers.records import guarded, require_object
from tokenomy.importers.results import ImportOptions, Item, Note
from tokenomy.native import FieldError
from tokenomy.pricing.catalog import provider_of_model
from tokenomy.providers import from_model_prefix
from tokenomy.schema import Call, Content, Kind, ToolUse, Usage
from tokenomy.usage.base import args_hash, get_int, to_decimal

MONEY_STEP: Final = Decimal("0.000000000001")


class SweAgentImporter(RecordImporter):
    """SWE-agent ``.traj`` files."""

    name: ClassVar[str] = "swe-agent"
    summary: ClassVar[str] = (
        "SWE-agent trajectories (.traj): per-call tokens counted and scaled to the run totals."
    )

    def sniff(self, sample: Sample) -> float:
        """Sure for an object with a ``history`` list and a ``trajectory`` list or ``info``."""
        doc = sample.first if sample.kind == "json" else None
        if not isinstance(doc, Mapping) or not isinstance(doc.get("history"), list):
            return 0.0
        if isinstance(doc.get("trajectory"), list) or isinstance(doc.get("info"), Mapping):
            return 0.95
        return 0.0

    def read(self, source: Source, options: ImportOptions) -> Iterator[Item]:
        """The run's calls, plus notes on what had to be assumed."""
        notes: list[Note] = []
        yield from guarded(source, 1, _calls, source, options, notes)
        yield from notes


def _calls(source: Source, options: ImportOptions, notes: list[Note]) -> list[Call]:
    return trajectory_calls(source.document(), options, notes)


NO_TIMES: Final = (
    "a trajectory records no times: its calls have no start time, so they are priced at today's "
    "prices, show under '(no time)' in reports and are left out of any --since/--until period"
)


def trajectory_calls(document: Any, options: ImportOptions, notes: list[Note]) -> list[Call]:
    """The calls of one trajectory.

    Args:
        document: The parsed ``.traj`` object.
        options: Import options (``model`` overrides the trajectory's).
        notes: Receives notes on assumptions (missing model, call-count mismatch).

    Raises:
        FieldError: The history is not a list of messages.
    """
    traj = require_object(document, "a SWE-agent trajectory")
    history = traj.get("history")
    if not isinstance(history, list) or not all(isinstance(m, Mapping) for m in history):
        raise FieldError("history", "expected a list of message objects")
    stats = _stats(traj)
    provider, model = from_model_prefix(options.model or _model(traj))
    provider = provider or provider_of_model(model)
    if model is None:
        notes.append(
            Note(
                "no model in the trajectory: counts are estimates and calls are unpriced; pass --model "
                "the first time (importing the same file again skips its calls as duplicates)"
            )
        )
    notes.append(Note(NO_TIMES))
    messages = [normalize(m) for m in history]
    demo = [bool(m.get("is_demo")) for m in history]
    found = [(turn, history[turn.index]) for turn in turns(messages, None, model, skip=demo)]
    found += _unlogged_steps(traj, messages, len(found), model)
    usages = _scaled([turn for turn, _ in found], stats, notes)
    # the run's own cost: SWE-agent's total_cost keeps adding up over every instance of a batch run
    # (its stats are reset to the running total), instance_cost is this run's alone
    recorded = (
        stats.get("instance_cost") if stats.get("instance_cost") is not None else stats.get("total_cost")
    )
    costs = _allocate(to_decimal(recorded), usages, stats)
    session = content_id("swe-agent", history, stats)
    return [
        _call(
            turn=turn,
            usage=usage,
            cost=cost,
            raw=raw,
            provider=provider,
            model=model,
            session=session,
            options=options,
        )
        for (turn, raw), usage, cost in zip(found, usages, costs, strict=True)
    ]


def _unlogged_steps(
    traj: Mapping[str, Any], messages: list[Message], logged: int, model: str | None
) -> list[tuple[Turn, Mapping[str, Any]]]:
    """Model calls in ``trajectory`` beyond the replies in ``history`` (a run saved before its last
    reply was appended): each answered the whole history plus the steps before it."""
    steps = traj.get("trajectory")
    if not isinstance(steps, list) or len(steps) <= logged:
        return []
    prompt = list(messages)
    out: list[tuple[Turn, Mapping[str, Any]]] = []
    for offset, step in enumerate(steps[logged:]):
        if not isinstance(step, Mapping) or not isinstance(step.get("response"), str):
            break
        reply: Message = {"role": "assistant", "content": step["response"]}
        turn = make_turn(
            logged + offset + 1,
            index=len(prompt),
            prompt=list(prompt),
            reply=reply,
            tool_defs=None,
            model=model,
        )
        out.append((turn, step))
        prompt += [reply, {"role": "user", "content": str(step.get("observation") or "")}]
    return out


def _stats(traj: Mapping[str, Any]) -> dict[str, Any]:
    info = traj.get("info")
    stats = info.get("model_stats") if isinstance(info, Mapping) else None
    return dict(stats) if isinstance(stats, Mapping) else {}


def _model(traj: Mapping[str, Any]) -> str | None:
    config = traj.get("replay_config")
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            return None
    agent = config.get("agent") if isinstance(config, Mapping) else None
    model = agent.get("model") if isinstance(agent, Mapping) else None
    if isinstance(model, Mapping):
        for key in ("name", "model_name"):
            if isinstance(model.get(key), str) and model[key]:
                return str(model[key])
    return None


def _scaled(found: Sequence[Turn], stats: Mapping[str, Any], notes: list[Note]) -> list[Usage]:
    sent = get_int(stats, "tokens_sent")
    received = get_int(stats, "tokens_received")
    calls = get_int(stats, "api_calls")
    if calls and calls != len(found):
        notes.append(
            Note(
                f"model_stats.api_calls is {calls} but the history shows {len(found)} model calls; "
                "per-call tokens are scaled to the run totals all the same"
            )
        )
    inputs = [t.shape.input_tokens for t in found]
    outputs = [t.output_tokens for t in found]
    if sent:
        inputs = apportion(inputs, sent)
    if received:
        outputs = apportion(outputs, received)
    return [
        Usage.of(input_total=i, output_visible=o, output_total=o, kind=Kind.ESTIMATED)
        for i, o in zip(inputs, outputs, strict=True)
    ]


def apportion(weights: Sequence[int], total: int) -> list[int]:
    """Split ``total`` into whole numbers in proportion to ``weights`` that add up exactly.

    Each part gets the floor of its exact share; the tokens left over go one each to the parts
    with the largest remainders (the earlier part first on ties). All-zero weights split evenly.
    """
    if not weights:
        return []
    weight_sum = sum(weights)
    if weight_sum == 0:
        weights, weight_sum = [1] * len(weights), len(weights)
    shares = [w * total // weight_sum for w in weights]
    remainders = [w * total % weight_sum for w in weights]
    leftover = total - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:leftover]:
        shares[index] += 1
    return shares


def _allocate(
    total: Decimal | None, usages: Sequence[Usage], stats: Mapping[str, Any]
) -> list[Decimal | None]:
    """Spread the run's recorded cost over its calls by tokens; the last call takes the rounding."""
    if total is None or not usages or (total == 0 and not get_int(stats, "api_calls")):
        return [None] * len(usages)
    weights = [(u.input_total or 0) + (u.output_total or 0) for u in usages]
    if not any(weights):
        weights = [1] * len(weights)
    weight_sum = sum(weights)
    parts = [(total * w / weight_sum).quantize(MONEY_STEP) for w in weights]
    parts[-1] += total - sum(parts)
    return list(parts)


def _call(
    *,
    turn: Turn,
    usage: Usage,
    cost: Decimal | None,
    raw: Mapping[str, Any],
    provider: str | None,
    model: str | None,
    session: str,
    options: ImportOptions,
) -> Call:
    content = None
    if options.capture_content:
        content = Content(prompt=render(turn.prompt), completion=text_of(turn.reply.get("content")) or None)
    return Call(
        id=content_id("swe-agent", session, turn.prompt, turn.reply),
        provider=provider,
        request_model=model,
        session_id=session,
        step=turn.step,
        usage=usage,
        tool_uses=_tool_uses(turn.reply, raw),
        provider_reported_cost=cost,
        content=content,
        **turn.shape.fields(),
    )


def _tool_uses(reply: Message, raw: Mapping[str, Any]) -> tuple[ToolUse, ...]:
    uses = tool_uses_of(reply)
    if uses:
        return uses
    action = raw.get("action")
    if not isinstance(action, str) or not action.strip():
        return ()
    name, _, rest = action.strip().partition(" ")
    return (ToolUse(name=name.strip(), args_hash=args_hash(rest.strip())),)
