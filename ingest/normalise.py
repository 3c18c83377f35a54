"""Normalisation of messy, bilingual CRM values into the forms ckn compares and stores.

Each function takes what a person typed (full-width digits, stray spaces between Chinese characters,
traditional characters, phones in five notations, dates in many formats) and returns one canonical
form, or raises :class:`BadValue` with a reason a user understands.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from functools import cache, lru_cache

import opencc

from graph.errors import InvalidInput


class BadValue(InvalidInput):
    """A cell that cannot be normalised."""

    title = "Bad value"


_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_EMAIL = re.compile(
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9-]{1,63})+$"
)


@cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


_SHORT = 100
"""Values up to this long (names, codes, places: they repeat from row to row) are remembered."""


def text(value: str) -> str:
    """NFKC (full-width to half-width), no spaces between Chinese characters, white space collapsed."""
    return _short_text(value) if len(value) <= _SHORT else _text(value)


def _text(value: str) -> str:
    value = unicodedata.normalize("NFKC", value)
    value = _SPACE_BETWEEN_CJK.sub("", value)
    return " ".join(value.split())


_short_text = lru_cache(maxsize=1 << 17)(_text)


@lru_cache(maxsize=1 << 17)
def match_key(value: str) -> str:
    """The form names are compared in: :func:`text`, simplified characters, case-folded."""
    return str(_t2s().convert(text(value))).casefold()


def email(value: str) -> str:
    """A lower-cased, validated e-mail address (``mailto:`` and angle brackets removed)."""
    cleaned = text(value).strip("<>").removeprefix("mailto:").strip().lower()
    if not _EMAIL.match(cleaned):
        raise BadValue(f"not an e-mail address: {value[:80]!r}")
    return cleaned


def phone(value: str) -> str:
    """One canonical form for a phone number: ``+<country><number>`` digits only.

    ``+86 138-0013-8000``, ``0086 13800138000``, ``13800138000`` and ``１３８００１３８０００`` all give
    ``+8613800138000``: an 11-digit number starting with 1 is a mainland China mobile.
    """
    cleaned = text(value)
    cleaned = re.sub(r"(?i)\s*(ext\.?|x|转|分机)\s*\d+$", "", cleaned)  # extensions are not identity
    digits = re.sub(r"\D", "", cleaned)
    if cleaned.startswith("00"):
        digits, cleaned = digits[2:], "+" + digits[2:]
    if len(digits) < 6 or len(digits) > 15:
        raise BadValue(f"not a phone number: {value[:80]!r}")
    if cleaned.startswith("+"):
        return "+" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+86" + digits
    if digits.startswith("86") and len(digits) == 13:
        return "+" + digits
    return digits


_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y.%m.%d",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%d %b %Y",
    "%b %d, %Y",
    "%Y%m%d",
)
_CHINESE_DATE = re.compile(
    r"^(\d{4})年(\d{1,2})月(\d{1,2})[日号]?\s*(?:(上午|下午)?\s*(\d{1,2})[:点时](\d{1,2})?分?)?$"
)
CHINA = timezone(timedelta(hours=8))


@lru_cache(maxsize=1 << 16)  # dates repeat from row to row
def date(value: str, *, default_tz: timezone = UTC) -> datetime:
    """A timezone-aware datetime from the common ways CRMs write dates.

    ISO, ``2026/10/02``, ``02.10.2026``, ``2026年10月2日 下午3点``, ...; times without a zone are taken
    in ``default_tz``.
    """
    cleaned = text(value)
    if not cleaned:
        raise BadValue("empty date")
    parsed: datetime | None = None
    with contextlib.suppress(ValueError):
        parsed = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    if parsed is None and (m := _CHINESE_DATE.match(cleaned)):
        year, month, day, half, hour, minute = m.groups()
        h = int(hour or 0) + (12 if half == "下午" and int(hour or 0) < 12 else 0)
        try:
            parsed = datetime(int(year), int(month), int(day), h, int(minute or 0))
        except ValueError as exc:
            raise BadValue(f"not a date: {value[:80]!r} ({exc})") from None
    for fmt in _DATE_FORMATS if parsed is None else ():
        try:
            parsed = datetime.strptime(cleaned, fmt)
            break
        except ValueError:
            continue
    if parsed is None:
        raise BadValue(f"not a date: {value[:80]!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=default_tz)
    if not 1900 <= parsed.year <= 2100:
        raise BadValue(f"date out of range: {value[:80]!r}")
    return parsed.astimezone(UTC)


def number(value: str) -> float:
    """A number from ``1,234.50``, ``￥1234``, ``1 234,5`` or ``12.5万``."""
    cleaned = text(value).replace(" ", "").lstrip("¥￥$€").removesuffix("元").removesuffix("RMB")
    factor = 1.0
    if cleaned.endswith("万"):
        factor, cleaned = 10_000.0, cleaned[:-1]
    elif cleaned.endswith("亿"):
        factor, cleaned = 100_000_000.0, cleaned[:-1]
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", cleaned):
        cleaned = cleaned.replace(",", "")
    elif re.fullmatch(r"-?\d+,\d+", cleaned):
        cleaned = cleaned.replace(",", ".")
    try:
        return float(cleaned) * factor
    except ValueError:
        raise BadValue(f"not a number: {value[:80]!r}") from None
