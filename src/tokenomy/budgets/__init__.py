"""Token budgets that hold under concurrency and streaming: reserve the worst case before, settle after.

Typical use (the gateway and the SDK do this on every request)::

    from tokenomy.budgets import BudgetGuard, BudgetRequest, Rejection

    guard = guard_from_config(store=store)       # [[budget]] tables of tokenomy.toml + the store's
    admission = guard.reserve(BudgetRequest(model="gpt-4o", input_tokens=1200, max_tokens=1024,
                                            attribution=Attribution(team="search")))
    if isinstance(admission, Rejection):
        ...                                      # 429 with admission.error_fields()
    else:
        ...                                      # call upstream with admission.max_tokens (and model)
        guard.settle(admission, usage)           # or guard.release(admission)

See docs/budgets.md.
"""

from __future__ import annotations

from tokenomy.budgets.admission import (
    Admission,
    BudgetRequest,
    Downgrade,
    Rejection,
    Reservation,
    Settlement,
)
from tokenomy.budgets.alerts import Alert, Alerter
from tokenomy.budgets.guard import BudgetGuard
from tokenomy.budgets.ledger import Ledger, LedgerUnavailable
from tokenomy.budgets.memory import MemoryLedger
from tokenomy.budgets.policy import DowngradeStep, Mode, Policy, Scope, Unit, Window, parse_policy
from tokenomy.budgets.sdk import SdkBudget
from tokenomy.budgets.settings import BudgetConfig, BudgetSettings, FailMode, load_budgets
from tokenomy.budgets.setup import guard_from_config
from tokenomy.budgets.utilization import UtilizationInputs, utilization_inputs

__all__ = [
    "Admission",
    "Alert",
    "Alerter",
    "BudgetConfig",
    "BudgetGuard",
    "BudgetRequest",
    "BudgetSettings",
    "Downgrade",
    "DowngradeStep",
    "FailMode",
    "Ledger",
    "LedgerUnavailable",
    "MemoryLedger",
    "Mode",
    "Policy",
    "Rejection",
    "Reservation",
    "Scope",
    "SdkBudget",
    "Settlement",
    "Unit",
    "UtilizationInputs",
    "Window",
    "guard_from_config",
    "load_budgets",
    "parse_policy",
    "utilization_inputs",
]
