"""BudgetGuard: reserve the worst case before a request, settle to the real cost after.

``reserve(request)`` finds every policy that applies (all must admit), lets soft policies past
their threshold downgrade the request, prices the worst case it can bound (counted input at the
uncached rate, max_tokens at the output rate; :mod:`tokenomy.budgets.prices`), and reserves it on
every account at once in the ledger. When what is left cannot hold max_tokens but can hold a
useful answer (``min_output_tokens``), max_tokens is lowered to fit instead. ``settle`` replaces
the reservation by what was used (a cut stream or an error settles what it used, maybe 0);
``release`` frees it; a reservation never settled is released by the ledger after
``reservation_ttl`` seconds, unless its request is still running in this process
(:mod:`tokenomy.budgets.renewal` keeps it: only one whose holder died or dropped it expires).

The usual admission (no soft policy applies, the first reservation is granted) is one ledger
call: what comes before it is a :class:`~tokenomy.budgets.plans.Plan` kept per request shape while
its calendar windows and price day last (:mod:`tokenomy.budgets.plans`). Everything else is written
once, as a generator that yields the ledger operations it needs (``usage``, ``reserve``,
``rebuild``, ``wait``); :meth:`BudgetGuard.reserve` runs it with the ledger's blocking calls (and
sleeps) and :meth:`BudgetGuard.areserve` with its asyncio ones (and awaits). A hard account
blocked only by reservations in flight is waited on for up to ``contention_wait`` seconds
(:mod:`tokenomy.budgets.contention`). When the ledger cannot be reached, ``fail = "closed"``
refuses (503) and ``fail = "open"`` admits with ``enforced=False`` and an alert. Settlement
charges are computed by :mod:`tokenomy.budgets.charges`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable, Generator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from tokenomy.budgets import messages
from tokenomy.budgets.accounts import NO_MATCH, Account, Matcher
from tokenomy.budgets.admission import (
    BUDGET_UNAVAILABLE,
    Admission,
    BudgetRequest,
    Downgrade,
    Held,
    Rejection,
    Reservation,
    unpriced,
)
from tokenomy.budgets.alerts import Alert, Alerter
from tokenomy.budgets.asks import Ask, stepped
from tokenomy.budgets.charges import units as to_units
from tokenomy.budgets.contention import retried
from tokenomy.budgets.ledger import Granted, Ledger, LedgerUnavailable, Line, Outcome, Refused
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.plans import Plan, Plans, Shape
from tokenomy.budgets.policy import Policy, Unit
from tokenomy.budgets.prices import Card, PriceCards
from tokenomy.budgets.renewal import Holds
from tokenomy.budgets.settings import BudgetSettings, FailMode
from tokenomy.budgets.settling import Settling
from tokenomy.budgets.spend import SpendSource
from tokenomy.pricing import Pricer

_LINE_CACHE_MAX: Final = 65_536
_ANSWERS: Final = (Reservation, Downgrade, Rejection)
Op = tuple[Any, ...]


def _stored_bound(request: BudgetRequest, card: Card | str, unknown: int) -> int | None:
    """The input a request continuing a stored conversation (or naming a stored prompt) may be
    billed: its model's context window, or ``unknown`` tokens when the catalog knows none (an
    unpriced model under a token budget too), when that is larger than what it carries."""
    if not request.stored_input:
        return None
    window = card.context_window if isinstance(card, Card) and card.context_window else unknown
    return window if window > request.input_tokens else None


class BudgetGuard(Settling):
    """Admission and settlement against a set of policies (see the module docstring).

    Args:
        policies: The policies to enforce (all that apply to a request must admit it).
        ledger: Where accounts live; None is an in-process :class:`MemoryLedger`.
        settings: TTL, minimum useful output, fail mode, alert webhook...
        pricer: Prices worst cases and settlements; None uses the catalog alone.
        spend: Rebuilds a missing account's spend (the store); None starts accounts at zero.
        alerter: Logs and posts alerts; None builds one from ``settings.alert_webhook``.
        clock: Seconds since the epoch (injectable for tests).
    """

    def __init__(
        self,
        policies: Sequence[Policy],
        *,
        ledger: Ledger | None = None,
        settings: BudgetSettings | None = None,
        pricer: Pricer | None = None,
        spend: SpendSource | None = None,
        alerter: Alerter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings or BudgetSettings()
        self.ledger: Ledger = ledger or MemoryLedger(create_missing=spend is None, clock=clock)
        self.alerts = alerter or Alerter(self.settings.alert_webhook)
        self._cards = PriceCards(pricer)
        self._spend = spend
        self._clock = clock
        self._ids = itertools.count()
        self._prefix = f"{os.getpid():x}-{time.time_ns():x}-"
        self._today: tuple[float, date] = (0.0, date(1970, 1, 1))
        self._rules_lock = threading.Lock()
        self._generation = 0
        self.holds = Holds(self.ledger, self.settings, self.alerts)  # keeps requests in flight held
        # a guard dropped without close() stops renewing too (the finalizer holds the holds, not the guard)
        weakref.finalize(self, self.holds.close, wait=False)
        self._live = self.holds.live
        self.set_policies(policies)

    def set_policies(self, policies: Sequence[Policy]) -> None:
        """Replace the policies (requests already admitted keep their reservations)."""
        with self._rules_lock:  # the order matters: limits before the line cache (see _lines), plans last
            self._matchers = tuple(Matcher(p) for p in policies)
            self._limits = {p.name: to_units(p.limit, p.unit) for p in policies}
            self._soft = any(not p.hard for p in policies)
            self._mins = any(p.min_output_tokens is not None for p in policies)
            # (input tokens, account keys...) -> (card, lines): calendar lines change only with the
            # card and the keys (a new window or policy); the ledger gets the same tuple each time
            self._line_cache: dict[tuple[int | str, ...], tuple[Card | str, tuple[Line, ...]]] = {}
            self._plans = Plans([m.getter for m in self._matchers if m.getter is not None])
            self._generation += 1  # last: a request begun before keeps no plan (it may have read old rules)

    def applies(self, request: BudgetRequest, *, hard: bool = False) -> bool:
        """True when a policy (``hard``: a hard one) applies to ``request``."""
        return any((m.policy.hard or not hard) and m.value(request) is not NO_MATCH for m in self._matchers)

    @property
    def policies(self) -> tuple[Policy, ...]:
        """The policies enforced."""
        return tuple(m.policy for m in self._matchers)

    # -- admission -----------------------------------------------------------------------------

    def reserve(self, request: BudgetRequest) -> Admission:
        """Admit, shrink, downgrade or refuse a request, reserving its worst case (blocking ledger calls)."""
        try:
            plan = self._plan(request)
            if not isinstance(plan, Plan):
                return plan if isinstance(plan, _ANSWERS) else self._drive(plan)
            rid = self._new_id()
            first = self.ledger.reserve(rid, plan.lines, plan.want, plan.least, self.settings.reservation_ttl)
            if type(first) is Granted:  # the usual case: no generator, no contention machinery
                return self._granted(request, plan, rid, first)
            return self._drive(self._concluded(request, plan, rid, first))
        except LedgerUnavailable as exc:
            return self._unavailable(request, exc)

    async def areserve(self, request: BudgetRequest) -> Admission:
        """:meth:`reserve` for asyncio code (the ledger is awaited, the store read in a thread)."""
        try:
            plan = self._plan(request)
            if not isinstance(plan, Plan):
                return plan if isinstance(plan, _ANSWERS) else await self._adrive(plan)
            rid = self._new_id()
            ttl = self.settings.reservation_ttl
            first = await self.ledger.areserve(rid, plan.lines, plan.want, plan.least, ttl)
            if type(first) is Granted:
                return self._granted(request, plan, rid, first)
            return await self._adrive(self._concluded(request, plan, rid, first))
        except LedgerUnavailable as exc:
            return self._unavailable(request, exc)

    def _plan(self, request: BudgetRequest) -> Plan | Admission | Generator[Op, Any, Admission]:
        """The request's kept plan, else a new one (see :meth:`_planned`), an answer or a decision."""
        generation, now = self._generation, self._clock()
        shape, plan = self._plans.find(request, now)
        return plan if plan is not None else self._planned(request, now, shape, generation)

    def _planned(
        self, request: BudgetRequest, now: float, shape: Shape, generation: int
    ) -> Plan | Admission | Generator[Op, Any, Admission]:
        """A new plan (kept when only calendar accounts apply and the policies did not change since
        the request began: one made meanwhile may mix old and new rules), an answer, or the
        soft-policy decision."""
        accounts, local = self._applicable(request, now)
        if self._soft and _any_soft(accounts, local):
            return self._admit_soft(request, now, accounts, local)
        ask = Ask(request.model, request.max_tokens, request.reasoning_effort)
        found = self._prepared(request, ask, accounts, local, now)
        if isinstance(found, Plan) and not local:
            since = now - now % 86_400  # the prices' UTC day (Unix days are 86,400 s long)
            until = since + 86_400
            for account in accounts:
                if account.span is None:
                    return found
                since = max(since, account.span.start.timestamp())
                until = min(until, account.span.end.timestamp())
            with self._rules_lock:
                if self._generation == generation:
                    self._plans.keep(shape, found, since, until)
        return found

    def _new_id(self) -> str:
        return f"{self._prefix}{next(self._ids):x}"

    def _drive(self, steps: Generator[Op, Any, Admission]) -> Admission:
        """Run the decision's ledger operations with blocking calls."""
        try:
            op = next(steps)
            while True:
                op = steps.send(self._run(op))
        except StopIteration as done:
            result: Admission = done.value
            return result

    async def _adrive(self, steps: Generator[Op, Any, Admission]) -> Admission:
        """Run the decision's ledger operations with awaited calls."""
        try:
            op = next(steps)
            while True:
                op = steps.send(await self._arun(op))
        except StopIteration as done:
            result: Admission = done.value
            return result

    def _run(self, op: Op) -> Any:
        ledger = self.ledger
        if op[0] == "reserve":
            return ledger.reserve(op[1], op[2], op[3], op[4], op[5])
        if op[0] == "usage":
            return ledger.usage(op[1])
        if op[0] == "wait":
            time.sleep(op[1])
            return None
        for account in op[1]:
            ledger.seed(account.key, self._rebuilt(account), account.expire_at(self._clock()))
        return None

    async def _arun(self, op: Op) -> Any:
        ledger = self.ledger
        if op[0] == "reserve":
            return await ledger.areserve(*op[1:])
        if op[0] == "usage":
            return await ledger.ausage(op[1])
        if op[0] == "wait":
            await asyncio.sleep(op[1])
            return None
        for account in op[1]:
            spent = await asyncio.to_thread(self._rebuilt, account)
            await ledger.aseed(account.key, spent, account.expire_at(self._clock()))
        return None

    def _rebuilt(self, account: Account) -> int:
        if self._spend is None:
            return 0
        return to_units(self._spend.spent(account), account.policy.unit)

    def _admit_soft(
        self,
        request: BudgetRequest,
        now: float,
        accounts: list[Account],
        local: list[tuple[Policy, str | None]],
    ) -> Generator[Op, Any, Admission]:
        """The decision when a soft policy applies: read the used shares, downgrade, then reserve."""
        usage = yield from self._usage(accounts)
        ask = self._downgrade(
            request=request,
            ask=Ask(request.model, request.max_tokens, request.reasoning_effort),
            accounts=accounts,
            usage=usage,
            local=local,
            day=self._day(now),
        )
        found = self._prepared(request, ask, accounts, local, now)
        if not isinstance(found, Plan):
            return found
        rid, ttl = self._new_id(), self.settings.reservation_ttl
        first: Outcome = yield ("reserve", rid, found.lines, found.want, found.least, ttl)
        return (yield from self._concluded(request, found, rid, first))

    def _prepared(
        self,
        request: BudgetRequest,
        ask: Ask,
        accounts: list[Account],
        local: list[tuple[Policy, str | None]],
        now: float,
    ) -> Plan | Reservation | Downgrade | Rejection:
        """Price the worst case and build the ledger lines (or answer when no ledger call is needed)."""
        card = self._cards.card(request.provider, ask.model, self._day(now), request.input_tokens)
        bound = _stored_bound(request, card, self.settings.unknown_context_window)
        if bound is not None:  # priced at the rates of an input that large (a long-context tier)
            card = self._cards.card(request.provider, ask.model, self._day(now), bound)
        want = ask.max_tokens if ask.max_tokens is not None and ask.max_tokens >= 0 else None
        if want is None:
            want = self._want(card, ask, request.input_tokens)
        least = self._least(accounts, local) if self._mins else self.settings.min_output_tokens
        least = max(least, request.min_tokens)  # a thinking request's own floor
        least = want if want < least else least
        lines = self._lines(accounts, card, ask.model, request, now)
        if isinstance(lines, Rejection):
            return lines
        if local:
            capped = self._local_caps(local, card, ask.model, request, (want, least))
            if isinstance(capped, Rejection):
                return capped
            want = capped
        if not lines:
            return self._admitted(request, ask, card, max_tokens=want)
        return Plan(accounts, ask, card, lines, want=want, least=least)

    def _concluded(
        self, request: BudgetRequest, plan: Plan, rid: str, first: Outcome
    ) -> Generator[Op, Any, Admission]:
        """After the first outcome: grant, or rebuild missing accounts, wait out contention, refuse."""
        if isinstance(first, Granted):
            return self._granted(request, plan, rid, first)
        accounts, asked = plan.accounts, (plan.want, plan.least)
        outcome, waited = yield from retried(accounts, rid, plan.lines, asked, first, settings=self.settings)
        if not isinstance(outcome, Granted):
            line = plan.lines[outcome.index]
            return self._refusal(accounts[outcome.index], line, outcome, plan.least, waited=waited)
        return self._granted(request, plan, rid, outcome)

    def _granted(
        self, request: BudgetRequest, plan: Plan, rid: str, granted: Granted
    ) -> Reservation | Downgrade:
        accounts, amounts, held = plan.accounts, granted.amounts, []
        for i, account in enumerate(accounts):
            policy = account.policy
            held.append(Held(account.key, policy.name, policy.unit, amounts[i]))
        ask = plan.ask
        if ask.steps:
            self._soft_alerts(ask, accounts, granted)
        admitted = self._admitted(
            request, ask, plan.card, max_tokens=granted.max_tokens, held=tuple(held), rid=rid
        )
        self._live[rid] = admitted.reservation if isinstance(admitted, Downgrade) else admitted
        if self.holds.needs_thread:
            self.holds.start()
        return admitted

    def _day(self, now: float) -> date:
        """The UTC date of ``now`` (prices are dated), recomputed once a day."""
        start, day = self._today
        if not start <= now < start + 86_400:
            found = datetime.fromtimestamp(now, UTC).date()
            start = datetime(found.year, found.month, found.day, tzinfo=UTC).timestamp()
            self._today = (start, day := found)
        return day

    def _usage(self, accounts: list[Account]) -> Generator[Op, Any, list[tuple[int, int]]]:
        keys = [a.key for a in accounts]
        if not keys:
            return []
        found: list[tuple[int, int] | None] = yield ("usage", keys)
        if any(u is None for u in found):
            yield ("rebuild", [a for a, u in zip(accounts, found, strict=True) if u is None])
            found = yield ("usage", keys)
        return [u if u is not None else (0, 0) for u in found]

    def _applicable(
        self, request: BudgetRequest, now: float
    ) -> tuple[list[Account], list[tuple[Policy, str | None]]]:
        accounts: list[Account] = []
        local: list[tuple[Policy, str | None]] = []
        for matcher in self._matchers:
            found = matcher.account(request, now)
            if found is NO_MATCH:
                continue
            if isinstance(found, Account):
                accounts.append(found)
            else:
                value = matcher.value(request)
                local.append((matcher.policy, value if isinstance(value, str) else None))
        return accounts, local

    def _want(self, card: Card | str, ask: Ask, input_tokens: int) -> int:
        if ask.max_tokens is not None:
            return max(0, ask.max_tokens)
        known = self.settings.max_output_tokens.get(ask.model)
        if known is not None:
            return known
        if isinstance(card, Card) and card.context_window:
            return max(0, card.context_window - input_tokens)
        return self.settings.default_max_tokens

    def _least(self, accounts: list[Account], local: list[tuple[Policy, str | None]]) -> int:
        if not self._mins:
            return self.settings.min_output_tokens
        mins = [a.policy.min_output_tokens for a in accounts] + [p.min_output_tokens for p, _ in local]
        given = [m for m in mins if m is not None]
        return max(given) if given else self.settings.min_output_tokens

    def _line(
        self, policy: Policy, key: str, card: Card | str, request: BudgetRequest, expire_at: int
    ) -> Line | str:
        """The account's line: each of the request's answers (``choices``) may write max_tokens."""
        limit, inputs, answers = self._limits[policy.name], request.input_tokens, max(1, request.choices)
        stored = _stored_bound(request, card, self.settings.unknown_context_window)
        inputs = max(inputs, stored or 0)  # a stored conversation's input too
        if policy.unit is Unit.TOKENS:
            return Line(key, limit, inputs, 1000 * answers, policy.hard, expire_at)
        if isinstance(card, str):
            return card if policy.hard else Line(key, limit, 0, 0, False, expire_at)
        return Line(key, limit, card.fixed_nano(inputs), card.output_pico * answers, policy.hard, expire_at)

    def _lines(
        self, accounts: list[Account], card: Card | str, model: str, request: BudgetRequest, now: float
    ) -> tuple[Line, ...] | Rejection:
        """One line per account; calendar accounts' lines are cached (the cache taken before any
        limit is read: old limits can then only land in the old cache, see :meth:`set_policies`)."""
        cache = self._line_cache
        calendar = True
        for account in accounts:
            if account.span is None:
                calendar = False
                break
        if calendar:
            key: tuple[int | str, ...] = (
                request.input_tokens,
                request.choices,
                int(request.stored_input),
                *[a.key for a in accounts],
            )
            cached = cache.get(key)
            if cached is not None and cached[0] is card:
                return cached[1]
        lines = []
        for account in accounts:
            line = self._line(account.policy, account.key, card, request, account.expire_at(now))
            if isinstance(line, str):
                return unpriced(account.policy, messages.unpriced(account.policy, model, line))
            lines.append(line)
        found = tuple(lines)
        if calendar:
            if len(cache) >= _LINE_CACHE_MAX:
                cache.clear()
            cache[key] = (card, found)
        return found

    def _local_caps(
        self,
        local: list[tuple[Policy, str | None]],
        card: Card | str,
        model: str,
        request: BudgetRequest,
        asked: tuple[int, int],
    ) -> int | Rejection:
        """The max_tokens left by per-request caps, or the refusal of the first that cannot fit."""
        want, least = asked
        for policy, value in local:
            if not policy.hard:
                continue
            line = self._line(policy, policy.name, card, request, 0)
            if isinstance(line, str):
                return unpriced(policy, messages.unpriced(policy, model, line))
            fit = line.fit(0, 0, want)
            if fit < least:
                return Rejection(
                    messages.too_big(policy, value, line.cost(least), least),
                    policy=policy.name,
                    scope=policy.describe_scope(value),
                    limit=policy.limit,
                    unit=policy.unit,
                    spent=Decimal(0),
                    reserved=Decimal(0),
                )
            want = fit
        return want

    def _downgrade(
        self,
        *,
        request: BudgetRequest,
        ask: Ask,
        accounts: list[Account],
        usage: list[tuple[int, int]],
        local: list[tuple[Policy, str | None]],
        day: date,
    ) -> Ask:
        shares: list[tuple[Policy, Decimal]] = []
        for account, (spent, reserved) in zip(accounts, usage, strict=True):
            if not account.policy.hard:
                shares.append((account.policy, Decimal(spent + reserved) / self._limits[account.policy.name]))
        if any(not p.hard for p, _ in local):
            card = self._cards.card(request.provider, ask.model, day, request.input_tokens)
            want = self._want(card, ask, request.input_tokens)
            for policy, _ in local:
                line = self._line(policy, policy.name, card, request, 0)
                if not policy.hard and isinstance(line, Line):
                    shares.append((policy, Decimal(line.cost(want)) / self._limits[policy.name]))
        return stepped(ask, shares)

    def _soft_alerts(self, ask: Ask, accounts: list[Account], granted: Granted) -> None:
        """Alert each soft account's new steps at the share that chose them (without this request's hold)."""
        if not ask.steps:
            return
        for account, (spent, reserved), own in zip(accounts, granted.usage, granted.amounts, strict=True):
            policy = account.policy
            taken = [s for name, s in ask.steps if name == policy.name]
            if not taken:
                continue
            share = (spent + reserved - own) / self._limits[policy.name]
            message = messages.downgraded(policy, account.value, share, taken)
            self.alerts.raise_once(Alert("downgrade", policy.name, account.key, message, len(taken), share))

    def _admitted(
        self,
        request: BudgetRequest,
        ask: Ask,
        card: Card | str,
        *,
        max_tokens: int,
        held: tuple[Held, ...] = (),
        rid: str | None = None,
    ) -> Reservation | Downgrade:
        priced = card if isinstance(card, Card) else None
        reservation = Reservation(
            id=rid or self._new_id(),
            model=ask.model,
            provider=request.provider,
            max_tokens=max_tokens,
            requested_max_tokens=request.max_tokens,
            reasoning_effort=ask.effort,
            input_tokens=request.input_tokens,
            choices=max(1, request.choices),
            held=held,
            card=priced,
        )
        return Downgrade(reservation, ask.steps) if ask.steps else reservation

    def _refusal(
        self, account: Account, line: Line, refused: Refused, least: int, *, waited: bool = False
    ) -> Rejection:
        policy, unit = account.policy, account.policy.unit
        spent, reserved, needed = refused.spent, refused.reserved, line.cost(least)
        # held only by requests in flight (the spend alone leaves room), waited for or not
        # (contention_wait = 0): a retry in a moment may fit, not the reset
        waited = waited or (reserved > 0 and spent + needed <= line.limit)
        if waited:
            wait = self.settings.contention_wait
            message = messages.held_in_flight(account, spent, reserved, needed, least, waited=wait)
        else:
            message = messages.refused(account, spent, reserved, needed, least)
        self.alerts.raise_once(Alert("exhausted", policy.name, account.key, message))
        return Rejection(
            message,
            policy=policy.name,
            scope=policy.describe_scope(account.value),
            limit=policy.limit,
            unit=unit,
            spent=messages.amount(spent, unit),
            reserved=messages.amount(reserved, unit),
            resets_at=account.resets_at,
            in_flight=waited,
        )

    def _unavailable(self, request: BudgetRequest, exc: LedgerUnavailable) -> Admission:
        url = getattr(self.ledger, "url", "ledger")
        if self.settings.fail is FailMode.CLOSED:
            return Rejection(messages.unavailable(str(url), str(exc)), status=503, type=BUDGET_UNAVAILABLE)
        minute = int(self._clock() // 60)
        note = f'budget ledger {url} is unreachable ({exc}); admitting requests unmetered (fail = "open")'
        self.alerts.raise_once(Alert("enforcement_off", None, None, note, minute))
        day = datetime.fromtimestamp(self._clock(), UTC).date()
        ask = Ask(request.model, request.max_tokens, request.reasoning_effort)
        card = self._cards.card(request.provider, request.model, day, request.input_tokens)
        # nothing is held, but the accounts are named: the settlement adds what was used once the
        # ledger answers again, so spend during the outage is not lost
        accounts, _ = self._applicable(request, self._clock())
        held = tuple(Held(a.key, a.policy.name, a.policy.unit, 0) for a in accounts)
        want = self._want(card, ask, request.input_tokens)
        admitted = self._admitted(request, ask, card, max_tokens=want, held=held)
        reservation = admitted.reservation if isinstance(admitted, Downgrade) else admitted
        reservation.enforced = False
        return reservation

    def _utc_date(self) -> date:
        """Today's UTC date by the guard's clock (prices are dated)."""
        return self._day(self._clock())

    def close(self) -> None:
        """Stop renewing, close the ledger's connections and stop the alert thread."""
        self.holds.close()
        self.ledger.close()
        self.alerts.close()


def _any_soft(accounts: list[Account], local: list[tuple[Policy, str | None]]) -> bool:
    """True when a soft policy applies (its used share decides a downgrade before pricing)."""
    for account in accounts:
        if not account.policy.hard:
            return True
    return any(not policy.hard for policy, _ in local)
