"""Survival times in the units of the clinical table, converted to months for horizons."""

from __future__ import annotations

#: Days per unit; a month is the mean Gregorian month (365.25 / 12 days).
DAYS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12.0, "years": 365.25}


def to_months(time, unit: str):
    """``time`` (scalar, array or Series) in ``unit`` expressed in months."""
    if unit not in DAYS:
        raise ValueError(f"time unit must be one of {sorted(DAYS)}, got {unit!r}")
    return time * (DAYS[unit] / DAYS["months"])
