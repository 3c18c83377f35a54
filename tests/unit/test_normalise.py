"""Normalising what people type into CRMs."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime

import pytest

from ckn.ingest import normalise
from ckn.ingest.normalise import BadValue
from ckn.ingest.tabular import BadRow, Mapping, Row, UndecodableFile, decode, read_rows


@pytest.mark.parametrize(
    "raw",
    [
        "+86 138-0013-8000",
        "13800138000",
        "１３８００１３８０００",
        "0086 138 0013 8000",
        "(+86) 138 0013 8000",
        "+86 13800138000 转 12",
    ],
)
def test_one_mobile_number_in_every_notation_is_one_phone(raw: str) -> None:
    assert normalise.phone(raw) == "+8613800138000"


def test_mobile_numbers_read_without_libphonenumber_are_read_as_libphonenumber_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(7)
    notations = [
        "{a}{b}{c}", "{a} {b} {c}", "{a}-{b}-{c}", "({a}) {b} {c}", "({a}){b}-{c}", " {a} {b}{c} ",
        "+86 {a}-{b}-{c}", "+86{a}{b}{c}", "+86 ({a}) {b} {c}", "0086 {a} {b} {c}", "0086{a}{b}{c}",
        "+86-{a}-{b}-{c}", "+8{a}{b}{c}", "+44 {a} {b} {c}", "00 86 {a} {b} {c}", "{a}{b}{c}0",
        "１{a2}{b}{c}", "{a}.{b}.{c}", "0{a}{b}{c}", "+86 {a} ٠٠١٣ {c}", "{a} ४५६७ {c}",
    ]  # fmt: skip
    prefixes = [f"1{d}{e}" for d in "0123456789" for e in "0123456789"]
    cases = [
        (
            rng.choice(notations).format(
                a=a, a2=a[1:], b=f"{rng.randrange(10_000):04}", c=f"{rng.randrange(10_000):04}"
            ),
            *rng.choice(
                [
                    ("CN", "CN"),
                    ("DE", "CN"),
                    ("IT", "CN"),
                    ("US", "CN"),
                    ("CH", "DE"),
                    ("CN", "DE"),
                    ("KR", "KR"),
                ]
            ),
        )
        for a in prefixes
        for _ in range(40)
    ]
    fast = {}
    for raw, region, fallback in cases:
        with contextlib.suppress(BadValue):
            fast[raw, region, fallback] = normalise.phone(raw, region, fallback)
    assert (
        sum(normalise._chinese_mobile(normalise.text(r), g, f) is not None for r, g, f in cases)
        > len(cases) / 8
    )
    monkeypatch.setattr(normalise, "_chinese_mobile", lambda *args: None)
    for raw, region, fallback in cases:
        with contextlib.suppress(BadValue):
            assert normalise.phone(raw, region, fallback) == fast.pop((raw, region, fallback)), (raw, region)
    assert not fast  # nothing read that libphonenumber refuses


def test_other_phones_keep_their_country_and_bad_ones_are_refused() -> None:
    assert normalise.phone("+49 89 1234567") == "+49891234567"
    assert normalise.phone("021-6234 5678") == "+862162345678"  # a Shanghai landline
    assert normalise.phone("030 1234567", "DE") == normalise.phone("+49 30 1234567") == "+49301234567"
    assert normalise.region_of("DE", None) == normalise.region_of(None, "Berlin") == "DE"
    assert normalise.region_of("德国", "上海") == "DE" and normalise.region_of(None, "上海") == "CN"
    for bad in ("12", "n/a", "1" * 20):
        with pytest.raises(BadValue, match="not a phone number"):
            normalise.phone(bad)


def test_emails_are_lower_cased_and_checked() -> None:
    assert normalise.email(" <Zhang.Wei@HDJM.CN> ") == "zhang.wei@hdjm.cn"
    assert normalise.email("mailto:ａｎｎａ@example.com") == "anna@example.com"  # full-width letters
    for bad in ("not-an-email", "a@b", "张伟@", "x@@example.com"):
        with pytest.raises(BadValue, match="not an e-mail"):
            normalise.email(bad)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-10-02", datetime(2026, 10, 2, tzinfo=UTC)),
        ("2026/10/02 09:15", datetime(2026, 10, 2, 9, 15, tzinfo=UTC)),
        ("02.10.2026", datetime(2026, 10, 2, tzinfo=UTC)),
        ("2026年10月2日", datetime(2026, 10, 2, tzinfo=UTC)),
        ("2026年10月2日 下午3点", datetime(2026, 10, 2, 15, tzinfo=UTC)),
        ("2026-10-02T09:15:00+08:00", datetime(2026, 10, 2, 1, 15, tzinfo=UTC)),
        ("２０２６－１０－０２", datetime(2026, 10, 2, tzinfo=UTC)),
    ],
)
def test_dates_in_common_formats(raw: str, expected: datetime) -> None:
    assert normalise.date(raw) == expected


@pytest.mark.parametrize("bad", ["31/31/2020", "yesterday", "2026-13-01", "1066-10-14", ""])
def test_bad_dates_are_refused(bad: str) -> None:
    with pytest.raises(BadValue):
        normalise.date(bad)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1,234.50", 1234.5), ("￥380000", 380000.0), ("12.5万", 125000.0), ("125000,50", 125000.5)],
)
def test_numbers(raw: str, expected: float) -> None:
    assert normalise.number(raw) == expected


def test_text_and_match_keys() -> None:
    assert normalise.text("客户反映X200 校 准 结果  漂移") == "客户反映X200 校准结果漂移"
    assert normalise.text("Ｘ２００ 光谱仪") == "X200 光谱仪"
    assert normalise.match_key("華東精密儀器") == normalise.match_key("华东精密仪器")
    assert normalise.match_key("Maria  LOPEZ") == "maria lopez"


def test_decoding_accepts_utf8_bom_utf16_and_gbk_and_refuses_the_rest() -> None:
    text = "姓名,城市\n张伟,苏州\n"
    for encoding in ("utf-8", "utf-8-sig", "utf-16", "gbk", "gb18030"):
        assert decode(text.encode(encoding)) == text
    with pytest.raises(UndecodableFile, match="save it as UTF-8"):
        decode("Müller,Köln\n".encode("latin-1"))
    assert decode("Müller,Köln\n".encode("latin-1"), encoding="latin-1") == "Müller,Köln\n"


def test_rows_with_chinese_headers_bad_shapes_and_formulas() -> None:
    text = (
        '客户编号,姓名,电话\nC1,张伟,"+86 (21) 6234 5678"\nC2,王五\nC3,=1+2,13800138000\n\n'
        'C4,"多行\n备注",-5\n'
    )
    rows = list(read_rows(text))
    assert rows[0] == Row(2, {"customer_id": "C1", "name": "张伟", "phone": "+86 (21) 6234 5678"})
    assert isinstance(rows[1], BadRow) and rows[1].reason == "expected 3 columns, found 2"
    assert isinstance(rows[2], BadRow) and "spreadsheet formula" in rows[2].reason and rows[2].line == 4
    assert rows[3] == Row(6, {"customer_id": "C4", "name": "多行\n备注", "phone": "-5"})


def test_unknown_preset_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="unknown preset 'zoho'; known: hubspot, salesforce"):
        Mapping.preset("zoho")
