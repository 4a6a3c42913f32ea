"""Survival times in the units of the clinical table, converted to and from months (horizons)."""

from __future__ import annotations

#: Days per unit; a month is the mean Gregorian month (365.25 / 12 days).
DAYS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12.0, "years": 365.25}


def _per_month(unit: str) -> float:
    if unit not in DAYS:
        raise ValueError(f"time unit must be one of {sorted(DAYS)}, got {unit!r}")
    return DAYS["months"] / DAYS[unit]


def to_months(time, unit: str):
    """``time`` (scalar, array or Series) in ``unit`` expressed in months."""
    return time / _per_month(unit)


def from_months(months, unit: str):
    """``months`` (scalar, array or Series) expressed in ``unit``."""
    return months * _per_month(unit)
