"""Exact score arithmetic: totals, changes and comparisons with cutoffs and thresholds.

A score is a decimal number with at most six places (items step in whole points or tenths; mean-scored
and prorated totals are carried to six places). It travels as a ``float`` (events, snapshots, JSON and
FHIR keep their numbers), and that float is always the one nearest the decimal, because every total is
computed here in whole **micro-points** (integers, ``10**-6`` of a point) and divided once at the end.

Comparing two such floats is exact (rounding to the nearest float keeps order and equality), so
``total >= cutoff`` needs no help. Arithmetic on them does not: ``20.4 - 15.4`` is
``4.999999999999998`` in binary floating point. Every change and every comparison of a change with a
threshold therefore goes through :func:`units` and :func:`change`.
"""

from __future__ import annotations

from fractions import Fraction

#: Micro-points per point: the finest precision a score or a threshold may carry.
SCALE = 1_000_000


def units(value: float) -> int:
    """``value`` in whole micro-points (exact for any number with at most six decimal places)."""
    return round(value * SCALE)


def points(micro: int) -> float:
    """The float nearest ``micro`` micro-points (Python's int division is correctly rounded)."""
    return micro / SCALE


def within_precision(value: float) -> bool:
    """Whether ``value`` is a decimal of at most six places (the float nearest one), so :func:`units` is
    exact for it. A finer answer or total is refused, not rounded: rounding 24.9999996 to 25 would move it
    across a cutoff."""
    return points(units(value)) == value


def divide(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest whole number, halves to even (``round``)."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2):
        quotient += 1
    return quotient


def change(pre: float, post: float) -> float:
    """``post - pre``, exactly (the float nearest the decimal difference)."""
    return points(units(post) - units(pre))


def at_least(amount: float, threshold: float) -> bool:
    """``amount >= threshold`` on the decimals the two floats stand for."""
    return units(amount) >= units(threshold)


def exact(value: float) -> Fraction:
    """The decimal ``value`` stands for, as a fraction (for cutoffs computed from sample statistics)."""
    return Fraction(units(value), SCALE)
