"""Exact figures: every rate and median is kept as an integer ratio and rounded once, half away from zero.

Binary floating point cannot hold 51.25 % exactly when it is computed as 41 / 80 * 100 (it is
51.24999…), so a rate rounded from a float ends on the wrong side of a tie. Here the value stays a
Fraction until the one rounding, and only its rounded result becomes a float (for JSON and the documents).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction


def round_half_away(value: int | Fraction | Decimal, places: int) -> float:
    """Round an exact value once, half away from zero (not Python's banker's rounding): 41/80 × 100 is
    51.25 and gives 51.3. A float is refused: 41 / 80 * 100 is already 51.24999… before any rounding."""
    if isinstance(value, float):
        raise TypeError("round_half_away takes an exact value (int, Fraction or Decimal), not a float")
    exact = Fraction(value)
    scaled = abs(exact) * 10**places
    whole = (scaled.numerator * 2 + scaled.denominator) // (scaled.denominator * 2)  # floor(scaled + 1/2)
    rounded = Decimal(whole).scaleb(-places)
    return float(rounded if exact >= 0 else -rounded)


def percent(part: int, whole: int) -> Fraction:
    """part / whole × 100, exactly."""
    return Fraction(part * 100, whole)
