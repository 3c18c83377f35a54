"""Normalisation of messy, bilingual CRM values into the forms ckn compares and stores.

Each function takes what a person typed (full-width digits, stray spaces between Chinese characters,
traditional characters, phones in five notations, dates in many formats) and returns one canonical
form, or raises :class:`BadValue` with a reason a user understands.
"""

from __future__ import annotations

import contextlib
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

import phonenumbers

from ckn.graph.errors import InvalidInput
from ckn.graph.names import match_key, text  # with the names they compare

__all__ = ["BadValue", "match_key", "text"]


class BadValue(InvalidInput):
    """A cell that cannot be normalised."""

    title = "Bad value"


_EMAIL = re.compile(
    r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9-]{1,63})+$"
)


def email(value: str) -> str:
    """A lower-cased, validated e-mail address (``mailto:`` and angle brackets removed)."""
    cleaned = text(value).strip("<>").removeprefix("mailto:").strip().lower()
    if not _EMAIL.match(cleaned):
        raise BadValue(f"not an e-mail address: {value[:80]!r}")
    return cleaned


DEFAULT_REGION = "CN"
"""Where a phone number written without a country code is taken to be (``CKN_PHONE_REGION``)."""


def phone(value: str, region: str = DEFAULT_REGION, fallback: str = DEFAULT_REGION) -> str:
    """One canonical form for a phone number: E.164 (``+<country><number>``), by libphonenumber.

    ``+86 138-0013-8000``, ``0086 13800138000``, ``13800138000`` and ``１３８００１３８０００`` all give
    ``+8613800138000``; ``030 1234567`` in ``region`` ``DE`` gives ``+49301234567``, as
    ``+49 30 1234567`` does anywhere. A number that is no valid number of ``region`` but is one of
    ``fallback`` (a Chinese mobile in a row whose city is Berlin) is read as the latter. Extensions are
    not part of the identity.

    Raises:
        BadValue: not a number a phone could have.

    """
    cleaned = text(value)
    cleaned = re.sub(r"(?i)\s*(ext\.?|x|转|分机)\s*\d+$", "", cleaned)
    digits = re.sub(r"\D", "", cleaned)
    if len(digits) < 6 or len(digits) > 17 or re.search(r"[A-Za-z]", cleaned):
        raise BadValue(f"not a phone number: {value[:80]!r}")
    known = _chinese_mobile(cleaned, region, fallback)
    if known is not None:
        return known
    readings = []
    for where in dict.fromkeys((region, fallback)):
        with contextlib.suppress(phonenumbers.NumberParseException):
            number = phonenumbers.parse(cleaned, where)
            if phonenumbers.is_possible_number(number):
                readings.append(number)
    if not readings:
        raise BadValue(f"not a phone number: {value[:80]!r}")
    best = next((n for n in readings if phonenumbers.is_valid_number(n)), readings[0])
    return phonenumbers.format_number(best, phonenumbers.PhoneNumberFormat.E164)


_MOBILE_WRITTEN = re.compile(r"(\+86|0086)?[ -]?(1\d\d|\(1\d\d\))[ -]?\d{4}[ -]?\d{4}", re.ASCII)
"""A Chinese mobile number as CRM exports write it: ``13800138000``, ``138 0013 8000``,
``(138) 0013-8000``, after ``+86`` or ``0086`` or not."""


def _chinese_mobile(cleaned: str, region: str, fallback: str) -> str | None:
    """:func:`phone` of a Chinese mobile number in a common notation, read without libphonenumber.

    What libphonenumber reads it as (a unit test compares the two on random numbers of every
    three-digit prefix, written in many notations, in several regions): with ``+86`` in any region;
    with ``0086`` or no prefix where both regions are China. ASCII digits only (other scripts' digits
    are left to libphonenumber). Reading a number with libphonenumber was a fifth of a structured
    ingest's time. None for anything else.
    """
    written = _MOBILE_WRITTEN.fullmatch(cleaned)
    if written is None or (written[1] != "+86" and not region == fallback == "CN"):
        return None
    return "+86" + re.sub(r"[^0-9]", "", cleaned)[-11:]  # the pattern ends in the eleven digits


def region_of(country: str | None, city: str | None, default: str = DEFAULT_REGION) -> str:
    """The phone region of a row: its country (an ISO code or a common name), or its city, or ``default``."""
    for value, table in ((country, _COUNTRIES), (city, _CITIES)):
        if not value:
            continue
        key = match_key(value)
        if table is _COUNTRIES and len(value.strip()) == 2 and value.strip().upper() in _REGIONS:
            return value.strip().upper()
        if key in table:
            return table[key]
    return default


_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
_COUNTRIES = {
    match_key(name): code
    for code, names in {
        "CN": ("China", "中国", "PRC", "中华人民共和国", "Mainland China"),
        "HK": ("Hong Kong", "香港"),
        "TW": ("Taiwan", "台湾", "臺灣"),
        "SG": ("Singapore", "新加坡"),
        "JP": ("Japan", "日本"),
        "KR": ("Korea", "South Korea", "韩国"),
        "DE": ("Germany", "Deutschland", "德国"),
        "AT": ("Austria", "Österreich", "奥地利"),
        "CH": ("Switzerland", "Schweiz", "瑞士"),
        "FR": ("France", "法国"),
        "GB": ("United Kingdom", "UK", "Great Britain", "England", "英国"),
        "IT": ("Italy", "意大利"),
        "ES": ("Spain", "西班牙"),
        "NL": ("Netherlands", "荷兰"),
        "SE": ("Sweden", "瑞典"),
        "US": ("United States", "USA", "美国"),
        "CA": ("Canada", "加拿大"),
        "AU": ("Australia", "澳大利亚"),
        "IN": ("India", "印度"),
    }.items()
    for name in names
}
_CITIES = {
    match_key(name): code
    for code, names in {
        "DE": (
            "Berlin",
            "柏林",
            "München",
            "Munich",
            "慕尼黑",
            "Hamburg",
            "汉堡",
            "Frankfurt",
            "法兰克福",
            "Köln",
            "Stuttgart",
        ),
        "AT": ("Wien", "Vienna", "维也纳"),
        "CH": ("Zürich", "Zurich", "苏黎世", "Genève", "Geneva", "Basel"),
        "FR": ("Paris", "巴黎", "Lyon"),
        "GB": ("London", "伦敦", "Manchester"),
        "SE": ("Stockholm", "斯德哥尔摩", "Malmö", "Göteborg"),
        "NL": ("Amsterdam", "阿姆斯特丹", "Rotterdam"),
        "US": ("New York", "纽约", "San Francisco", "旧金山", "Chicago", "Boston", "Los Angeles"),
        "JP": ("Tokyo", "东京", "Osaka", "大阪"),
        "SG": ("Singapore", "新加坡"),
        "HK": ("Hong Kong", "香港"),
    }.items()
    for name in names
}
"""Cities whose rows carry local phone numbers of another country than the default, by name."""


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
        found = float(cleaned) * factor
    except ValueError:
        raise BadValue(f"not a number: {value[:80]!r}") from None
    if not math.isfinite(found):
        raise BadValue(f"not a finite number: {value[:80]!r}")
    return found
