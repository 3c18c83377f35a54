"""vCard 2.1 / 3.0 / 4.0 contacts as exported by common address books, read into customer rows.

Handles folded lines, ``item1.`` groups, QUOTED-PRINTABLE values (with their CHARSET and soft line
breaks), several e-mails and phones, ``N``/``FN``, ``ORG``, ``ADR``, ``TITLE``, ``NOTE``, ``UID`` and
``RELATED``. Each card becomes one :class:`tabular.Row` (its line is the card's ``BEGIN:VCARD``) that
the ``customers`` converter turns into facts, so a contact joins the customer it already is.
"""

from __future__ import annotations

import quopri
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ckn.ingest.tabular import BadRow, Row

_PROPERTY = re.compile(
    r"^(?:(?P<group>[A-Za-z0-9-]+)\.)?(?P<name>[A-Za-z0-9-]+)(?P<params>(?:;[^:]*)?):(?P<value>.*)$"
)


@dataclass
class _Card:
    line: int
    props: list[tuple[str, dict[str, str], str]] = field(default_factory=list)


def _unfold(text: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Logical lines with the number of their first physical line, as they stream.

    Undoes RFC 6350 folding and vCard 2.1's quoted-printable soft line breaks.
    """
    pending: tuple[int, str] | None = None
    for number, line in enumerate(text, start=1):
        raw = line.rstrip("\r\n")
        if pending is not None and raw[:1] in {" ", "\t"}:
            pending = (pending[0], pending[1] + raw[1:])
        elif (
            pending is not None
            and pending[1].endswith("=")
            and "QUOTED-PRINTABLE" in pending[1].split(":", 1)[0].upper()
        ):
            pending = (pending[0], pending[1][:-1] + raw)
        else:
            if pending is not None:
                yield pending
            pending = (number, raw)
    if pending is not None:
        yield pending


def _params(raw: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in filter(None, raw.split(";")):
        key, _, value = part.partition("=")
        if value:
            params[key.upper()] = value
        elif key.upper() in {"QUOTED-PRINTABLE", "BASE64", "8BIT"}:  # vCard 2.1: bare encodings
            params["ENCODING"] = key
        else:  # vCard 2.1: bare TYPE values (TEL;CELL;PREF)
            params.setdefault("TYPE", key)
    return params


def _value(params: dict[str, str], value: str) -> str:
    if params.get("ENCODING", "").upper() in {"QUOTED-PRINTABLE", "QP"}:
        charset = params.get("CHARSET", "utf-8")
        try:
            return quopri.decodestring(value.encode("ascii", "replace")).decode(charset, "replace")
        except LookupError:
            return quopri.decodestring(value.encode("ascii", "replace")).decode("utf-8", "replace")
    return (
        value.replace("\\,", ",")
        .replace("\\;", ";")
        .replace("\\n", " ")
        .replace("\\N", " ")
        .replace("\\\\", "\\")
    )


def _cards(text: Iterable[str]) -> Iterator[_Card | BadRow]:
    current: _Card | None = None
    for number, line in _unfold(text):
        if not line.strip():
            continue
        upper = line.strip().upper()
        if upper == "BEGIN:VCARD":
            if current is not None:
                yield BadRow(current.line, "card has no END:VCARD")
            current = _Card(number)
            continue
        if upper == "END:VCARD":
            if current is not None:
                yield current
            current = None
            continue
        match = _PROPERTY.match(line)
        if current is None or match is None:
            continue
        params = _params(match["params"])
        current.props.append((match["name"].upper(), params, _value(params, match["value"])))
    if current is not None:
        yield BadRow(current.line, "card has no END:VCARD")


def _to_row(card: _Card) -> Row:
    cells: dict[str, str] = {}
    emails = [v for name, _, v in card.props if name == "EMAIL" and v.strip()]
    phones = [v for name, _, v in card.props if name == "TEL" and v.strip()]
    for i, email in enumerate(emails):
        cells["email" if i == 0 else f"email{i + 1}"] = email.strip()
    for i, phone in enumerate(phones):
        cells["phone" if i == 0 else f"phone{i + 1}"] = phone.strip().removeprefix("tel:")
    for name, _, raw in card.props:
        value = raw.strip()
        if not value:
            continue
        if name == "FN":
            cells["name"] = value
        elif name == "N" and "name" not in cells:
            family, _, rest = value.partition(";")
            given = rest.split(";")[0]
            cells["last_name"], cells["first_name"] = family, given
        elif name == "ORG":
            cells["organization_id"] = value.split(";")[0]
        elif name == "UID":
            cells["external_id"] = value.removeprefix("urn:uuid:")
        elif name == "TITLE":
            cells["title"] = value
        elif name == "NOTE":
            cells["note"] = value
        elif name == "ADR":
            parts = value.split(";")
            if len(parts) > 3 and parts[3].strip():
                cells["city"] = parts[3].strip()
        elif name == "RELATED":
            cells["knows"] = "|".join(filter(None, [cells.get("knows", ""), value.removeprefix("urn:uuid:")]))
    if cells.get("name") and ("first_name" in cells or "last_name" in cells):
        cells.pop("first_name", None)
        cells.pop("last_name", None)
    return Row(card.line, cells)


def read_cards(text: str | Iterable[str]) -> Iterator[Row | BadRow]:
    """The contacts of a ``.vcf`` text or stream of lines, one row per card, in file order."""
    lines = text.splitlines() if isinstance(text, str) else text
    for card in _cards(lines):
        yield card if isinstance(card, BadRow) else _to_row(card)
