from __future__ import annotations

from fractions import Fraction

from tokenomy.analysis.shapley import shapley


def test_an_additive_quantity_gives_each_factor_its_own_change() -> None:
    moves = {"a": Fraction(3), "b": Fraction(-5), "c": Fraction(7, 2)}
    shares = shapley(list(moves), lambda switched: sum((moves[k] for k in switched), Fraction(0)))
    assert shares == moves


def test_a_product_splits_the_interaction_evenly() -> None:
    # x goes 1 -> 2 and y goes 1 -> 3: x*y goes 1 -> 6
    def value(switched: frozenset[str]) -> Fraction:
        x = Fraction(2) if "x" in switched else Fraction(1)
        y = Fraction(3) if "y" in switched else Fraction(1)
        return x * y

    shares = shapley(["x", "y"], value)
    assert shares == {"x": Fraction(2), "y": Fraction(3)}  # (1 + 3) / 2 and (2 + 4) / 2
    assert sum(shares.values()) == 6 - 1


def test_shares_always_add_up_to_the_change_and_ignore_order() -> None:
    def value(switched: frozenset[str]) -> Fraction:
        n = Fraction(10) if "n" in switched else Fraction(7)
        p = Fraction(3, 7) if "p" in switched else Fraction(1, 3)
        q = Fraction(5) if "q" in switched else Fraction(2)
        return n * p + n * q * p - q

    forward = shapley(["n", "p", "q"], value)
    backward = shapley(["q", "p", "n"], value)
    assert forward == backward
    assert sum(forward.values()) == value(frozenset("npq")) - value(frozenset())
