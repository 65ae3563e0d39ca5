"""A budget policy: who it covers (scope), over what period (window), how much (limit), and what it does.

A policy is plain data, validated once when it is built (from a ``[[budget]]`` table of
tokenomy.toml, from ``tokenomy budgets set``, or in code). Its fields:

* ``scope``: ``global``, ``team``, ``user``, ``api_key_id`` (also written ``key``), ``session``,
  ``feature`` or ``agent``. With ``match`` the policy covers one value of the scope (the team
  ``search``); without it every value gets a budget of its own (each team its own $50).
* ``window``: ``request`` (a cap per request), ``session`` (per session id), ``day``, ``week``
  (weeks start on Monday) or ``month``, reset at midnight in ``timezone`` (an IANA name).
* ``limit`` with its ``unit``: dollars (``limit_usd``, a Decimal) or tokens (``limit_tokens``).
* ``mode``: ``hard`` refuses what does not fit; ``soft`` lets spend go on but, once
  ``soft_threshold`` of the limit is used, takes the steps of its ``downgrade`` chain.

Every error names where the policy came from and which field is wrong.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tokenomy.errors import ConfigError

E = TypeVar("E", bound=StrEnum)


class Scope(StrEnum):
    """Whose spend a policy counts."""

    GLOBAL = "global"
    TEAM = "team"
    USER = "user"
    KEY = "api_key_id"
    SESSION = "session"
    FEATURE = "feature"
    AGENT = "agent"


class Window(StrEnum):
    """The period a policy's limit applies to."""

    REQUEST = "request"
    SESSION = "session"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Mode(StrEnum):
    """What a policy does when spend reaches it."""

    HARD = "hard"
    SOFT = "soft"


class Unit(StrEnum):
    """What a limit counts."""

    USD = "usd"
    TOKENS = "tokens"


CALENDAR_WINDOWS: Final = frozenset({Window.DAY, Window.WEEK, Window.MONTH})
DEFAULT_SOFT_THRESHOLD: Final = Decimal("0.8")
MAX_USD: Final = Decimal(9_000_000)
"""The largest dollar limit: ledgers count nano-dollars in integers exact in a double (2**53)."""
LEAST_USD: Final = Decimal("0.000000001")
"""The smallest dollar limit, one nano-dollar: a smaller one is 0 to the ledgers, exhausted at once."""
MAX_TOKENS_LIMIT: Final = 2**53
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SCOPE_ALIASES: Final = {"key": Scope.KEY, "virtual_key": Scope.KEY}
_EFFORTS: Final = ("none", "minimal", "low", "medium", "high")


@dataclass(frozen=True, slots=True)
class DowngradeStep:
    """One step of a soft policy's downgrade chain; steps are applied cumulatively, in order.

    Attributes:
        model: Send the request to this (cheaper) model instead.
        max_tokens: Lower the request's max_tokens to at most this.
        reasoning_effort: Ask for this reasoning effort (``low``, ``minimal``...).
        at: The used share of the limit (0..1] from which the step applies; None spreads the
            steps evenly from the policy's soft threshold up to 100%.
    """

    model: str | None = None
    max_tokens: int | None = None
    reasoning_effort: str | None = None
    at: Decimal | None = None

    def describe(self) -> str:
        """A short human description (``model=gpt-4o-mini, max_tokens<=512``)."""
        parts = []
        if self.model is not None:
            parts.append(f"model={self.model}")
        if self.max_tokens is not None:
            parts.append(f"max_tokens<={self.max_tokens}")
        if self.reasoning_effort is not None:
            parts.append(f"reasoning_effort={self.reasoning_effort}")
        return ", ".join(parts)

    def to_mapping(self) -> dict[str, Any]:
        """The step as a TOML/JSON table."""
        out: dict[str, Any] = {}
        for name in ("model", "max_tokens", "reasoning_effort"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.at is not None:
            out["at"] = str(self.at)
        return out


@dataclass(frozen=True, slots=True)
class Policy:
    """One budget policy (see the module docstring)."""

    name: str
    limit: Decimal
    unit: Unit
    scope: Scope = Scope.GLOBAL
    match: str | None = None
    window: Window = Window.DAY
    timezone: str = "UTC"
    mode: Mode = Mode.HARD
    soft_threshold: Decimal = DEFAULT_SOFT_THRESHOLD
    downgrade: tuple[DowngradeStep, ...] = ()
    min_output_tokens: int | None = None
    thresholds: tuple[Decimal, ...] = field(default=(), compare=False)
    """The share of the limit at which each downgrade step starts (derived)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "thresholds", _thresholds(self))

    @property
    def hard(self) -> bool:
        """True for a hard policy."""
        return self.mode is Mode.HARD

    @property
    def zone(self) -> ZoneInfo:
        """The time zone windows reset in."""
        return ZoneInfo(self.timezone)

    def describe_scope(self, value: str | None = None) -> str:
        """``team 'search'``, ``every user`` or ``global``."""
        if self.scope is Scope.GLOBAL:
            return "global"
        shown = value if value is not None else self.match
        return f"{self.scope.value} '{shown}'" if shown is not None else f"every {self.scope.value}"

    def describe_limit(self) -> str:
        """``$50.00 per month (Europe/Berlin)``, ``$0.001 per day (UTC)`` or ``2,000,000 tokens per request``.

        Dollars show cents, and every further digit the limit has (a limit under a cent is not $0.00).
        """
        amount = _dollars(self.limit) if self.unit is Unit.USD else f"{int(self.limit):,} tokens"
        zone = f" ({self.timezone})" if self.window in CALENDAR_WINDOWS else ""
        return f"{amount} per {self.window.value}{zone}"

    def to_mapping(self) -> dict[str, Any]:
        """The policy as a ``[[budget]]`` table (what ``parse_policy`` reads back)."""
        out: dict[str, Any] = {"name": self.name, "scope": self.scope.value}
        if self.match is not None:
            out["match"] = self.match
        out["limit_usd" if self.unit is Unit.USD else "limit_tokens"] = (
            str(self.limit) if self.unit is Unit.USD else int(self.limit)
        )
        out.update(window=self.window.value, timezone=self.timezone, mode=self.mode.value)
        if self.mode is Mode.SOFT:
            out["soft_threshold"] = str(self.soft_threshold)
            out["downgrade"] = [step.to_mapping() for step in self.downgrade]
        if self.min_output_tokens is not None:
            out["min_output_tokens"] = self.min_output_tokens
        return out


def _thresholds(policy: Policy) -> tuple[Decimal, ...]:
    steps = policy.downgrade
    if not steps:
        return ()
    start, span = policy.soft_threshold, Decimal(1) - policy.soft_threshold
    even = [start + span * i / len(steps) for i in range(len(steps))]
    return tuple(step.at if step.at is not None else even[i] for i, step in enumerate(steps))


_FIELDS: Final = frozenset(
    {
        "name",
        "scope",
        "match",
        "limit_usd",
        "limit_tokens",
        "window",
        "timezone",
        "mode",
        "soft_threshold",
        "downgrade",
        "min_output_tokens",
    }
)


def parse_policy(data: Mapping[str, Any], where: str) -> Policy:
    """Build a policy from a ``[[budget]]`` table.

    Args:
        data: The table (``name``, ``scope``, ``match``, ``limit_usd`` or ``limit_tokens``,
            ``window``, ``timezone``, ``mode``, ``soft_threshold``, ``downgrade``,
            ``min_output_tokens``).
        where: Where the table came from, for messages (``tokenomy.toml: budget[2]``).

    Raises:
        ConfigError: A field is missing, unknown or malformed (the message names it).
    """
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_FIELDS))}"
        )
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{where}: field 'name' must be 1-64 letters, digits, '_', '.' or '-' "
            f"(starting with a letter or digit), got {name!r}"
        )
    where = f"{where} (budget '{name}')"
    scope = _scope(data.get("scope", "global"), where)
    window = _choice(Window, data.get("window", "day"), "window", where)
    mode = _choice(Mode, data.get("mode", "hard"), "mode", where)
    unit, limit = _limit(data, where)
    policy = Policy(
        name=name,
        limit=limit,
        unit=unit,
        scope=scope,
        match=_match(data.get("match"), scope, where),
        window=window,
        timezone=_timezone(data.get("timezone", "UTC"), where),
        mode=mode,
        soft_threshold=_share(data.get("soft_threshold", DEFAULT_SOFT_THRESHOLD), "soft_threshold", where),
        downgrade=_steps(data.get("downgrade", ()), mode, where),
        min_output_tokens=_positive_int(data.get("min_output_tokens"), "min_output_tokens", where),
    )
    _check_thresholds(policy, where)
    return policy


def _scope(value: Any, where: str) -> Scope:
    if isinstance(value, str) and value.strip().lower() in _SCOPE_ALIASES:
        return _SCOPE_ALIASES[value.strip().lower()]
    return _choice(Scope, value, "scope", where)


def _choice(kind: type[E], value: Any, name: str, where: str) -> E:
    if isinstance(value, str):
        for member in kind:
            if member.value == value.strip().lower():
                return member
    known = ", ".join(m.value for m in kind)
    raise ConfigError(f"{where}: field '{name}' must be one of {known}, got {value!r}")


def _limit(data: Mapping[str, Any], where: str) -> tuple[Unit, Decimal]:
    usd, tokens = data.get("limit_usd"), data.get("limit_tokens")
    if (usd is None) == (tokens is None):
        raise ConfigError(
            f"{where}: give exactly one of 'limit_usd' (dollars, e.g. \"50.00\") or "
            f"'limit_tokens' (e.g. 2000000)"
        )
    if usd is not None:
        amount = _decimal(usd, "limit_usd", where)
        if amount < LEAST_USD or amount > MAX_USD:  # the ledgers count whole nano-dollars
            raise ConfigError(
                f"{where}: field 'limit_usd' must be at least {LEAST_USD:f} (the ledgers count whole "
                f"nano-dollars) and at most {MAX_USD}, got {usd!r}"
            )
        return Unit.USD, amount
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 0 < tokens <= MAX_TOKENS_LIMIT:
        raise ConfigError(f"{where}: field 'limit_tokens' must be a positive whole number, got {tokens!r}")
    return Unit.TOKENS, Decimal(tokens)


def _decimal(value: Any, name: str, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ConfigError(f"{where}: field '{name}' must be a number, got {value!r}")
    text = str(value).strip().removeprefix("$").replace("_", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{where}: field '{name}' must be a number, got {value!r}") from None
    if not amount.is_finite():
        raise ConfigError(f"{where}: field '{name}' must be a finite number, got {value!r}")
    return amount


def _share(value: Any, name: str, where: str) -> Decimal:
    text = value.strip() if isinstance(value, str) else value
    percent = isinstance(text, str) and text.endswith("%")
    amount = _decimal(text[:-1] if percent else text, name, where)
    amount = amount / 100 if percent else amount
    if not 0 < amount <= 1:
        raise ConfigError(f"{where}: field '{name}' must be a share in (0, 1] or a percentage, got {value!r}")
    return amount


def _match(value: Any, scope: Scope, where: str) -> str | None:
    if value is None:
        return None
    if scope is Scope.GLOBAL:
        raise ConfigError(f"{where}: field 'match' needs a scope other than global (team, user...)")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: field 'match' must be a non-empty string, got {value!r}")
    if value != value.strip():  # the gateway strips the values it reads: such a policy would match none
        raise ConfigError(
            f"{where}: field 'match' {value!r} has spaces around it; the gateway reads its headers' "
            f"values without them, so it would apply to none of its requests: use {value.strip()!r}"
        )
    return value


def _timezone(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(
            f"{where}: field 'timezone' must be an IANA name like 'Europe/Berlin', got {value!r}"
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{where}: field 'timezone' is not a known time zone: {value!r}; use an IANA name like "
            "'UTC' or 'Europe/Berlin'"
        ) from None
    return value


def _positive_int(value: Any, name: str, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}: field '{name}' must be a positive whole number, got {value!r}")
    return value


def _steps(value: Any, mode: Mode, where: str) -> tuple[DowngradeStep, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ConfigError(
            f"{where}: field 'downgrade' must be a list of tables like {{model = \"gpt-4o-mini\"}}"
        )
    if value and mode is Mode.HARD:
        raise ConfigError(f"{where}: field 'downgrade' applies to soft policies only; set mode = \"soft\"")
    return tuple(_step(item, f"{where}: downgrade[{i}]") for i, item in enumerate(value))


def _step(item: Any, where: str) -> DowngradeStep:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: a step must be a table like {{max_tokens = 512}}, got {item!r}")
    unknown = sorted(set(item) - {"model", "max_tokens", "reasoning_effort", "at"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)}; use model, max_tokens, reasoning_effort, at"
        )
    model, effort = item.get("model"), item.get("reasoning_effort")
    if model is not None and (not isinstance(model, str) or not model):
        raise ConfigError(f"{where}: field 'model' must be a model name, got {model!r}")
    if effort is not None and effort not in _EFFORTS:
        raise ConfigError(
            f"{where}: field 'reasoning_effort' must be one of {', '.join(_EFFORTS)}, got {effort!r}"
        )
    step = DowngradeStep(
        model=model,
        max_tokens=_positive_int(item.get("max_tokens"), "max_tokens", where),
        reasoning_effort=effort,
        at=None if item.get("at") is None else _share(item["at"], "at", where),
    )
    if not step.describe():
        raise ConfigError(f"{where}: a step must set model, max_tokens or reasoning_effort")
    return step


def _check_thresholds(policy: Policy, where: str) -> None:
    if policy.mode is Mode.SOFT and not policy.downgrade:
        raise ConfigError(
            f"{where}: a soft policy needs a 'downgrade' chain, "
            'e.g. downgrade = [{model = "gpt-4o-mini"}]'
        )
    marks = policy.thresholds
    if any(later <= earlier for earlier, later in itertools.pairwise(marks)):
        shown = ", ".join(str(m) for m in marks)
        raise ConfigError(f"{where}: the downgrade steps' 'at' shares must increase, got {shown}")
    if policy.window in (Window.REQUEST, Window.SESSION) and policy.timezone != "UTC":
        raise ConfigError(f"{where}: field 'timezone' applies to day, week and month windows only")


def _dollars(limit: Decimal) -> str:
    """``$1,500.00`` or ``$0.001``: two decimals at least, never fewer than the limit has."""
    cents = limit.quantize(Decimal("0.01"))
    return f"${cents:,.2f}" if cents == limit else f"${limit.normalize():,f}"
