"""Attempts: steps become calls, with retry loops, truncation re-runs and failures.

Most steps are one call. A step hit by a retry loop is asked 2 to 4 times: the earlier attempts
either fail with a provider error (and the identical request is sent again after a back-off) or
return an unusable answer (and the request is re-sent with a short correction message appended,
so the earlier prompt becomes history and the note is the newest turn). A truncated step is
asked twice: the first answer stops at ``max_output_tokens`` with ``finish_reason=length``, the
re-run doubles the limit. The last main
step of a session that ends on a natural failure is a single failed call (error or timeout).

Only the final attempt of a step calls its tools and carries filler.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tokenomy.simulate import segments
from tokenomy.simulate.plan import Sessions
from tokenomy.simulate.steps import Steps
from tokenomy.simulate.tables import Tables

Array = npt.NDArray[Any]
Rng = np.random.Generator

OK: Final = 0
ERROR: Final = 1
TIMEOUT: Final = 2
FINISH_STOP, FINISH_TOOL_CALLS, FINISH_LENGTH = 0, 1, 2
FINISH_REASONS: Final = ("stop", "tool_calls", "length")
"""Normalised finish reasons (index 0, 1, 2); a failed call has none (-1)."""
ERROR_SHARES: Final = (0.5, 0.3, 0.2)
"""How often each of a provider's errors (catalog.ProviderRule.errors) is the one returned."""
NOTE_TOKENS: Final = (25, 71)
"""Tokens of the correction note appended when an unusable answer is re-asked."""
BAD_ANSWER_SCALE: Final = (0.6, 1.2)
"""An unusable answer is this many times as long as the good one."""


def expand(rng: Rng, tables: Tables, sessions: Sessions, steps: Steps) -> dict[str, Array]:
    """One entry per call, in step order: which step and attempt it is, how it ended, its sizes."""
    sess, sub, k = steps.sess, steps.sub, steps.k
    retry_row = ~sub & (k == sessions.retry_at[sess])
    trunc_row = ~sub & (k == sessions.trunc_at[sess])
    abort_row = ~sub & steps.last & (sessions.abort[sess] > 0)
    reps = 1 + np.where(retry_row, sessions.retry_extra[sess], 0) + trunc_row
    row, attempt = segments.repeat_index(reps)
    final = attempt == reps[row] - 1
    c_sess = sess[row]
    retry_error = retry_row[row] & ~final & sessions.retry_error[c_sess]
    status = np.where(abort_row[row], sessions.abort[c_sess], OK)
    status = np.where(retry_error, ERROR, status)
    noted = retry_row[row] & ~sessions.retry_error[c_sess] & (attempt >= 1)
    note = np.where(noted, rng.integers(*NOTE_TOKENS, size=len(row)), 0)
    return {
        "row": row,
        "attempt": attempt,
        "final": final,
        "sess": c_sess,
        "status": status,
        "note": note,
        "msgs": steps.msgs[row] + noted,
        "tools_on": final & (status == OK),
        **_outputs(
            rng,
            steps,
            row,
            final=final,
            bad=retry_row[row] & ~final & ~retry_error,
            truncated=trunc_row[row],
            status=status,
        ),
        **_errors(rng, tables, steps.model[row], status),
    }


def _outputs(
    rng: Rng, steps: Steps, row: Array, *, final: Array, bad: Array, truncated: Array, status: Array
) -> dict[str, Array]:
    """Visible and reasoning tokens, requested limit and finish reason of each call."""
    n = len(row)
    out, reasoning, max_out = steps.out[row], steps.reasoning[row], steps.max_out[row]
    scale = rng.uniform(*BAD_ANSWER_SCALE, size=n)
    out = np.where(bad, np.maximum(np.round(out * scale), 1).astype(np.int64), out)
    reasoning = np.where(bad, np.round(reasoning * scale).astype(np.int64), reasoning)
    cut = truncated & ~final
    out = np.where(cut, max_out - reasoning, out)
    max_out = np.where(truncated & final, 2 * max_out, max_out)
    failed = status != OK
    finish = np.where(steps.tool[row], FINISH_TOOL_CALLS, FINISH_STOP)
    finish = np.where(cut, FINISH_LENGTH, finish)
    return {
        "out": np.where(failed, 0, out),
        "reasoning": np.where(failed, 0, reasoning),
        "filler": np.where(final & ~failed, steps.filler[row], 0),
        "max_out": max_out,
        "finish": np.where(failed, -1, finish),
    }


def _errors(rng: Rng, tables: Tables, model: Array, status: Array) -> dict[str, Array]:
    """HTTP status and error type of failed calls (-1 where there is none)."""
    provider = tables.model_provider[model]
    which = np.searchsorted(np.cumsum(ERROR_SHARES), rng.random(len(model)), side="right")
    which = np.minimum(which, len(ERROR_SHARES) - 1)
    http = np.where(status == OK, 200, tables.provider_error_status[provider, which])
    kind = tables.provider_error_type[provider, which]
    timeout = tables.names.error_types.index("timeout")
    return {
        "http_status": np.where(status == TIMEOUT, -1, http),
        "error_type": np.where(status == ERROR, kind, np.where(status == TIMEOUT, timeout, -1)),
    }
