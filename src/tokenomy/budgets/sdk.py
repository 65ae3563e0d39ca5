"""SDK enforcement: the same policies, enforced in the process before a call leaves it.

``tokenomy.instrument(client, budget=SdkBudget(guard))`` asks :class:`SdkBudget` before every
LLM call. It counts the request's input (messages, system prompt, tool definitions) offline with
:mod:`tokenomy.tokens`, reserves through the guard and then:

* hard refusal: raises :class:`tokenomy.errors.BudgetExceeded` (carrying the Rejection); the call
  is never sent;
* admitted: the ticket's ``changes`` set the granted max_tokens (always sent, since it bounds the
  spend) and, for a soft downgrade, the cheaper model and reasoning effort, in the field names of
  the request's API (one :class:`BodyFields` per API, below);
* when the call ends, the ticket settles with its Usage (a cut stream with what it used).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from tokenomy.budgets.admission import BudgetRequest, Downgrade, Rejection, Reservation
from tokenomy.budgets.alerts import LOG
from tokenomy.budgets.guard import BudgetGuard
from tokenomy.budgets.settings import FailMode
from tokenomy.errors import BudgetExceeded, TokenomyError
from tokenomy.providers import OPENAI_REASONING, base_model, thinks_unseen
from tokenomy.schema import Attribution, Call, Status, Usage
from tokenomy.tokens import count, count_messages, count_tools


class Shown(Protocol):
    """What an instrumented client shows of a call (``tokenomy.capture.budget.AdmitRequest``)."""

    @property
    def provider(self) -> str: ...
    @property
    def api(self) -> str: ...
    @property
    def body(self) -> Mapping[str, Any]: ...
    @property
    def tools(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def attribution(self) -> Attribution: ...
    @property
    def session_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class BodyFields:
    """Where one API keeps max_tokens and reasoning effort in its request body.

    Attributes:
        max_tokens: Field names, preferred first (an existing one is replaced in place).
        effort: The reasoning-effort field, or None; ``reasoning.effort`` means nested.
        choices: The fields that ask for several answers (``n``, ``best_of``), each as long as
            max_tokens allows: the most any of them asks for is the number reserved.
        thinking: The body may enable extended thinking (Anthropic's ``thinking.budget_tokens``,
            which must stay below max_tokens: lowered with it, :func:`changes`).
        prompts: The body's ``prompt`` may be a list of prompts (a legacy completion), each
            answered ``n`` times.
    """

    max_tokens: tuple[str, ...]
    effort: str | None = None
    choices: tuple[str, ...] = ()
    thinking: bool = False
    prompts: bool = False


API_FIELDS: Final[dict[str, BodyFields]] = {
    "chat": BodyFields(("max_completion_tokens", "max_tokens"), "reasoning_effort", ("n",)),
    "completions": BodyFields(("max_tokens",), choices=("n", "best_of"), prompts=True),
    "responses": BodyFields(("max_output_tokens",), "reasoning.effort"),
    "messages": BodyFields(("max_tokens",), thinking=True),
    "embeddings": BodyFields(()),
}
"""Body fields by API surface (embeddings have no output: their input alone is reserved)."""


def input_tokens(body: Mapping[str, Any], tools: Sequence[Mapping[str, Any]], model: str | None) -> int:
    """The request's input tokens counted offline: messages or input (with the tool results and
    calls they carry), system or instructions, tools (and legacy ``functions``), a response schema."""
    total = 0
    for key in ("messages", "input"):
        value = body.get(key)
        if isinstance(value, str):
            total += count(value, model).tokens
        elif isinstance(value, list):
            messages = [m for m in value if isinstance(m, Mapping)]
            if messages or not value:
                total += count_messages(messages, model).tokens
                total += _unread(messages, model)
            total += _plain_inputs(value, model)
    for key in ("system", "instructions", "prompt"):
        value = body.get(key)
        if isinstance(value, str):
            total += count(value, model).tokens
        elif isinstance(value, list) and key == "prompt":  # a legacy completion's prompts (or token ids)
            total += _plain_inputs(value, model)
        elif isinstance(value, list):
            total += sum(count(b.get("text", ""), model).tokens for b in value if isinstance(b, Mapping))
    if tools:
        total += count_tools(tools, model).tokens
    functions = body.get("functions")  # chat's legacy tool definitions: in the prompt as tools are
    if isinstance(functions, list) and functions:
        total += count_tools([f for f in functions if isinstance(f, Mapping)], model).tokens
    schema = body.get("response_format")  # a structured output's JSON schema is read as input
    text = body.get("text")  # the Responses API's: text.format
    if not isinstance(schema, Mapping) and isinstance(text, Mapping):
        schema = text.get("format")
    if isinstance(schema, Mapping) and schema.get("type") == "json_schema":
        total += count(json.dumps(schema, ensure_ascii=False, separators=(",", ":")), model).tokens
    return total


_NOT_TEXT: Final = frozenset(
    {
        *("type", "id", "call_id", "tool_use_id", "status", "cache_control", "file_id"),
        *("source", "image_url", "file_data", "input_audio", "audio", "data"),  # media, billed by size
        *("encrypted_content", "signature"),  # reasoning carried back, opaque: not read as text
    }
)
"""Keys whose values are not read as text by the model (ids, markers, opaque reasoning) or are
billed by size (images, audio, files), skipped by :func:`_unread`; an Anthropic document whose
``source`` is plain text is read."""
_BLOB: Final = re.compile(r"[A-Za-z0-9+/=_-]{256,}")
"""A long run of base64's characters: media inlined under some other key when :func:`_is_blob` says
its mix of characters is base64's."""


def _is_blob(value: str) -> bool:
    """Whether ``value`` is base64 (media, billed by size, not read as text): a long run of its
    characters mixing upper case, lower case and digits as encoded bytes do (about 40%, 40% and 15%
    of them). snake_case text, hex digests and sequences are text a provider bills by the token:
    skipped as blobs, one request carrying 96 KB of hex digests reserved 29 tokens and was billed
    40,639."""
    if not _BLOB.fullmatch(value):
        return False
    sample = value[:1024]
    upper = sum(1 for c in sample if "A" <= c <= "Z")
    lower = sum(1 for c in sample if "a" <= c <= "z")
    digits = sum(1 for c in sample if c.isdigit())
    size = len(sample)
    return upper * 8 >= size and lower * 8 >= size and digits * 30 >= size


def _unread(messages: Sequence[Mapping[str, Any]], model: str | None) -> int:
    """Tokens of the text ``count_messages`` does not read: items with neither role nor content
    (a Responses ``function_call``'s arguments, a ``function_call_output``'s output) and content
    parts without a ``text`` (an Anthropic ``tool_result``'s content, a ``tool_use``'s input).

    Without them a request carrying a long tool result reserved a few tokens and was billed
    thousands: a single request could take a hard budget far past its limit.
    """
    texts: list[str] = []
    for message in messages:
        content = message.get("content")
        if "role" not in message and content is None:
            _strings(message, texts)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and not isinstance(part.get("text"), str):
                    _strings(part, texts)
    return count("\n".join(texts), model).tokens if texts else 0


def _strings(value: Any, out: list[str], depth: int = 0) -> None:
    """Every string in ``value`` (keys of mappings included, :data:`_NOT_TEXT` values left out)."""
    if isinstance(value, str):
        if not _is_blob(value):
            out.append(value)
    elif depth > 32:  # deeper than any real tool payload: counted as its JSON text
        out.append(json.dumps(value, ensure_ascii=False, default=str))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in _NOT_TEXT:
                out.append(str(key))
                _strings(item, out, depth + 1)
            elif key == "source" and isinstance(item, Mapping) and item.get("type") == "text":
                _strings(item.get("data"), out, depth + 1)  # a plain-text document: read as text
    elif isinstance(value, list):
        for item in value:
            _strings(item, out, depth + 1)


def _plain_inputs(items: list[Any], model: str | None) -> int:
    """Tokens of an embeddings-style input list: strings counted, token ids (or lists of them) as given."""
    total = 0
    for item in items:
        if isinstance(item, str):
            total += count(item, model).tokens
        elif isinstance(item, int):
            total += 1
        elif isinstance(item, list):
            total += sum(1 for t in item if isinstance(t, int))
    return total


def input_upper_bound(body: Mapping[str, Any]) -> int:
    """A safe upper bound on the request's input tokens when counting fails.

    A BPE token is at least one UTF-8 byte, so the byte length of the JSON holding the text
    fields (messages or input, system or instructions, prompt, tools) bounds their token count.
    """
    fields = {
        k: body[k] for k in ("messages", "input", "system", "instructions", "prompt", "tools") if k in body
    }
    return len(json.dumps(fields, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"))


def counted_input(
    body: Mapping[str, Any], tools: Sequence[Mapping[str, Any]], model: str | None
) -> tuple[int, bool]:
    """The input tokens to reserve, and True when they are :func:`input_upper_bound` (counting failed)."""
    try:
        return input_tokens(body, tools, model), False
    except TokenomyError:
        return input_upper_bound(body), True


def requested(body: Mapping[str, Any], fields: BodyFields) -> tuple[int | None, str | None]:
    """The request's max_tokens and reasoning effort, read from its API's fields (0: no output)."""
    if not fields.max_tokens:
        return 0, None
    # both chat fields given: the larger bounds the reservation (an upstream may honour either;
    # :func:`changes` sets both to the granted value)
    given = [n for n in (whole(body.get(k)) for k in fields.max_tokens) if n is not None]
    max_tokens = max(given) if given else None
    effort: Any = None
    if fields.effort is not None:
        head, _, tail = fields.effort.partition(".")
        effort = body.get(head)
        if tail:
            effort = effort.get(tail) if isinstance(effort, Mapping) else None
    return max_tokens, effort if isinstance(effort, str) else None


def choices(body: Mapping[str, Any], fields: BodyFields) -> int:
    """How many answers the request asks for (at least 1; ``best_of`` completions are all billed),
    for each of a legacy completion's prompts (a list of texts, or of token-id lists, is one prompt
    an item; a list of token ids is one prompt)."""
    asked = [n for n in (whole(body.get(k)) for k in fields.choices) if n is not None]
    prompt = body.get("prompt") if fields.prompts else None
    prompts = 1
    if isinstance(prompt, list) and prompt and type(prompt[0]) is not int:  # (ids are one prompt: no
        prompts = len(prompt)  # list mixes the forms, so the first item tells, without a pass over ids)
    return max([1, *asked]) * prompts


THINKING_LEAST: Final = 1024
"""Anthropic's smallest extended-thinking budget (``thinking.budget_tokens``)."""


def thinking_budget(body: Mapping[str, Any], fields: BodyFields) -> int | None:
    """The extended-thinking budget an Anthropic request enables (``thinking.budget_tokens``), or None."""
    thinking = body.get("thinking") if fields.thinking else None
    if not isinstance(thinking, Mapping) or thinking.get("type") != "enabled":
        return None
    return whole(thinking.get("budget_tokens"))


def least_tokens(body: Mapping[str, Any], fields: BodyFields) -> int:
    """The fewest output tokens the request can go out with (:attr:`BudgetRequest.min_tokens`): above
    its thinking budget, which may be lowered to Anthropic's least; 0 for any other request."""
    budget = thinking_budget(body, fields)
    return 0 if budget is None else min(budget, THINKING_LEAST) + 1


def refused_limit(
    guard: BudgetGuard, body: Mapping[str, Any], fields: BodyFields, request: BudgetRequest
) -> Rejection | None:
    """The refusal (400) of a request whose output limit is below 1 (0, -1) when a policy of ``guard``
    applies to it, asked before anything is reserved (a bad request is no budget refusal, and holds
    nothing): no answer can be bounded by it, and an upstream that reads it as "no limit" (some
    OpenAI-compatible servers take -1 so) would write past the budget. None for any other request."""
    for key in fields.max_tokens:
        value = whole(body.get(key))
        if value is not None and value < 1 and guard.applies(request):
            return Rejection(
                f"{key!r} is {value}: a budget bounds every answer, so an output limit must be 1 or more;"
                f" send a positive {key}, or leave it out and the budget sets one",
                status=400,
                type="invalid_request_error",
            )
    return None


def whole(value: Any) -> int | None:
    """A count as a lenient upstream reads it: an int, a float with no fraction (``8.0``) or a
    string of digits (``"8"``), as pydantic-based OpenAI-compatible servers take them; else None.

    Reading only ints let ``"n": "8"`` be reserved as one answer and sent on to a server that
    writes eight, and ``"max_tokens": "1000"`` be taken as unset (then sent as the budget's room)."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is str and (found := _LAX_WHOLE.fullmatch(value.strip())):
        return int(found.group(1).replace("_", ""))
    return None


_LAX_WHOLE: Final = re.compile(r"([+-]?[0-9]+(?:_[0-9]+)*)(?:\.0*)?")
"""A whole number as text as pydantic reads one in lax mode: a sign, ``_`` between digits, a fraction
of zeros (``"+8"``, ``"8_0"``, ``"8.0"``); reading only plain digits let a server write 80 answers
for a request reserved as one."""


def changes(body: Mapping[str, Any], fields: BodyFields, admitted: Reservation | Downgrade) -> dict[str, Any]:
    """The body fields to set so the call goes out as admitted.

    A request no policy applies to (nothing held) goes out unchanged: its output limit, when it
    set none, would otherwise be the model's whole context window less its input, larger than
    many models accept as an output limit.
    """
    res = admitted.reservation if isinstance(admitted, Downgrade) else admitted
    out: dict[str, Any] = {}
    if not res.held and res.model == body.get("model"):
        return out
    if res.model != body.get("model"):
        out["model"] = res.model
    if fields.max_tokens:  # embeddings have no output limit to send
        present = [k for k in fields.max_tokens if k in body]
        for key in present or _default_field(fields, res.model):
            given = whole(body.get(key))
            if len(present) > 1 and given is not None:
                out[key] = min(given, res.max_tokens)  # several given: each bounded, none raised
            else:
                out[key] = res.max_tokens
    thinking = thinking_budget(body, fields)
    if thinking is not None and thinking >= res.max_tokens:  # Anthropic refuses a budget at or above it
        if res.max_tokens > THINKING_LEAST:
            out["thinking"] = {**body["thinking"], "budget_tokens": res.max_tokens - 1}
        elif res.max_tokens < (requested(body, fields)[0] or 0):
            # lowered below any thinking answer (a downgrade step's limit): it goes out without
            out["thinking"] = {"type": "disabled"}
    effort = res.reasoning_effort
    if fields.effort is not None and effort is not None and effort != requested(body, fields)[1]:
        head, _, tail = fields.effort.partition(".")
        nested = body.get(head)
        out[head] = {**(nested if isinstance(nested, Mapping) else {}), tail: effort} if tail else effort
    return out


def _openai_reasoning(model: str) -> bool:
    """An OpenAI reasoning model, a fine-tune of one included (its API refuses ``max_tokens``); not
    one named through a router, which takes ``max_tokens``."""
    return "/" not in model and base_model(model).startswith(OPENAI_REASONING)


def stored_input(body: Mapping[str, Any]) -> bool:
    """True when the provider bills input the body does not carry: a Responses request that
    continues a stored conversation (``previous_response_id``, ``conversation``) or names a stored
    prompt (``prompt: {"id": ...}``; a completion's ``prompt`` is its text)."""
    return (
        body.get("previous_response_id") is not None
        or body.get("conversation") is not None
        or isinstance(body.get("prompt"), Mapping)
    )


def budget_request(
    body: Mapping[str, Any],
    fields: BodyFields,
    tools: Sequence[Mapping[str, Any]],
    *,
    provider: str | None,
    attribution: Attribution,
    session_id: str | None,
) -> tuple[BudgetRequest, bool]:
    """What a request body asks of a budget (the gateway's and ``instrument(budget=...)``'s alike), and
    whether its input had to be reserved at its upper bound (:func:`counted_input`)."""
    model = str(body["model"])
    max_tokens, effort = requested(body, fields)
    counted, bounded = counted_input(body, tools, model)
    request = BudgetRequest(
        model=model,
        provider=provider,
        input_tokens=counted,
        max_tokens=max_tokens,
        reasoning_effort=effort,
        attribution=attribution,
        session_id=session_id,
        choices=choices(body, fields),  # each answer asked for (n, best_of) may write max_tokens
        min_tokens=least_tokens(body, fields),  # above a thinking budget
        stored_input=stored_input(body),
    )
    return request, bounded


def settled_output(usage: Usage, *, streamed: bool, unseen: bool, cut: bool = False) -> Usage:
    """The usage a reservation settles with: a stream whose usage never arrived (its output counted
    from the text that came: failed, left by its reader, or never asked for its usage) of a request
    that may think unseen (:func:`thinks_unseen`), or one that ended before its end (``cut``: left
    by its reader, or failed), has its output unknown, so charged at its bound; any other, as given."""
    if streamed and (unseen or cut) and usage.estimated:
        return dataclasses.replace(usage, output_visible=None, reasoning=None, output_total=None)
    return usage


def _default_field(fields: BodyFields, model: str | None) -> tuple[str, ...]:
    """The field a limit goes in when the body set none: the surface's usual one (chat's
    ``max_tokens``, which OpenAI-compatible servers all read), or, for OpenAI's reasoning models,
    which refuse ``max_tokens``, ``max_completion_tokens``."""
    if len(fields.max_tokens) > 1 and model is not None and _openai_reasoning(model):
        return fields.max_tokens[:1]
    return fields.max_tokens[-1:]


_CUT_SHORT: Final = frozenset({Status.CANCELLED, Status.ERROR, Status.TIMEOUT})
"""How a call ends before its end: left by its reader, failed, timed out."""


def cut_short(call: Call) -> bool:
    """Whether a call ended before its output did: left, failed or timed out with no finish reason
    (a caller that stops at the finish reason, before the usage chunk that follows it, read the
    whole answer). Such a stream whose usage never arrived is charged its output at its bound."""
    return call.status in _CUT_SHORT and call.finish_reason is None


class SdkTicket:
    """One admitted call: its body changes, and its settlement when it ends (never raises)."""

    __slots__ = ("_admitted", "_changes", "_guard", "_unseen")

    def __init__(
        self,
        guard: BudgetGuard,
        admitted: Reservation | Downgrade,
        body_changes: dict[str, Any],
        unseen: bool = False,
    ) -> None:
        self._guard = guard
        self._admitted = admitted
        self._changes = body_changes
        self._unseen = unseen  # the request may think unseen (thinks_unseen)

    @property
    def changes(self) -> Mapping[str, Any]:
        """Top-level body fields to set before sending."""
        return self._changes

    @property
    def admitted(self) -> Reservation | Downgrade:
        """What the guard answered."""
        return self._admitted

    def settle(self, call: Call | None) -> None:
        """Settle with the call's usage (unknown usage charges the reservation in full); a stream
        whose usage never arrived (failed, left, or not asked for), of a request that may think
        unseen, is charged its output at its bound, as the gateway charges it (the text that came
        says nothing of the thinking before it); so is any stream its reader left, or that failed,
        before its usage: the provider may have written all of it after what the caller read (ten
        streams dropped unread went through a $0.05 budget charged their input alone, $0.10 billed)."""
        try:
            usage = call.usage if call is not None else Usage()
            streamed = call is not None and bool(call.streamed)
            cut = call is not None and cut_short(call)
            settled = settled_output(usage, streamed=streamed, unseen=self._unseen, cut=cut)
            self._guard.settle(self._admitted, settled)
        except Exception as exc:  # runs on the sink's thread: never let it die
            LOG.warning("tokenomy budget: could not settle a call (%r); its reservation expires", exc)


class SdkBudget:
    """The enforcer ``tokenomy.instrument(client, budget=...)`` takes (see the module docstring).

    Args:
        guard: The guard with the policies (``tokenomy.budgets.guard_from_config()``).
    """

    def __init__(self, guard: BudgetGuard) -> None:
        self.guard = guard

    def _request(self, shown: Shown) -> tuple[BudgetRequest, BodyFields] | None:
        fields = API_FIELDS.get(shown.api)
        if fields is None or not isinstance(shown.body.get("model"), str):
            return None
        request, bounded = budget_request(
            shown.body,
            fields,
            shown.tools,
            provider=shown.provider,
            attribution=shown.attribution,
            session_id=shown.session_id,
        )
        if bounded:
            LOG.warning(
                "tokenomy budget: could not count the input of a %s call; reserving %d (bytes)",
                request.model,
                request.input_tokens,
            )
        return request, fields

    def _ticket(self, shown: Shown, fields: BodyFields, admitted: Any) -> SdkTicket:
        if isinstance(admitted, Rejection):
            raise BudgetExceeded(admitted.message, rejection=admitted, status=admitted.status)
        body_changes = changes(shown.body, fields, admitted)
        # judged on the body as sent (a downgrade's model and effort), as the gateway judges it
        return SdkTicket(self.guard, admitted, body_changes, thinks_unseen({**shown.body, **body_changes}))

    def _judged(self, shown: Shown) -> tuple[BudgetRequest, BodyFields] | None:
        """:meth:`_request`, a body it cannot read refused when the budgets fail closed: sent
        unjudged, any such body (a system block whose text is null, a schema holding an object JSON
        cannot write) went past every budget; failing open, the error goes on (logged, call sent).

        Raises:
            BudgetExceeded: Status 400, the body could not be judged and the budgets fail closed.
        """
        try:
            return self._request(shown)
        except TokenomyError:
            raise
        except Exception as exc:
            if self.guard.settings.fail is not FailMode.CLOSED:
                raise
            raise BudgetExceeded(
                f"tokenomy budget: could not judge this request ({type(exc).__name__}: {exc}); "
                'refused, as budgets fail closed ([budgets] fail = "closed")',
                status=400,
            ) from exc

    def admit(self, request: Shown) -> SdkTicket | None:
        """Reserve for a call; raises BudgetExceeded when a hard budget refuses it."""
        found = self._judged(request)
        if found is None:
            return None
        self._check_limit(request, *found)
        return self._ticket(request, found[1], self.guard.reserve(found[0]))

    async def aadmit(self, request: Shown) -> SdkTicket | None:
        """:meth:`admit` for async clients."""
        found = self._judged(request)
        if found is None:
            return None
        self._check_limit(request, *found)
        return self._ticket(request, found[1], await self.guard.areserve(found[0]))

    def _check_limit(self, shown: Shown, request: BudgetRequest, fields: BodyFields) -> None:
        """Raise ``BudgetExceeded`` (status 400) for an output limit below 1 under a policy."""
        refused = refused_limit(self.guard, shown.body, fields, request)
        if refused is not None:
            raise BudgetExceeded(refused.message, rejection=refused, status=refused.status)
