"""An exact, order-free split of a change among the factors that caused it (Shapley values).

A quantity depends on several factors, each of which moved between a baseline and a current
period. ``value(S)`` is the quantity with the factors in ``S`` at their current values and the
others at their baseline values, so ``value(∅)`` is the baseline and ``value(all)`` the current
figure. Factor ``k``'s share of the change is its average marginal effect over every order in
which the factors could have switched:

    φ_k = Σ_{S ⊆ F∖{k}} |S|! (n − |S| − 1)! / n! · (value(S ∪ {k}) − value(S))

The shares always add up to ``value(all) − value(∅)`` exactly (with exact arithmetic, such as
:class:`fractions.Fraction`), and unlike sequential substitution they do not depend on an order.
With n factors, ``value`` is called 2^n times (each subset once).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from itertools import combinations
from math import factorial


def shapley(factors: Sequence[str], value: Callable[[frozenset[str]], Fraction]) -> dict[str, Fraction]:
    """Each factor's exact share of ``value(all factors) − value(no factor)``.

    Args:
        factors: The factor names (distinct).
        value: The quantity with the named factors switched to their current values.

    Returns:
        Factor name -> share; the shares sum to the total change exactly.
    """
    names = list(dict.fromkeys(factors))
    n = len(names)
    values: dict[frozenset[str], Fraction] = {}
    for size in range(n + 1):
        for subset in combinations(names, size):
            key = frozenset(subset)
            values[key] = Fraction(value(key))
    weights = [Fraction(factorial(s) * factorial(n - s - 1), factorial(n)) for s in range(n)]
    shares: dict[str, Fraction] = {}
    for name in names:
        total = Fraction(0)
        for key, before in values.items():
            if name not in key:
                total += weights[len(key)] * (values[key | {name}] - before)
        shares[name] = total
    return shares
