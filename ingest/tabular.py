"""Reading CSV exports: encoding detection, header mapping, and row checks.

A file is decoded whole or rejected whole (never mangled): UTF-8 with or without BOM, UTF-16 with BOM,
and GB18030/GBK when the text it gives is plausibly Chinese. Headers are mapped to ckn's canonical
column names through built-in English and Chinese aliases, a preset (HubSpot, Salesforce) or a YAML
mapping file. Rows that cannot be read (wrong column count, formula-like or oversized cells) come out
as :class:`BadRow` with the line and the reason, and reading goes on.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from graph.errors import InvalidInput

MAX_CELL = 20_000
"""Longest cell accepted, in characters; a longer one quarantines its row."""


class UndecodableFile(InvalidInput):
    """A file whose encoding cannot be told with confidence."""

    title = "Cannot decode file"


@dataclass(frozen=True)
class Row:
    """One data row: its first line in the file and its cells by canonical column name."""

    line: int
    cells: dict[str, str]


@dataclass(frozen=True)
class BadRow:
    """A row that was not read, and why."""

    line: int
    reason: str
    raw: str = ""


def _in_gb2312(char: str) -> bool:
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _plausibly_chinese(text: str) -> bool:
    """GB18030 decodes almost any bytes; accept the result only if it reads like Chinese text.

    Text that really is GBK/GB18030 is mostly made of the ~7,000 common characters of GB2312; bytes in
    another encoding (Latin-1 accents followed by ASCII letters, say) decode to rare extension
    characters instead.
    """
    wide = [c for c in text if ord(c) > 0x7F]
    if not wide:
        return True
    return sum(1 for c in wide if _in_gb2312(c)) / len(wide) >= 0.9


def decode(data: bytes, name: str = "file", *, encoding: str | None = None) -> str:
    """The text of a file: the given encoding, or detected (BOM, UTF-8, then GB18030).

    Raises:
        UndecodableFile: the bytes are not valid in any accepted encoding.

    """
    if encoding:
        try:
            return data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise UndecodableFile(f"{name} is not valid {encoding}: {exc}") from None
    if data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "gb18030"]
    for candidate in candidates:
        try:
            text = data.decode(candidate)
        except UnicodeDecodeError:
            continue
        if candidate != "gb18030" or _plausibly_chinese(text):
            return text
    raise UndecodableFile(
        f"{name} is neither UTF-8, UTF-16 with BOM nor GB18030/GBK Chinese text; "
        "save it as UTF-8 or name its encoding with --encoding"
    )


# -- header mapping --------------------------------------------------------------------------------

ALIASES: dict[str, str] = {
    # Chinese headers seen in CRM exports
    "编号": "id",
    "客户编号": "customer_id",
    "客户id": "customer_id",
    "员工编号": "employee_id",
    "工号": "employee_id",
    "产品编号": "product_id",
    "姓名": "name",
    "名称": "name",
    "客户名称": "name",
    "邮箱": "email",
    "电子邮件": "email",
    "电子邮箱": "email",
    "电话": "phone",
    "手机": "phone",
    "手机号": "phone",
    "城市": "city",
    "部门": "department",
    "职位": "title",
    "职务": "title",
    "上级": "manager_id",
    "推荐人": "referred_by",
    "负责人": "owner_employee_id",
    "客户经理": "owner_employee_id",
    "类型": "kind",
    "分类": "category",
    "别名": "aliases",
    "所属公司": "organization_id",
    "公司": "organization_id",
    "细分": "segment",
    "客户等级": "segment",
    "入职日期": "hired_at",
    "离职日期": "left_at",
    "获客日期": "acquired_at",
    "生命周期价值": "lifetime_value",
    "时间": "occurred_at",
    "日期": "occurred_at",
    "渠道": "channel",
    "主题": "subject",
    "备注": "notes",
    "金额": "amount",
    "评分": "rating",
    "内容": "text",
    "处理人": "handled_by",
    "处理结果": "resolution",
    # common English variants
    "e-mail": "email",
    "mail": "email",
    "e_mail": "email",
    "telephone": "phone",
    "mobile": "phone",
    "phone_number": "phone",
    "company": "organization_id",
    "owner": "owner_employee_id",
}

PRESETS: dict[str, dict[str, str]] = {
    "hubspot": {
        "record_id": "external_id",
        "contact_id": "external_id",
        "first_name": "first_name",
        "last_name": "last_name",
        "email": "email",
        "phone_number": "phone",
        "mobile_phone_number": "phone2",
        "company_name": "organization_id",
        "associated_company": "organization_id",
        "city": "city",
        "contact_owner": "owner_employee_id",
        "lifecycle_stage": "segment",
        "create_date": "acquired_at",
        "original_source": "acquisition_source",
    },
    "salesforce": {
        "contact_id": "external_id",
        "id": "external_id",
        "first_name": "first_name",
        "last_name": "last_name",
        "email": "email",
        "phone": "phone",
        "mobile": "phone2",
        "mobilephone": "phone2",
        "account_name": "organization_id",
        "mailing_city": "city",
        "contact_owner": "owner_employee_id",
        "lead_source": "acquisition_source",
        "created_date": "acquired_at",
    },
}
"""Column mappings of common CRM contact exports, applied to normalised header names."""


def header_key(header: str) -> str:
    """A header as it is looked up: NFKC, lower case, spaces and dashes as underscores."""
    key = unicodedata.normalize("NFKC", header).strip().lower()
    return re.sub(r"[\s\-/]+", "_", key)


@dataclass(frozen=True)
class Mapping:
    """How a file's headers map to canonical columns, and (optionally) which kind of file it is."""

    columns: dict[str, str]
    kind: str | None = None

    @classmethod
    def preset(cls, name: str) -> Mapping:
        """A built-in preset (``hubspot``, ``salesforce``): contacts exports become customers."""
        if name not in PRESETS:
            raise InvalidInput(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
        return cls(columns=PRESETS[name], kind="customers")

    @classmethod
    def from_yaml(cls, path: Path) -> Mapping:
        """A mapping file: ``kind: customers`` and ``columns: {"Their header": canonical_name}``."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(f"cannot read mapping {path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
            raise InvalidInput(f"mapping {path} needs a 'columns:' table of header: canonical name")
        columns = {header_key(str(k)): str(v) for k, v in data["columns"].items()}
        kind = data.get("kind")
        return cls(columns=columns, kind=str(kind) if kind else None)

    def canonical(self, header: str) -> str:
        """The canonical name of one header."""
        key = header_key(header)
        return self.columns.get(key) or ALIASES.get(key) or key


NO_MAPPING = Mapping(columns={})

_FORMULA = re.compile(r"^[=@\t\r]|^[+\-]\s*[A-Za-z]|^[+\-].*[!|]")
"""Cells a spreadsheet would run as a formula (CSV injection); phones like ``+86 (21) 6234`` pass."""


def read_rows(text: str, mapping: Mapping = NO_MAPPING) -> Iterator[Row | BadRow]:
    """Rows of a CSV text with a header row, as :class:`Row` or :class:`BadRow`, in file order."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        headers = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InvalidInput(f"cannot read the header row: {exc}") from None
    names = [mapping.canonical(h) for h in headers]
    last_line = reader.line_num
    while True:
        first_line = last_line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last_line = reader.line_num
            yield BadRow(first_line, f"unreadable CSV: {exc}")
            continue
        last_line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            yield BadRow(
                first_line, f"expected {len(names)} columns, found {len(cells)}", ",".join(cells)[:500]
            )
            continue
        problem = next(
            (
                f"cell {name!r} is longer than {MAX_CELL} characters"
                if len(cell) > MAX_CELL
                else f"cell {name!r} looks like a spreadsheet formula ({cell[:20]!r}); not imported"
                for name, cell in zip(names, cells, strict=True)
                if len(cell) > MAX_CELL or _FORMULA.match(cell)
            ),
            None,
        )
        if problem:
            yield BadRow(first_line, problem, ",".join(cells)[:500])
            continue
        yield Row(first_line, {n: c.strip() for n, c in zip(names, cells, strict=True) if c.strip()})
