"""Numbers people type into modals (targets, check-in values), read in their own locale.

Babel knows each locale's decimal and group separators — "1,5" is 1.5 in German and "12.500" is
12,500, while in English "1,5" is a typo — so nothing here splits numbers by hand. What Babel
doesn't know is ours: the metric's unit (a rate is typed in percent, "%" or not), a currency
sign, "days", and the "12k" / "1.2m" sales people write.
"""

from __future__ import annotations

import math
import re
import unicodedata
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import NumberFormatError, format_decimal, get_group_symbol, parse_decimal

DEFAULT_LOCALE = "en_US"

_MULTIPLIERS = {"k": Decimal(1_000), "m": Decimal(1_000_000)}
_DAYS = re.compile(r"\s*(days?|d)\.?$", re.IGNORECASE)
_ISO_CODE = re.compile(r"^[A-Z]{3}\s*|\s*[A-Z]{3}$")
# French writes 1 234 with a narrow no-break space, Swiss German 12'000 with ' or ’.
_GROUP_LOOK_ALIKES = ((" ", "\u00a0", "\u202f"), ("'", "\u2019"))
_PERCENT_SIGNS = ("%", "\uff05", "\u066a")  # ASCII, full-width and Arabic percent signs


class TypedNumberError(ValueError):
    """What is wrong with a typed number, in words for the person who typed it."""


def locale_of(tag: str | None) -> str:
    """A Slack locale tag ('de-DE') as a Babel locale name ('de_DE'); English (US) if unknown."""
    if not tag:
        return DEFAULT_LOCALE
    try:
        return str(Locale.parse(tag, sep="-" if "-" in tag else "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return DEFAULT_LOCALE


def _strip_currency(text: str) -> str:
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Sc").strip()
    return _ISO_CODE.sub("", text).strip()


def parse_typed(text: str, unit: str, locale: str = DEFAULT_LOCALE) -> float:
    """A number as typed, in the metric's own unit ('percent' → a fraction: '26' and '26%' are
    0.26); raises TypedNumberError saying what is wrong."""
    raw = text.strip()
    if not raw:
        raise TypedNumberError("Give a number.")
    core = raw
    percent = core.endswith(_PERCENT_SIGNS)
    if percent:
        core = core[:-1].strip()
    if unit == "currency":
        core = _strip_currency(core)
    if unit == "days":
        core = _DAYS.sub("", core)
    multiplier = Decimal(1)
    if core[-1:].lower() in _MULTIPLIERS and unit in ("count", "currency"):
        multiplier = _MULTIPLIERS[core[-1].lower()]
        core = core[:-1].strip()
    group = get_group_symbol(locale)
    for look_alikes in _GROUP_LOOK_ALIKES:  # people type the key on their keyboard, not CLDR's
        if group in look_alikes:
            for typed in look_alikes:
                core = core.replace(typed, group)
    try:
        value = parse_decimal(core, locale=locale, strict=True) * multiplier
    except NumberFormatError as exc:
        hint = f" Did you mean {exc.suggestions[0]}?" if exc.suggestions else ""
        raise TypedNumberError(f"“{raw}” isn't a number as you'd write it.{hint}") from None
    if not value.is_finite():
        raise TypedNumberError(f"“{raw}” isn't a number.")
    if value < 0:
        raise TypedNumberError("Give a number of zero or more.")
    if percent and unit != "percent":
        raise TypedNumberError("This metric isn't a rate: give it without “%”.")
    if unit == "percent":
        if value > 100:
            raise TypedNumberError("A rate can't be over 100%.")
        return float(value / 100)
    if not math.isfinite(float(value)):  # 400 nines are a Decimal, but no float
        raise TypedNumberError("That number is too large.")
    return float(value)


def format_typed(value: float, unit: str, locale: str = DEFAULT_LOCALE) -> str:
    """A value written the way `parse_typed` reads it back in this locale ('26%', '12.500').

    Rounded first, then written with the locale's own pattern (India groups 1,20,000), which
    strict parsing insists on.
    """
    if unit == "percent":
        return f"{format_decimal(round(value * 100, 1), locale=locale)}%"
    return format_decimal(round(value, 2 if unit == "ratio" else 1), locale=locale)


def typing_example(locale: str = DEFAULT_LOCALE) -> str:
    """A placeholder showing how numbers are typed in this locale: 'e.g. 26% or 12,000'."""
    return f"e.g. {format_typed(0.26, 'percent', locale)} or {format_typed(12000, 'count', locale)}"
