"""Reading CSV exports: encoding detection, header mapping, and row checks, streamed.

A file is decoded or rejected whole (never mangled): UTF-8 with or without BOM, UTF-16 with BOM,
and GB18030/GBK when the text it gives is plausibly Chinese. Headers are mapped to ckn's canonical
column names through built-in English and Chinese aliases, a preset (HubSpot, Salesforce) or a YAML
mapping file. Rows that cannot be read (broken quoting, wrong column count, formula-like or oversized
cells, control characters) come out as :class:`BadRow` with the line and the reason, and reading goes
on with the next line.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml

from ckn.graph.errors import InvalidInput

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
    for candidate in _candidates(data[:4]):
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


def _candidates(start: bytes) -> list[str]:
    """The encodings a file starting with these bytes may be in, in the order they are tried."""
    if start.startswith(codecs.BOM_UTF8):
        return ["utf-8-sig"]
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ["utf-16"]
    return ["utf-8", "gb18030"]


@dataclass(frozen=True)
class Scanned:
    """What one pass over a file's bytes tells: its digest, its encoding, its lines."""

    digest: str
    encoding: str
    lines: int


def scan_file(
    path: Path, *, salt: bytes = b"", extra: bytes = b"", encoding: str | None = None, text: bool = True
) -> Scanned:
    """Digest a file (``salt``, its bytes, then ``extra``) and tell its encoding, in one streamed pass.

    The encoding is the given one, checked, or detected as :func:`decode` does: BOM, UTF-8, then
    GB18030 when the text it gives is plausibly Chinese (a second pass, only for such files).
    ``text=False``: a binary file, whose encoding is not asked.

    Raises:
        UndecodableFile: the bytes are not valid in any accepted encoding.

    """
    with path.open("rb") as handle:
        start = handle.read(4)
    candidates = [encoding or "latin-1"] if encoding or not text else _candidates(start)
    for candidate in candidates:
        try:
            digest, lines = _pass(path, salt, extra, None if not text else candidate)
        except (UnicodeDecodeError, _Implausible):
            continue
        except LookupError:
            raise UndecodableFile(f"{path.name}: unknown encoding {candidate!r}") from None
        return Scanned(digest, candidate, lines)
    if encoding:
        raise UndecodableFile(f"{path.name} is not valid {encoding}")
    raise UndecodableFile(
        f"{path.name} is neither UTF-8, UTF-16 with BOM nor GB18030/GBK Chinese text; "
        "save it as UTF-8 or name its encoding with --encoding"
    )


class _Implausible(Exception):
    """GB18030 decoded the bytes, but not into text that reads as Chinese."""


def _pass(path: Path, salt: bytes, extra: bytes, encoding: str | None) -> tuple[str, int]:
    hasher = hashlib.sha256(salt)
    decoder = codecs.getincrementaldecoder(encoding)() if encoding else None
    lines = wide = common = 0
    with path.open("rb") as handle:
        while chunk := handle.read(2**20):
            hasher.update(chunk)
            lines += chunk.count(b"\n")
            if decoder is not None:
                decoded = decoder.decode(chunk)
                if encoding == "gb18030":
                    chars = [c for c in decoded if ord(c) > 0x7F]
                    wide += len(chars)
                    common += sum(1 for c in chars if _in_gb2312(c))
        if decoder is not None:
            decoder.decode(b"", final=True)
    if encoding == "gb18030" and wide and common / wide < 0.9:
        raise _Implausible
    hasher.update(extra)
    return hasher.hexdigest()[:16], lines


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

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters no value holds (NUL, bell, escape...); tabs and line breaks are text."""

MAX_LINE = 1_000_000
"""Longest physical line read, in characters; a longer one is skipped, never held whole."""


class _Lines:
    """The physical lines of a text stream, numbered, each at most :data:`MAX_LINE` characters.

    Lines a record took can be pushed back, to be read again on their own (after a quote that never
    closes swallowed them). A line over the limit is read past, not kept, and comes out empty,
    flagged in :attr:`oversized`.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.line = 0
        """Number of the last line handed out."""
        self.taken: list[str] = []
        """The lines handed out since :meth:`start`."""
        self.oversized = False
        """Whether one of them was over the limit."""
        self._back: list[str] = []

    def start(self) -> int:
        """Begin a record; return the number of its first line."""
        self.taken, self.oversized = [], False
        return self.line + 1

    def push_back(self, lines: list[str]) -> None:
        """Hand ``lines`` out again, next."""
        self._back = lines + self._back
        self.line -= len(lines)

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._back:
            line = self._back.pop(0)
        else:
            line = self.stream.readline(MAX_LINE)
            if not line:
                raise StopIteration
            if len(line) == MAX_LINE and not line.endswith(("\n", "\r")):
                while (more := self.stream.readline(MAX_LINE)) and not more.endswith(("\n", "\r")):
                    pass
                self.oversized, line = True, "\n"
        self.line += 1
        self.taken.append(line)
        return line


def read_header(stream: TextIO, mapping: Mapping = NO_MAPPING) -> list[str]:
    """The canonical names of a CSV stream's header row (empty for an empty stream).

    Raises:
        InvalidInput: the header row cannot be read.

    """
    lines = _Lines(stream)
    try:
        headers = next(csv.reader(lines, strict=True))
    except StopIteration:
        return []
    except csv.Error as exc:
        raise InvalidInput(f"cannot read the header row: {exc}") from None
    if lines.oversized:
        raise InvalidInput(f"the header row is longer than {MAX_LINE:,} characters")
    return [mapping.canonical(h) for h in headers]


def sniff_header(path: Path, size: int = 65_536) -> list[str]:
    """The header row of a CSV file from its first bytes, in the first encoding that reads them.

    Names as :data:`NO_MAPPING` maps them; empty when the file is empty or no encoding reads it.
    """
    with path.open("rb") as handle:
        head = handle.read(size)
    for candidate in _candidates(head[:4]):
        try:  # not final: a character cut in two at the end of the piece read is left out
            text = codecs.getincrementaldecoder(candidate)().decode(head)
            return read_header(io.StringIO(text.split("\n", 1)[0]))
        except (UnicodeDecodeError, InvalidInput):
            continue
    return []


def read_rows(text: str | TextIO, mapping: Mapping = NO_MAPPING) -> Iterator[Row | BadRow]:
    """Rows of a CSV text or stream with a header row, as :class:`Row` or :class:`BadRow`, in file order.

    Read as it streams: memory holds one record, however long the file. A quote that is opened and
    never closed would swallow every line after it into one cell; such a record is set aside (its
    first line), and the lines after it are read again as rows of their own.

    Raises:
        InvalidInput: the header row cannot be read.

    """
    lines = _Lines(io.StringIO(text, newline="") if isinstance(text, str) else text)
    reader = csv.reader(lines, strict=True)
    try:
        headers = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InvalidInput(f"cannot read the header row: {exc}") from None
    names = [mapping.canonical(h) for h in headers]
    while True:
        first_line = lines.start()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            taken = lines.taken
            yield BadRow(first_line, _unreadable(exc, taken), _raw(taken[:1]))
            lines.push_back(taken[1:])
            reader = csv.reader(lines, strict=True)
            continue
        if lines.oversized:
            yield BadRow(first_line, f"a line of this row is longer than {MAX_LINE:,} characters; not read")
            continue
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(names):
            if len(lines.taken) > 1:  # a quote left open took the lines after it: read them again
                taken = lines.taken
                reason = (
                    f"a quote opened in this row is not closed where the row ends (it took the next "
                    f"{len(taken) - 1} line(s), which are read again on their own)"
                )
                yield BadRow(first_line, reason, _raw(taken[:1]))
                lines.push_back(taken[1:])
                reader = csv.reader(lines, strict=True)
                continue
            yield BadRow(first_line, f"expected {len(names)} columns, found {len(cells)}", _raw(lines.taken))
            continue
        problem = next(
            (_cell_problem(name, cell) for name, cell in zip(names, cells, strict=True) if _bad_cell(cell)),
            None,
        )
        if problem:
            yield BadRow(first_line, problem, _raw(lines.taken))
            continue
        yield Row(first_line, {n: c.strip() for n, c in zip(names, cells, strict=True) if c.strip()})


def _unreadable(exc: csv.Error, taken: list[str]) -> str:
    if len(taken) > 1:
        return (
            f"unreadable CSV ({exc}): a quote opened in this row is never closed; the "
            f"{len(taken) - 1} line(s) after it are read again on their own"
        )
    return f"unreadable CSV: {exc}"


def _raw(lines: list[str]) -> str:
    return "".join(lines)[:500].rstrip("\r\n")


def _bad_cell(cell: str) -> bool:
    return len(cell) > MAX_CELL or bool(_FORMULA.match(cell)) or bool(_CONTROL.search(cell))


def _cell_problem(name: str, cell: str) -> str:
    if len(cell) > MAX_CELL:
        return f"cell {name!r} is longer than {MAX_CELL} characters"
    if control := _CONTROL.search(cell):
        return f"cell {name!r} holds a control character (U+{ord(control[0]):04X}); not imported"
    return f"cell {name!r} looks like a spreadsheet formula ({cell[:20]!r}); not imported"
