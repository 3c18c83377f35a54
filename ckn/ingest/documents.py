"""Documents (``.md``, ``.txt``, ``.html``, ``.pdf``, ``.docx``, ``.eml``) read into knowledge-item rows.

Metadata comes from YAML front matter (Markdown and text: ``title``, ``author`` or ``authors``,
``created_at`` ...), the file's own properties (HTML ``<title>``, DOCX core properties, PDF metadata,
an e-mail's ``From``, ``Subject`` and ``Date``), and a ``documents.csv`` manifest beside the files
(columns: file, id, title, authors, products, customers, topics, delivered_to, created_at, kind; lists
separated by ``|``); the manifest wins. The text itself goes to the spaCy extraction stage of the ingest.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import yaml

from ckn.ingest.tabular import BadRow, Row, UndecodableFile, decode, read_rows

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".eml"})
MANIFEST = "documents.csv"
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        self._in_title = tag == "title"
        if tag in {"p", "br", "div", "li", "h1", "h2", "h3", "tr"}:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"} and self._skip:
            self._skip -= 1
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data.strip()
        elif not self._skip:
            self.parts.append(data)


def _plain(data: bytes, name: str) -> tuple[str, dict[str, object]]:
    text = decode(data, name)
    meta: dict[str, object] = {}
    if match := _FRONT_MATTER.match(text):
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            raise UndecodableFile(f"{name}: front matter is not valid YAML: {exc}") from None
        meta = loaded if isinstance(loaded, dict) else {}
        text = text[match.end() :]
    return text, meta


def read_document(path: Path) -> tuple[str, dict[str, object]]:
    """The text of a document and the metadata it carries itself.

    Raises:
        UndecodableFile: the file cannot be read as its kind.

    """
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix in {".md", ".markdown", ".txt"}:
        return _plain(data, path.name)
    if suffix in {".html", ".htm"}:
        parser = _Text()
        parser.feed(decode(data, path.name))
        return "".join(parser.parts), {"title": parser.title} if parser.title else {}
    if suffix == ".pdf":
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(io.BytesIO(data))
            text = "\n".join(page.extract_text() or "" for page in reader.pages)
        except (PdfReadError, ValueError, KeyError) as exc:
            raise UndecodableFile(f"{path.name} is not a readable PDF: {exc}") from None
        info = reader.metadata
        pdf_meta = {
            "title": (info.title if info else None) or "",
            "authors": (info.author if info else None) or "",
        }
        return text, {k: v for k, v in pdf_meta.items() if v}
    if suffix == ".docx":
        import docx
        from docx.opc.exceptions import PackageNotFoundError

        try:
            document = docx.Document(io.BytesIO(data))
        except (PackageNotFoundError, KeyError, ValueError) as exc:
            raise UndecodableFile(f"{path.name} is not a readable DOCX: {exc}") from None
        meta: dict[str, object] = {}
        if document.core_properties.title:
            meta["title"] = document.core_properties.title
        if document.core_properties.author:
            meta["authors"] = document.core_properties.author
        return "\n".join(p.text for p in document.paragraphs), meta
    if suffix == ".eml":
        return _email(data, path.name)
    raise UndecodableFile(f"{path.name}: not a document ckn reads ({', '.join(sorted(SUFFIXES))})")


def _email(data: bytes, name: str) -> tuple[str, dict[str, object]]:
    """An e-mail's plain-text body; its sender is the author, its subject the title, its date the date."""
    import email
    import email.policy
    from email.utils import parsedate_to_datetime

    message = email.message_from_bytes(data, policy=email.policy.default)
    if not message.keys():
        raise UndecodableFile(f"{name} is not an e-mail (no headers)")
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        text = ""
    else:
        text = body.get_content()
        if body.get_content_type() == "text/html":
            parser = _Text()
            parser.feed(text)
            text = "".join(parser.parts)
    meta: dict[str, object] = {}
    if subject := str(message.get("subject") or "").strip():
        meta["title"] = subject
    if sender := str(message.get("from") or "").strip():
        meta["authors"] = sender
    try:
        if sent := message.get("date"):
            meta["created_at"] = parsedate_to_datetime(str(sent)).date().isoformat()
    except (TypeError, ValueError):
        pass
    return text, meta


def _as_cell(value: object) -> str:
    if isinstance(value, list | tuple):
        return "|".join(str(v) for v in value)
    return "" if value is None else str(value)


def manifest(folder: Path) -> dict[str, dict[str, str]]:
    """The rows of ``documents.csv`` in ``folder``, by file name (and by id)."""
    path = folder / MANIFEST
    if not path.exists():
        return {}
    entries: dict[str, dict[str, str]] = {}
    for row in read_rows(decode(path.read_bytes(), path.name)):
        if isinstance(row, Row):
            key = row.cells.get("file") or row.cells.get("id", "")
            entries[Path(key).name] = row.cells
    return entries


def document_row(path: Path, listed: dict[str, str] | None = None) -> Row | BadRow:
    """One document as a row for the ``documents`` converter (line 1: a document is one record)."""
    try:
        text, meta = read_document(path)
    except UndecodableFile as exc:
        return BadRow(1, exc.detail)
    cells = {key: _as_cell(value) for key, value in meta.items() if _as_cell(value)}
    if "author" in cells:  # front matter says author: or authors:
        cells["authors"] = "|".join(filter(None, [cells.get("authors", ""), cells.pop("author")]))
    cells.update(listed or {})
    cells.setdefault("document_id", cells.pop("id", "") or path.stem)
    cells.setdefault("title", path.stem)
    cells["file"] = path.name
    cells["text"] = text
    return Row(1, {k: v for k, v in cells.items() if v})
