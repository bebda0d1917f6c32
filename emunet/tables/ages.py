"""Ages as the apiserver prints them in Tables: apimachinery's `HumanDuration`.

`kubectl get` shows the Age cell (and a restart's "ago") verbatim from the
server's Table, so the rounding rules here are upstream's to the second:
precise while an object is young, coarser as it ages. Pure: `now` is passed
in, so ages are testable and the caller owns the clock.
"""
from __future__ import annotations

from datetime import UTC, datetime

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_YEAR = 365 * _DAY


def human_duration(seconds: float) -> str:
    """apimachinery's HumanDuration: precise while young, coarser with age.

    A skew of up to a second into the future still reads `0s`, so that clocks a
    little apart do not print `<invalid>` for an object just created.
    """
    s = int(seconds)  # truncates toward zero, as Go's int(d.Seconds())
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 2 * _MINUTE:
        return f"{s}s"
    minutes = s // _MINUTE
    if minutes < 10:
        rest = s % _MINUTE
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 3 * 60:
        return f"{minutes}m"
    hours = s // _HOUR
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 8 * 24:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 2 * 365:
        return f"{days}d"
    years = days // 365
    if days < 8 * 365:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def parse_time(timestamp: str | None) -> datetime | None:
    """An RFC3339 time (`metav1.Time` or `MicroTime`) as an aware datetime."""
    if not timestamp:
        return None
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def age(timestamp: str | None, now: datetime) -> str:
    """The Age cell: time since `timestamp`, or `<unknown>` for a zero time."""
    then = parse_time(timestamp)
    if then is None:
        return "<unknown>"
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return human_duration((now - then).total_seconds())
