"""The records everything else speaks: Usage, Cost, Attribution, Outcome, ToolUse, Call and Charge.

(An :class:`OutcomeEvent` carries an Outcome that arrives after its call or session.)
(A :class:`Finding` is what the waste audit found, with the calls it involves.)

Usage is kept in *exclusive* buckets that add up (DESIGN section 4)::

    input_total  = input_uncached + cache_read + cache_write_5m + cache_write_1h
    output_total = output_visible + reasoning

A bucket the provider did not report is ``None``, never 0. Providers sometimes report a total
without its split (Anthropic's ``output_tokens`` includes thinking tokens it does not count
separately), so the two totals are stored too: when every bucket of a side is known the total
equals their sum exactly, and when some are unknown the total is what the provider reported.

Numbers that cannot add up (a cache read larger than the reported input, say) are never clamped:
the adapter records the raw buckets with a data-quality flag, and pricing refuses to price them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

INPUT_BUCKETS: Final = ("input_uncached", "cache_read", "cache_write_5m", "cache_write_1h")
OUTPUT_BUCKETS: Final = ("output_visible", "reasoning")
BUCKETS: Final = INPUT_BUCKETS + OUTPUT_BUCKETS
"""The six exclusive token buckets, in display order."""
TOKEN_FIGURES: Final = (*BUCKETS, "input_total", "output_total")
"""The token figures a usage reports: the six buckets and the two side totals."""

MAX_TOKENS: Final = 10**10
"""The most tokens a figure of one call may hold (ten billion, some thousand times the largest context
window): a larger count is a bad record, rejected where it is read, so that sums over the store stay
within its 64-bit integers."""

MODALITIES: Final = ("audio", "image", "video")
"""Token modalities a provider may price apart from text."""
MODAL_BUCKETS: Final = ("input_uncached", "cache_read", "cache_write_5m", "cache_write_1h", "output_visible")
"""The buckets that may hold non-text tokens (reasoning is text)."""
MODAL_KEYS: Final = tuple(f"{bucket}.{modality}" for bucket in MODAL_BUCKETS for modality in MODALITIES)
"""Keys of :attr:`Usage.modalities`: ``<bucket>.<modality>``, such as ``input_uncached.audio``."""

COST_PARTS: Final = (*BUCKETS, "server_tools", "requests", "overhead")
"""Amounts a Cost is split into: the six token buckets, priced server-side tool uses (web
searches, code executions), the catalog's per-request fee and the configured per-request overhead."""

ATTRIBUTION_FIELDS: Final = (
    "user",
    "team",
    "project",
    "feature",
    "intent",
    "environment",
    "agent",
    "api_key_id",
)


class Status(StrEnum):
    """How a call ended."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    REJECTED_BUDGET = "rejected_budget"
    CANCELLED = "cancelled"


class Quality(StrEnum):
    """Data-quality flags: why a usage body cannot be trusted as reported.

    A call carrying any flag is stored as reported and shown as unpriceable.
    """

    NEGATIVE = "negative_bucket"
    """A bucket or a derived bucket came out below zero."""
    CACHE_EXCEEDS_INPUT = "cache_exceeds_input"
    """Cache reads plus writes are larger than the reported (inclusive) input."""
    REASONING_EXCEEDS_OUTPUT = "reasoning_exceeds_output"
    """Reasoning tokens are larger than the reported (inclusive) output."""
    CACHE_SPLIT_MISMATCH = "cache_split_mismatch"
    """The per-TTL cache writes do not add up to the reported cache-write total."""
    TOTAL_MISMATCH = "total_mismatch"
    """The provider's reported total disagrees with the sum of its parts."""
    NOT_INTEGER = "not_integer"
    """A token count was not a whole number."""
    MODALITY_EXCEEDS_BUCKET = "modality_exceeds_bucket"
    """A bucket's audio, image and video tokens add up to more than the bucket."""


class Kind(StrEnum):
    """Where a Usage came from."""

    REPORTED = "reported"
    """The provider reported it."""
    COUNTED = "counted"
    """Counted locally with the model's own tokenizer (exact for the text sent)."""
    ESTIMATED = "estimated"
    """Estimated locally (another family's tokenizer or a characters-per-token rule)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage in exclusive buckets (see the module docstring).

    Build it with :meth:`Usage.of`, which fills the totals from the buckets; construct it
    directly only to carry totals that the provider reported without their split.
    """

    input_uncached: int | None = None
    cache_read: int | None = None
    cache_write_5m: int | None = None
    cache_write_1h: int | None = None
    output_visible: int | None = None
    reasoning: int | None = None
    input_total: int | None = None
    output_total: int | None = None
    server_tools: Mapping[str, int] = field(default_factory=dict)
    """Server-side tool uses billed per use, keyed by genai-prices unit (``web_searches``...)."""
    kind: Kind = Kind.REPORTED
    quality: tuple[Quality, ...] = ()
    modalities: Mapping[str, int] = field(default_factory=dict)
    """Non-text tokens inside their buckets, keyed ``<bucket>.<modality>`` (:data:`MODAL_KEYS`):
    ``{"input_uncached.audio": 120}`` says 120 of the uncached input tokens were audio. They are
    part of the bucket, never added to it; a key that is absent is 0 (all text). Pricing charges
    them at the catalog's modality rate where it has one."""

    @classmethod
    def of(
        cls,
        *,
        input_uncached: int | None = None,
        cache_read: int | None = None,
        cache_write_5m: int | None = None,
        cache_write_1h: int | None = None,
        output_visible: int | None = None,
        reasoning: int | None = None,
        input_total: int | None = None,
        output_total: int | None = None,
        server_tools: Mapping[str, int] | None = None,
        kind: Kind = Kind.REPORTED,
        quality: tuple[Quality, ...] = (),
        modalities: Mapping[str, int] | None = None,
    ) -> Usage:
        """Build a Usage, deriving each total from its buckets when all of them are known.

        A total given explicitly is kept; when it disagrees with fully known buckets the
        result carries :attr:`Quality.TOTAL_MISMATCH`. Negative buckets carry
        :attr:`Quality.NEGATIVE`. Nothing is clamped. Modality counts of 0 are dropped; those of
        a known bucket that add up to more than it carry :attr:`Quality.MODALITY_EXCEEDS_BUCKET`.

        Raises:
            ValueError: A modality key is not one of :data:`MODAL_KEYS`.
        """
        ins = (input_uncached, cache_read, cache_write_5m, cache_write_1h)
        outs = (output_visible, reasoning)
        flags = list(quality)
        input_total = _side_total(ins, input_total, flags)
        output_total = _side_total(outs, output_total, flags)
        modal = {key: n for key, n in (modalities or {}).items() if n != 0}
        values = (*ins, *outs, input_total, output_total, *(server_tools or {}).values(), *modal.values())
        if any(v is not None and v < 0 for v in values) and Quality.NEGATIVE not in flags:
            flags.append(Quality.NEGATIVE)
        if modal and _modality_exceeds(dict(zip(BUCKETS, (*ins, *outs), strict=True)), modal):
            flags.append(Quality.MODALITY_EXCEEDS_BUCKET)
        return cls(
            *ins,
            *outs,
            input_total=input_total,
            output_total=output_total,
            server_tools=dict(server_tools or {}),
            kind=kind,
            quality=tuple(dict.fromkeys(flags)),
            modalities=modal,
        )

    @property
    def total(self) -> int | None:
        """All tokens processed (input plus output), or None when either side is unknown."""
        if self.input_total is None or self.output_total is None:
            return None
        return self.input_total + self.output_total

    @property
    def ok(self) -> bool:
        """True when no data-quality flag is set."""
        return not self.quality

    @property
    def estimated(self) -> bool:
        """True when the counts were not reported by the provider."""
        return self.kind is not Kind.REPORTED

    def buckets(self) -> dict[str, int | None]:
        """The six exclusive buckets by name."""
        return {name: getattr(self, name) for name in BUCKETS}

    def __add__(self, other: Usage) -> Usage:
        """Sum two usages bucket by bucket; a bucket unknown on either side stays unknown."""
        merged: dict[str, Any] = {}
        for name in (*BUCKETS, "input_total", "output_total"):
            a, b = getattr(self, name), getattr(other, name)
            merged[name] = None if a is None or b is None else a + b
        tools = dict(self.server_tools)
        for key, n in other.server_tools.items():
            tools[key] = tools.get(key, 0) + n
        modal = dict(self.modalities)
        for key, n in other.modalities.items():
            modal[key] = modal.get(key, 0) + n
        kind = max(self.kind, other.kind, key=_KIND_ORDER.index)
        return Usage(
            **merged,
            server_tools=tools,
            kind=kind,
            quality=tuple(dict.fromkeys(self.quality + other.quality)),
            modalities=modal,
        )

    def modal_tokens(self, bucket: str) -> dict[str, int]:
        """The non-text tokens of ``bucket`` by modality (empty when all of it is text)."""
        prefix = bucket + "."
        return {key.removeprefix(prefix): n for key, n in self.modalities.items() if key.startswith(prefix)}


_KIND_ORDER: Final = [Kind.REPORTED, Kind.COUNTED, Kind.ESTIMATED]
_MODAL_KEY_SET: Final = frozenset(MODAL_KEYS)


def _modality_exceeds(buckets: Mapping[str, int | None], modal: Mapping[str, int]) -> bool:
    """True when a known bucket's modality counts add up to more than it (raises on a bad key)."""
    sums: dict[str, int] = {}
    for key, n in modal.items():
        if key not in _MODAL_KEY_SET:
            raise ValueError(f"unknown modality key {key!r}: expected <bucket>.<audio|image|video>")
        bucket = key.partition(".")[0]
        sums[bucket] = sums.get(bucket, 0) + n
    return any((known := buckets[b]) is not None and n > known for b, n in sums.items())


def _side_total(parts: tuple[int | None, ...], reported: int | None, flags: list[Quality]) -> int | None:
    if any(p is None for p in parts):
        return reported
    computed = sum(p for p in parts if p is not None)
    if reported is not None and reported != computed:
        flags.append(Quality.TOTAL_MISMATCH)
        return reported
    return computed


@dataclass(frozen=True, slots=True)
class Cost:
    """What a call cost, split like its usage, with where the price came from.

    ``total`` is None when the call could not be priced; ``reason`` then says why. An unpriced
    call is never $0: it is counted and shown as unpriced.
    """

    total: Decimal | None
    parts: Mapping[str, Decimal] = field(default_factory=dict)
    """Amount per part of :data:`COST_PARTS`; a part with no usage is absent."""
    currency: str = "USD"
    source: str | None = None
    """``genai-prices@<version>``, ``override:<file>#<entry>``, ``provider`` or ``recorded``."""
    price_date: date | None = None
    """The date whose prices were applied (the call's date, or ``--at``)."""
    estimated: bool = False
    """True when the usage was estimated or a price had to be assumed."""
    reason: str | None = None
    """Why the call is unpriced, or the assumptions made when it is priced."""

    @property
    def priced(self) -> bool:
        """True when a total is known."""
        return self.total is not None

    @classmethod
    def unpriced(cls, reason: str, *, price_date: date | None = None) -> Cost:
        """A Cost that says the call could not be priced, and why."""
        return cls(total=None, reason=reason, price_date=price_date)


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who and what a call or charge is attributed to. Every field is optional."""

    user: str | None = None
    team: str | None = None
    project: str | None = None
    feature: str | None = None
    intent: str | None = None
    environment: str | None = None
    agent: str | None = None
    api_key_id: str | None = None
    """A hash of the key, never the key itself."""
    tags: Mapping[str, str] = field(default_factory=dict)

    def merged(self, inner: Attribution) -> Attribution:
        """This attribution overlaid by ``inner``'s set fields (inner scopes win)."""
        values = {name: getattr(inner, name) or getattr(self, name) for name in ATTRIBUTION_FIELDS}
        return Attribution(**values, tags={**self.tags, **inner.tags})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a call or session achieved; may arrive after the call."""

    success: bool | None = None
    score: float | None = None
    action: str | None = None


OutcomeTarget = Literal["call", "session"]
OUTCOME_TARGETS: Final[tuple[OutcomeTarget, ...]] = ("call", "session")


@dataclass(frozen=True, slots=True)
class OutcomeEvent:
    """An outcome recorded after the fact, for one call or for a whole session.

    Its native form is ``{"type": "outcome", "target": "call" | "session", "id": ..., "success": ...,
    "score": ..., "action": ..., "at": ...}``. ``id`` names the call or the session it is for; the
    triple (target, id, at) identifies the event, so a replayed event can be recognised.
    """

    target: OutcomeTarget
    id: str
    at: datetime
    success: bool | None = None
    score: float | None = None
    action: str | None = None

    @property
    def outcome(self) -> Outcome:
        """The outcome itself, without its target."""
        return Outcome(success=self.success, score=self.score, action=self.action)


@dataclass(frozen=True, slots=True)
class ToolUse:
    """One tool call the model asked for (or a server-side tool the provider ran)."""

    name: str
    args_hash: str | None = None
    """Hash of the canonical (sorted-key, compact) JSON arguments; never the arguments."""
    server: bool = False
    """True for provider-run tools (web search, code execution)."""


@dataclass(frozen=True, slots=True)
class Content:
    """Prompt and completion text, captured only when content capture is switched on."""

    prompt: str | None = None
    completion: str | None = None


@dataclass(frozen=True, slots=True)
class Call:
    """One LLM request and response. Field names follow the OTel GenAI conventions where one exists."""

    id: str
    provider: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    operation: str = "chat"
    api: str | None = None
    """chat | responses | messages | generate_content | converse | embeddings | completions."""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    session_id: str | None = None
    step: int | None = None
    streamed: bool | None = None
    batch: bool = False
    service_tier: str | None = None
    usage: Usage = field(default_factory=Usage)
    context_window: int | None = None
    max_output_tokens: int | None = None
    n_messages: int | None = None
    system_tokens: int | None = None
    tool_def_tokens: int | None = None
    user_tokens: int | None = None
    history_tokens: int | None = None
    prefix_hashes: tuple[str, ...] = ()
    status: Status = Status.OK
    error_type: str | None = None
    http_status: int | None = None
    finish_reason: str | None = None
    tool_uses: tuple[ToolUse, ...] = ()
    filler_tokens: int | None = None
    attribution: Attribution = field(default_factory=Attribution)
    outcome: Outcome | None = None
    cost: Cost | None = None
    provider_reported_cost: Decimal | None = None
    """The provider's own figure for the call (OpenRouter's ``usage.cost``), kept for reconciliation."""
    content: Content | None = None
    source: str | None = None
    """Where the record came from: ``import:<format>``, ``sdk``, ``gateway``, ``otlp``, ``simulate``."""

    @property
    def model(self) -> str | None:
        """The model that served the call, falling back to the one requested."""
        return self.response_model or self.request_model

    def replace(self, **changes: Any) -> Call:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Charge:
    """A non-LLM cost (a tool's API call, a search, a GPU-second) charged to a session."""

    id: str
    amount: Decimal
    kind: str
    at: datetime
    currency: str = "USD"
    session_id: str | None = None
    quantity: float | None = None
    unit: str | None = None
    description: str | None = None
    attribution: Attribution = field(default_factory=Attribution)
    source: str | None = None


def not_usd(currency: object) -> str | None:
    """Why a charge in ``currency`` cannot be kept (None: it can). Every cost tokenomy keeps, sums and
    budgets is in USD (the price catalog's currency): a charge in another currency would be added to
    them as dollars. No currency (None or "") is USD; the code is read in any case."""
    if currency is None or currency == "" or (isinstance(currency, str) and currency.upper() == "USD"):
        return None
    return f"{currency!r}: every cost is kept in USD (prices, budgets, reports); convert the amount first"


class Severity(StrEnum):
    """How much a waste finding matters (docs/audit.md gives the thresholds)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class WasteRole(StrEnum):
    """What a call is to a waste finding."""

    WASTED = "wasted"
    """The call as a whole was waste: a superseded attempt, a truncated call that was re-run, a repeated
    tool call. Its output is not useful output."""
    PARTIAL = "partial"
    """Some of the call's tokens or money were waste (filler, bloat, a missed cache); its output is useful."""
    CONTEXT = "context"
    """Involved but not wasted: the attempt that finally worked, the first of two identical tool calls."""


class WasteEffect(StrEnum):
    """Which money a fix saves on a call; the savings plan uses it not to count the same money twice."""

    CALL = "call"
    """The whole call goes away."""
    SYSTEM = "system"
    """System-prompt tokens go away."""
    INPUT = "input"
    """Other input tokens go away (history, a repeated tool result)."""
    OUTPUT = "output"
    """Output tokens go away (filler, reasoning)."""
    PREFIX = "prefix"
    """The stable prefix is read from a cache instead of being billed as fresh input."""
    PRICE = "price"
    """The same tokens are billed at a lower rate (another model, batch pricing)."""
    EXTRA = "extra"
    """Money outside the call's own tokens (a paid tool's charge, a repeated result read by the next call)."""


@dataclass(frozen=True, slots=True)
class FindingCall:
    """One call's part in a finding: its role, the tokens and dollars of waste on it, and why."""

    call_id: str
    session_id: str | None
    role: WasteRole
    tokens: int = 0
    cost: Decimal | None = None
    """Dollars wasted on this call; None when the call is unpriced."""
    effect: WasteEffect = WasteEffect.CALL
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A kind of waste found in one route (team, feature, agent, intent, provider, model) over a period.

    ``wasted_tokens`` and ``wasted_cost`` are what the audited period wasted; the monthly savings are a
    range at the period's volume, with the assumptions that produce it.
    """

    id: str
    category: str
    severity: Severity
    title: str
    fix: str
    calls: tuple[FindingCall, ...]
    wasted_tokens: int
    wasted_cost: Decimal | None
    """Sum over the priced calls; None when no involved call is priced."""
    unpriced_calls: int = 0
    monthly_savings_low: Decimal | None = None
    monthly_savings_high: Decimal | None = None
    assumptions: tuple[str, ...] = ()
    scope: Mapping[str, str | None] = field(default_factory=dict)
    """The route: ``team``, ``feature``, ``agent``, ``intent``, ``provider``, ``model``."""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    """What the detector measured (thresholds, baselines, counts), JSON-ready."""
    period_start: datetime | None = None
    period_end: datetime | None = None
    detector: str | None = None
    """``<category>/<version>`` of the rule that produced it."""
    audit_id: str | None = None
    created_at: datetime | None = None
    currency: str = "USD"

    @property
    def session_ids(self) -> tuple[str, ...]:
        """The sessions involved, in first-seen order."""
        return tuple(dict.fromkeys(c.session_id for c in self.calls if c.session_id is not None))

    def call_ids(self, role: WasteRole) -> tuple[str, ...]:
        """The ids of the calls with ``role``, in order."""
        return tuple(c.call_id for c in self.calls if c.role is role)


_T = TypeVar("_T")


def positional_maker(cls: type[_T]) -> Callable[..., _T]:
    """A constructor of ``cls`` taking every field positionally, in declaration order.

    ``cls`` must be a frozen, slotted dataclass without ``__post_init__``. The instance is the one
    ``cls(*values)`` makes, at about a third of the cost: a frozen dataclass's ``__init__`` sets each
    field with ``object.__setattr__``, which looks the field up by name. This makes the object as
    an instance of a plain twin class with the same slots (same layout, no ``__setattr__`` of its
    own), so each field is one plain attribute store, then gives it its class (a ``__class__``
    assignment, which Python allows between classes of the same layout). No defaults: every field
    is given. For hot paths only (the gateway makes a 39-field :class:`Call` per request); see
    :data:`new_call`.
    """
    params = dataclasses.fields(cls)  # type: ignore[arg-type]
    slots = cls.__dict__.get("__slots__")
    if slots is None or hasattr(cls, "__post_init__") or cls.__bases__ != (object,):
        raise TypeError(f"{cls.__name__} is not a slotted dataclass without __post_init__ or bases")
    names = [f.name for f in params]
    twin = type(f"_{cls.__name__}Fields", (), {"__slots__": slots})
    scope: dict[str, Any] = {"_new": object.__new__, "_twin": twin, "_cls": cls}
    body = "".join(f"    obj.{name} = {name}\n" for name in names)
    head = f"def make({', '.join(names)}):\n    obj = _new(_twin)\n"
    source = f"{head}{body}    obj.__class__ = _cls\n    return obj\n"
    exec(source, scope)  # generated from the field names, as dataclasses makes __init__
    maker: Callable[..., _T] = scope["make"]
    maker.__qualname__ = f"new_{cls.__name__.lower()}"
    return maker


if TYPE_CHECKING:  # checked as the classes themselves: give every field, in order
    new_call = Call
    new_usage = Usage
    new_cost = Cost
else:
    new_call = positional_maker(Call)
    """``Call(*all 39 fields)`` without its ``__init__`` (see :func:`positional_maker`)."""
    new_usage = positional_maker(Usage)
    new_cost = positional_maker(Cost)


def utc_now() -> datetime:
    """Now, as naive UTC: how records and the store's tables hold times."""
    return datetime.now(UTC).replace(tzinfo=None)
