"""Erasure that lasts, and access requests: everything held about a person, removed or handed over.

:func:`erase` removes a customer or colleague and every trace of them: their relationships (review
candidates and mentions included), the feedback they submitted, their name, e-mail addresses and phone
numbers in the texts and key phrases of other items and in the free-text properties of other customers
and colleagues (notes), the undo records of reviewed merges that hold them, and the quarantined rows that
hold them. It then puts hashed keys of them on the store's suppression list (:class:`Suppression`),
which every later ingest checks, so a new export of the same CRM table does not bring them back, and
scans the store and the quarantine to say that nothing is left.

A name is redacted from texts the person is linked to, and from all texts when no other person has that
name; a same-named other customer and what is said about them stay. :func:`export_person` gives a
machine-readable copy of everything held about a person.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
from pydantic import BaseModel, ConfigDict

from ckn.graph.errors import InvalidInput, NotFound
from ckn.graph.ids import normalise_key
from ckn.graph.merge import merge_entity, with_source_renamed
from ckn.graph.model import Batch, Entity, NodeKind, Relation, RelType
from ckn.graph.names import KEY_PROPS
from ckn.graph.shared import job_live
from ckn.graph.store import Direction, GraphStore
from ckn.ingest import normalise
from ckn.ingest.normalise import BadValue
from ckn.ingest.review import MERGES, record_strings

PEOPLE = (NodeKind.CUSTOMER, NodeKind.EMPLOYEE)
TEXTS = (NodeKind.KNOWLEDGE_ITEM, NodeKind.INTERACTION, NodeKind.FEEDBACK)
"""Kinds whose properties are texts (a note, a document), their title too."""
OTHERS = tuple(k for k in NodeKind if k not in (*TEXTS, NodeKind.SOURCE))
"""Kinds whose free-text properties (a customer's notes) and kept merge records may name a person too."""
_PAGE = 1000
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d\s().\-]{4,18}\d(?!\w)")


# -- the suppression list ------------------------------------------------------------------------------


def _hash(key: str) -> str:
    return hashlib.sha256(f"ckn-suppress\x1f{key}".encode()).hexdigest()


def person_keys(entity: Entity, organisations: Iterable[str] = ()) -> set[str]:
    """The keys a person is recognised by.

    Their id, CRM and other external ids, e-mails, phones, and their name together with their city or
    organisation (a name alone would keep out a namesake).
    """
    props = entity.props
    keys = {f"id:{entity.id}"}
    keys |= {f"ext:{x}" for x in _strings(props.get("external_ids"))}
    keys |= {f"email:{e.lower()}" for e in _strings(props.get("emails"))}
    keys |= {f"phone:{p}" for p in _strings(props.get("phones"))}
    keys |= {f"phone#:{n}" for n in _nationals(_strings(props.get("phones")))}
    name = normalise_key(entity.name)
    if name and props.get("city"):
        keys.add(f"name+city:{name}|{normalise_key(str(props['city']))}")
    keys |= {f"name+org:{name}|{org}" for org in organisations if name}
    return keys


def _nationals(phones: Iterable[str]) -> set[str]:
    """The national significant numbers of E.164 phones (``+49301234567`` -> ``301234567``)."""
    found = set()
    for phone in phones:
        with contextlib.suppress(phonenumbers.NumberParseException):
            found.add(str(phonenumbers.parse(phone).national_number))
    return found


def _phone_variants(text: str) -> set[str]:
    """The ways a phone written in text may be its national number (without trunk 0, country code)."""
    digits = re.sub(r"\D", "", text).lstrip("0")
    return {digits[k:] for k in range(4) if len(digits) - k >= 6}


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)] if value else []


class _Finder:
    """Finds a person's traces in text (:meth:`spans`) and masks them (:meth:`redact`)."""

    def could_hold(self, texts: list[str]) -> bool:
        """Whether any of ``texts`` could hold a trace (False only when none can: a cheap first look)."""
        return True

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` holds a trace, as spans of the original text."""
        raise NotImplementedError

    def named(self, text: str) -> list[tuple[int, int]]:
        """:meth:`spans` of a file's name: its words also read apart where ``_``, ``.`` or ``-`` join them."""
        found = self.spans(text)
        if _JOINERS.search(text):  # joined as long as the text: the spans are its own
            return sorted({*found, *self.spans(_JOINERS.sub(" ", text))})
        return found

    def redact(self, text: str) -> tuple[str, int]:
        """``text`` with every trace masked (one ``█`` a character: other spans keep their offsets)."""
        return _masked(text, self.spans(text))

    def redact_name(self, name: str) -> tuple[str, int]:
        """A file's name (or a path) with every trace masked, its words read apart too (:meth:`named`)."""
        return _masked(name, self.named(name))


def _masked(text: str, spans: list[tuple[int, int]]) -> tuple[str, int]:
    """``text`` with ``spans`` masked, and how many."""
    if not spans:
        return text, 0
    chars = list(text)
    for start, end in spans:
        chars[start:end] = MASK * (end - start)
    return "".join(chars), len(spans)


JOB_FIELDS_KEPT = frozenset({"id", "status", "created_at", "finished_at", "heard_at", "heard_s_ago"})
"""Fields of an ingest job's record that are never masked: they name no one."""
_JOINERS = re.compile(r"[_.\-]")
"""What joins the words of a file's name (``Alice_Smith.csv``, ``alice-smith.vcf``): read as spaces too."""


def masked_job(record: dict[str, Any], finder: _Finder) -> tuple[dict[str, Any], int]:
    """An ingest job's record with every trace in it masked (its files' names, its report, its error).

    Returns the record and how many traces were masked.
    """
    found, count = _masked_tree(
        record, lambda key, text: (text, 0) if key in JOB_FIELDS_KEPT else finder.redact_name(text)
    )
    return (found, count) if count else (record, 0)


def _masked_tree(value: Any, mask: Callable[[str, str], tuple[str, int]], key: str = "") -> tuple[Any, int]:
    """A JSON value with each text in it masked by ``mask(key it is under, text)``, and how many traces."""
    if isinstance(value, str):
        return mask(key, value)
    if isinstance(value, list):
        done = [_masked_tree(v, mask, key) for v in value]
        return [v for v, _ in done], sum(n for _, n in done)
    if isinstance(value, dict):
        items = {k: _masked_tree(v, mask, k) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, sum(n for _, n in items.values())
    return value, 0


class Suppression(_Finder):
    """The suppression list as an ingest checks it: rows of erased people are not written again."""

    def __init__(self, hashes: frozenset[str]) -> None:
        self.hashes = hashes
        self._secret = min((h for h in hashes if h.startswith(TAG_SECRET)), default="").encode()
        self._seen: dict[str, list[tuple[int, int]]] = {}
        """Texts looked at, and their spans (short texts repeat: cities, a mention's words, labels)."""

    def tag(self, value: str) -> str:
        """A short keyed hash of ``value``, the same for every process of a store.

        No one can test a guessed name against it without the store's secret (:data:`TAG_SECRET`).
        """
        return hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest()[:10]

    @classmethod
    def of(cls, store: GraphStore) -> Suppression:
        """The store's list, read once for an ingest run."""
        return cls(store.suppressed())

    def __bool__(self) -> bool:
        return bool(self.hashes - {self._secret.decode()})

    def _any(self, keys: Iterable[str]) -> bool:
        return any(_hash(k) in self.hashes for k in keys)

    def entity(self, entity: Entity) -> bool:
        """Whether an entity a row states is an erased person, or an item that was theirs."""
        if entity.kind in PEOPLE:
            return self._any(person_keys(entity))
        return self._any([f"id:{entity.id}"])

    def relation(self, relation: Relation) -> bool:
        """Whether a relation joins an erased person."""
        return self._any((f"id:{relation.source}", f"id:{relation.target}"))

    def cells(self, cells: dict[str, str]) -> bool:
        """Whether a row that could not be read names an erased person by id, e-mail or phone."""
        keys: set[str] = set()
        for column, value in cells.items():
            text = normalise.text(value or "")
            if not text:
                continue
            if _id_column(column):
                keys.add(f"ext:crm:{text}")
            if "@" in text:
                keys.add(f"email:{text.lower()}")
            elif sum(c.isdigit() for c in text) >= 6:
                with contextlib.suppress(BadValue):
                    keys.add(f"phone:{normalise.phone(text)}")
                keys |= {f"phone#:{v}" for v in _phone_variants(text)}
        return self._any(keys)

    def scrubbed(self, fact: Entity | Relation) -> Entity | Relation:
        """A fact with what names an erased person masked: its texts (:func:`masked_entity`), a document's id.

        A document named after its file (``knowledgeitem:Alice_Smith_visit``) gets the id an
        erasure gives it (:func:`masked_id`), and the relations that name it follow; a relation's
        texts (the words a mention quotes) are masked too.
        """
        if isinstance(fact, Relation):
            renamed = fact.with_ends(lambda end: masked_id(end, self))
            props, found = _masked_tree(dict(renamed.props), lambda _, text: self.redact(text))
            return renamed.model_copy(update={"props": props}) if found else renamed
        if fact.kind is NodeKind.SOURCE:
            return fact  # see masked_source
        masked, _ = masked_entity(fact, self)
        new_id = masked_id(fact.id, self)
        return masked.model_copy(update={"id": new_id}) if new_id != fact.id else masked

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` names an erased person: e-mails, phones, and names kept as ``name:`` keys."""
        if not self.hashes:
            return []
        short = len(text) <= _SEEN_LONGEST
        if short and (seen := self._seen.get(text)) is not None:
            return seen
        found = self._spans(text)
        if short:
            if len(self._seen) >= _SEEN_MOST:
                self._seen.clear()
            self._seen[text] = found
        return found

    def _spans(self, text: str) -> list[tuple[int, int]]:
        folded, index = _folded(text)
        found = [m.span() for m in _EMAIL.finditer(folded) if self._any([f"email:{m.group()}"])]
        found += [
            m.span()
            for m in _PHONE.finditer(folded)
            if self._any(
                [f"phone:{_phone_of(m.group())}", *(f"phone#:{v}" for v in _phone_variants(m.group()))]
            )
        ]
        found += [span for span, words in _name_candidates(folded) if self._any([f"name:{words}"])]
        return [(index[a], index[b - 1] + 1) for a, b in found if b > a]


_SEEN_LONGEST = 200
_SEEN_MOST = 100_000
"""Texts of at most 200 characters are looked at once each, 100,000 remembered at most."""

NAMED_AFTER_FILES = ("knowledgeitem:", "source:")
"""Prefixes of the ids that may hold a file's name: a document named after its file, a source."""
_FILE_PROPS = frozenset({"file", "path", "source_key"})
"""Properties that hold a file's name or path (read as :meth:`_Finder.named` reads them)."""


TAG_SECRET = "tag-secret:"  # noqa: S105 (the entry's prefix, not a secret)
"""The suppression list's entry whose text is the secret that tags masked names (made by the first
erasure; kept with the list, so every process that checks the list tags alike)."""


def masked_key(value: str, finder: Suppression) -> str:
    """A file's name or path used as a key, with what names the person masked and a tag of what it was.

    Two files whose names mask alike (``张伟.vcf``, ``李娜.vcf``) keep two keys: the tag is a keyed
    hash of the whole name, which the same file gives again (an erasure and every later ingest agree).
    """
    masked, found = finder.redact_name(value)
    return f"{masked}~{finder.tag(value)}" if found else value


def masked_id(entity_id: str, finder: Suppression) -> str:
    """An id named after a file (:data:`NAMED_AFTER_FILES`), masked as :func:`masked_key` masks keys."""
    if not entity_id.startswith(NAMED_AFTER_FILES):
        return entity_id
    kind, _, rest = entity_id.partition(":")
    return f"{kind}:{masked_key(rest, finder)}"


def masked_source(source: Entity, finder: Suppression) -> Entity:
    """A ``Source`` with what names the person masked: its id, its name and path, its key (tagged)."""
    name, props, found = _redacted_props(source, finder)
    new_id = masked_id(source.id, finder)
    if not found and new_id == source.id:
        return source
    if "source_key" in source.props:
        props["source_key"] = masked_key(str(source.props["source_key"]), finder)
    renamed = source.model_copy(update={"id": new_id, "name": name, "props": props})
    return with_source_renamed(renamed, source.id, new_id)


def _id_column(column: str) -> bool:
    """Whether a column holds ids (``customer_id``, ``referred_by``...), where a bare ``101`` is an id."""
    return column.endswith("_id") or column in ID_COLUMNS


ID_COLUMNS = frozenset({"id", "referred_by", "handled_by", "customers", "authors", "delivered_to"})


def _name_candidates(folded: str) -> Iterator[tuple[tuple[int, int], str]]:
    """Every run of 2 to 4 Chinese characters, and of 1 to 4 words, that could be a name."""
    for run in re.finditer(r"[\u3400-\u9fff]{2,}", folded):
        start, chars = run.start(), run.group()
        for i in range(len(chars)):
            for size in (2, 3, 4):
                if i + size <= len(chars):
                    yield (start + i, start + i + size), chars[i : i + size]
    words = list(re.finditer(r"[^\W\d_]+", folded))
    for i in range(len(words)):
        for size in (2, 3, 4):
            if i + size <= len(words):
                span = (words[i].start(), words[i + size - 1].end())
                yield span, " ".join(w.group() for w in words[i : i + size])


# -- finding a person in text --------------------------------------------------------------------------


@dataclass
class Traces(_Finder):
    """What identifies one person in text: their name (when it may be redacted), e-mails and phones.

    Text is compared in its NFKC, case-folded form (full-width letters and digits, any case), and a
    trace is masked in the original text character by character (``█``), so the offsets of every other
    piece of evidence in it stay right.
    """

    names: list[str]
    emails: set[str]
    phones: set[str]
    values: set[str] = field(default_factory=set)
    """Ids as imported (``C101``), looked for in the id columns of quarantined rows only."""
    longer: list[str] = field(default_factory=list)
    """Other people's names that contain the name (王伟东 for 王伟): not masked."""

    def __post_init__(self) -> None:
        self._nationals = _nationals(self.phones)
        longer = [re.escape(form) for n in self.longer for form in {_fold(n), _JOINERS.sub(" ", _fold(n))}]
        self._longer = re.compile("|".join(longer)) if longer else None
        folded = [_fold(n) for n in self.names if len(_fold(n)) >= 2]
        self._folded_names = folded
        self._name = (
            re.compile(
                "|".join(
                    r"\s*".join(map(re.escape, n))
                    if _cjk(n)
                    else r"(?<!\w)" + r"\s+".join(map(re.escape, n.split())) + r"(?!\w)"
                    for n in folded
                )
            )
            if folded
            else None
        )
        self._phone_tails = {n[-4:] for n in self._nationals}

    def could_hold(self, texts: list[str]) -> bool:
        """See :meth:`_Finder.could_hold`: one look at all of them, each folded on its own."""
        return self._maybe("\n".join(_fold(text) for text in texts))

    def _maybe(self, folded: str) -> bool:
        """Whether ``folded`` could hold a trace at all (a cheap first look).

        Only substrings are looked for, and digits with everything else taken out, so what it finds in
        one of several texts it finds in them joined.
        """
        return (
            any(n.split()[0] in folded for n in self._folded_names)
            or (bool(self.emails) and "@" in folded)
            or (bool(self._phone_tails) and any(t in re.sub(r"\D", "", folded) for t in self._phone_tails))
        )

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` holds a trace, as spans of the original text."""
        if not self._maybe(unicodedata.normalize("NFKC", text).casefold()):
            return []
        folded, index = _folded(text)
        found: list[tuple[int, int]] = []
        if self.emails:
            found += [m.span() for m in _EMAIL.finditer(folded) if m.group() in self.emails]
        if self.phones:
            found += [m.span() for m in _PHONE.finditer(folded) if self._phone(m.group())]
        if self._name is not None:
            others = [m.span() for m in self._longer.finditer(folded)] if self._longer else []
            found += [
                m.span()
                for m in self._name.finditer(folded)
                if not any(a <= m.start() and m.end() <= b for a, b in others)
            ]
        return [(index[a], index[b - 1] + 1) for a, b in found if b > a]

    def _phone(self, text: str) -> bool:
        return _phone_of(text) in self.phones or bool(_phone_variants(text) & self._nationals)

    def in_raw(self, line: str) -> bool:
        """Whether a quarantined row (its line in the quarantine) holds any trace, or an id as imported."""
        texts, cells, ids = [line], [], []
        with contextlib.suppress(ValueError, AttributeError):
            raw = json.loads(line).get("raw")
            if isinstance(raw, str):
                texts.append(raw)
                try:
                    row = json.loads(raw)
                    cells = [str(v) for v in row.values()]
                    ids = [str(v) for k, v in row.items() if _id_column(str(k))]
                except (ValueError, AttributeError):  # a line that could not be read as a row
                    cells = ids = re.split(r"[,;\t|\"]", raw)
        if any(self.spans(t) for t in [*texts, *cells]):
            return True
        return any(normalise.text(c).strip() in self.values for c in ids)


MASK = "\u2588"
"""What a trace is replaced with, one for each character it had."""


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _folded(text: str) -> tuple[str, list[int]]:
    """``text`` folded character by character, and the original position of each folded character."""
    parts: list[str] = []
    index: list[int] = []
    for position, char in enumerate(text):
        folded = _fold(char) if not char.isascii() else char.lower()
        parts.append(folded)
        index.extend([position] * len(folded))
    return "".join(parts), index


def _phone_of(text: str) -> str | None:
    with contextlib.suppress(BadValue):
        return normalise.phone(text)
    return None


def _cjk(text: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" for c in text)


def masked_entity(entity: Entity, finder: _Finder) -> tuple[Entity, int]:
    """``entity`` with every trace ``finder`` finds masked, and how many.

    The texts of an item and its title; the free-text properties and the name of anything else (a
    customer's notes, a key phrase), though never a person's own name, aliases, e-mails, phones or
    ids. Not the undo records of merges it keeps (see :func:`_final_merges`).
    """
    name, props, found = _redacted_props(entity, finder)
    if not found:
        return entity, 0
    return entity.model_copy(update={"name": name, "props": props}), found


def _final_merges(entity: Entity, finder: _Finder, gone: frozenset[str]) -> tuple[list[str] | None, int]:
    """A survivor's undo records without those that hold a trace, and how many went.

    A record holds the merged one as it was, with its relationships, and the records it held in turn:
    one that names the person, or quotes an id of what the erasure took away (them, their own items,
    what was named after them, a document's or a source's old id), is not kept, and neither are the
    records before it (undone out of order, a merge takes back what a later one brought too). Those
    merges can no longer be undone; what they brought stays on the survivor, masked as the rest is.
    """
    merges = entity.props.get(MERGES)
    if not isinstance(merges, list):
        return None, 0
    last = max((i for i, kept in enumerate(merges) if _holds(str(kept), finder, gone)), default=-1)
    return [str(kept) for kept in merges[last + 1 :]] or None, last + 1


def _holds(kept: str, finder: _Finder, gone: frozenset[str]) -> bool:
    """Whether an undo record (as kept) names the person or quotes an id in ``gone``."""
    strings = list(record_strings(kept))
    if any(text in gone for text in strings):
        return True
    return finder.could_hold(strings) and any(finder.named(text) for text in strings)


_OWN = frozenset({*KEY_PROPS, "aliases", MERGES})
"""What of a person is theirs, names they go by included (and records, see :func:`_final_merges`):
not looked at for traces."""


def _redacted_props(entity: Entity, traces: _Finder) -> tuple[str, dict[str, Any], int]:
    """An entity's name and properties with every trace masked, and how many.

    A person's name, aliases, e-mails, phones and ids are their own: not looked at (what others share
    is no trace, and a person whose own were would not be kept at all). Merge records: see
    :func:`_final_merges`.
    """
    own = _OWN if entity.kind in PEOPLE else {MERGES}
    texts = [] if entity.kind in PEOPLE else [entity.name]
    for key, value in entity.props.items():
        if key in own:
            continue
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, list) and value and isinstance(value[0], str):
            texts.extend(value)
    if not traces.could_hold(texts):  # most items: one look at all their texts, not one a text
        return entity.name, dict(entity.props), 0
    file = entity.props.get("file")
    as_file = entity.kind is NodeKind.SOURCE or (isinstance(file, str) and entity.name == Path(file).stem)
    if entity.kind in PEOPLE:
        name, found = entity.name, 0
    else:
        name, found = traces.redact_name(entity.name) if as_file else traces.redact(entity.name)
    props: dict[str, Any] = {}
    for key, value in entity.props.items():
        if key in own:
            props[key] = value
        elif isinstance(value, str):
            props[key], n = traces.redact_name(value) if key in _FILE_PROPS else traces.redact(value)
            found += n
        elif isinstance(value, list) and value and isinstance(value[0], str):
            items = [traces.redact(v) for v in value]
            found += sum(n for _, n in items)
            kept = [v for v, n in items if not n]  # a key phrase that named them goes whole
            props[key] = kept or None
        else:
            props[key] = value
    return name, props, found


# -- erasure ------------------------------------------------------------------------------------------


class Scan(BaseModel):
    """What a scan after erasure found of the person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    items_scanned: int
    store_hits: int
    quarantine_hits: int
    namesakes: int
    """Other people with the same name: kept, with what is said about them."""

    @property
    def clean(self) -> bool:
        """Nothing of the person was found."""
        return not (self.store_hits or self.quarantine_hits)


class ErasureReport(BaseModel):
    """What :func:`erase` removed, and what the scan after it found (nothing, when ``clean``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity_id: str
    kind: str
    relations_deleted: int
    items_deleted: list[str]
    """Items that were the person's own (feedback they submitted)."""
    texts_redacted: int
    """Other items whose text, title or key phrases named them."""
    others_redacted: int = 0
    """Customers, colleagues and others whose free-text properties (a customer's notes) named them."""
    merges_made_final: int = 0
    """Reviewed merges that can no longer be undone: their undo records named them, or held what was
    theirs (what the merges brought stays, masked)."""
    jobs_redacted: int = 0
    """Kept ingest jobs whose files' names, report or error named them."""
    ids_masked: int = 0
    """Sources and documents named after a file whose name named them, given ids without it."""
    files_scrubbed: bool = True
    """Whether the store's files hold no copy of what was erased (False: a reader kept a log from being
    cleared; the next erasure clears it)."""
    quarantine_rows_removed: int
    suppressed_keys: int
    scan: Scan
    clean: bool


def _relations(store: GraphStore, entity_id: str) -> list[Relation]:
    """Every relationship touching the person, however many (read a page of ids at a time)."""
    ids = sorted({hop.relation_id for hop in store.expand([entity_id], types=None, direction=Direction.BOTH)})
    found: list[Relation] = []
    for start in range(0, len(ids), _PAGE):
        found += store.get_relations_by_id(ids[start : start + _PAGE]).values()
    return found


def _person(store: GraphStore, entity_id: str, kinds: tuple[NodeKind, ...]) -> Entity:
    entity = store.get_entity(entity_id)
    if entity is None:
        raise NotFound("no such person", entity_id=entity_id)
    if entity.kind not in kinds:
        wanted = " or ".join(k.value for k in kinds)
        raise InvalidInput(f"{entity_id} is of kind {entity.kind.value}, not {wanted}")
    return entity


def _traces(store: GraphStore, entity: Entity) -> tuple[Traces, int]:
    """The person's traces, and how many other people have their name.

    E-mails and phones another person also has (a switchboard, ``info@``) are not theirs alone: they
    are neither masked nor suppressed.
    """
    name = normalise_key(entity.name)
    namesakes, longer, shared = 0, [], set()
    for i, _, other, props in store.scan_entities(kinds=PEOPLE, fields=("emails", "phones")):
        if i == entity.id:
            continue
        folded = normalise_key(other)
        namesakes += folded == name
        if len(name) >= 2 and name in folded and folded != name:
            longer.append(other)
        shared |= {e.lower() for e in _strings(props.get("emails"))} | set(_strings(props.get("phones")))
    ids = {x.partition(":")[2] for x in _strings(entity.props.get("external_ids")) if ":" in x}
    traces = Traces(
        names=[entity.name] if len(name) >= 2 else [],
        emails={e.lower() for e in _strings(entity.props.get("emails"))} - shared,
        phones=set(_strings(entity.props.get("phones"))) - shared,
        values=ids | {entity.id.partition(":")[2]},
        longer=longer,
    )
    return traces, namesakes


def _ids(store: GraphStore, kinds: tuple[NodeKind, ...]) -> list[str]:
    return [entity_id for entity_id, _, _, _ in store.scan_entities(kinds=kinds, fields=())]


def _pages(store: GraphStore, ids: list[str]) -> Iterator[Entity]:
    """The entities among ``ids`` that still exist, read a page at a time."""
    for start in range(0, len(ids), _PAGE):
        yield from store.get_entities(ids[start : start + _PAGE]).values()


def _scan_entities(
    store: GraphStore, ids: list[str], traces: Traces, gone: frozenset[str]
) -> tuple[int, int]:
    """How many entities among ``ids`` hold a trace (in texts, in undo records); how many were read."""
    hits = scanned = 0
    for entity in _pages(store, ids):
        scanned += 1
        hits += bool(masked_entity(entity, traces)[1] or _final_merges(entity, traces, gone)[1])
    return hits, scanned


def _suppression_keys(
    person: Entity, organisations: list[str], traces: Traces, namesakes: int, own: list[str]
) -> set[str]:
    """What keeps a person out.

    Their keys (not the contacts others share), their own items' ids, and their name (alone, or with
    city or organisation) only when nobody else has it.
    """
    keys = {
        k
        for k in person_keys(person, organisations)
        if not (k.startswith("email:") and k[6:] not in traces.emails)
        and not (k.startswith("phone:") and k[6:] not in traces.phones)
        and not (k.startswith("phone#:") and k[7:] not in _nationals(traces.phones))
        and not (k.startswith("name+") and namesakes)
    }
    keys |= {f"id:{item}" for item in own}
    if not namesakes and traces.names:  # new texts naming them are masked too
        keys.add(f"name:{normalise_key(person.name)}")
    return keys


def erase(
    store: GraphStore, entity_id: str, quarantine_dir: Path, *, kinds: tuple[NodeKind, ...] = PEOPLE
) -> ErasureReport:
    """Erase a person and every trace of them, keep them out of later ingests, and scan for leftovers."""
    person = _person(store, entity_id, kinds)
    relations = _relations(store, person.id)
    organisations = [r.target for r in relations if r.type is RelType.WORKS_AT and r.source == person.id]
    traces, namesakes = _traces(store, person)
    linked = {r.target if r.source == person.id else r.source for r in relations}
    own = sorted(
        r.target for r in relations if r.type is RelType.SUBMITTED and r.source == person.id
    )  # their feedback: their words
    keys = _suppression_keys(person, organisations, traces, namesakes, own)
    if not any(h.startswith(TAG_SECRET) for h in store.suppressed()):  # under the writer's lock
        store.suppress([f"{TAG_SECRET}{secrets.token_hex(32)}"])
    store.suppress(_hash(k) for k in keys)  # first: an erasure cut short and run again keeps them out
    later = Suppression.of(store)  # files named after them (or anyone erased before), as ingests see them
    everywhere = traces if not namesakes else Traces(names=[], emails=traces.emails, phones=traces.phones)
    texts = _ids(store, TEXTS)
    redacted = 0
    for item in _pages(store, texts):
        if item.id in own:
            continue
        masked, found = masked_entity(item, traces if item.id in linked else everywhere)
        if found:
            store.write(Batch(entities=(masked,)))
            redacted += 1
    jobs = 0
    for record in store.jobs():
        record_masked, traced = masked_job(record, everywhere)
        if traced and not job_live(record):  # a live one: its process masks it as it keeps it
            store.save_job(record_masked, heard=False)
            jobs += 1
    renamed = _rename_sources(store, later)
    moved = {t: new_id for t in texts if (new_id := masked_id(t, later)) != t and t not in own}
    for text_id, new_id in moved.items():
        _move(store, text_id, new_id)
    texts = [moved.get(text_id, text_id) for text_id in texts]
    rows = traces if not namesakes else _with_ids(everywhere, traces)
    removed = _clean_quarantine(quarantine_dir, rows, later)
    deleted = 0
    named = _named_after(store, everywhere)  # what discovery found in texts under their name
    for theirs in [*named, *own]:
        deleted += store.erase_entity(theirs).relations_deleted
    gone = frozenset({person.id, *own, *named, *moved, *renamed})
    others = [i for i in _ids(store, OTHERS) if i != person.id]
    others_redacted = final = 0
    for other in _pages(store, others):  # a namesake's notes may name themselves: not linked ones alone
        masked, found = masked_entity(other, everywhere)
        merges, dropped = _final_merges(other, everywhere, gone)
        if found or dropped:
            store.write(Batch(entities=(_changes(other, masked, merges),)))
            others_redacted += bool(found)
            final += dropped
    # the person last: until they are gone, the same erasure again finds them and does it all again
    deleted += store.erase_entity(person.id).relations_deleted
    scrubbed = store.scrub()
    scan = _scan(store, [*texts, *others], everywhere, quarantine_dir, traces, namesakes, later, gone)
    return ErasureReport(
        entity_id=person.id,
        kind=person.kind.value,
        relations_deleted=deleted,
        items_deleted=own,
        texts_redacted=redacted,
        others_redacted=others_redacted,
        merges_made_final=final,
        jobs_redacted=jobs,
        ids_masked=len(renamed) + len(moved),
        files_scrubbed=scrubbed,
        quarantine_rows_removed=removed,
        suppressed_keys=len(keys),
        scan=scan,
        clean=scan.clean and scrubbed,
    )


def _changes(entity: Entity, masked: Entity, merges: Any) -> Entity:
    """What an erasure writes of an entity: the properties it changed (others written meanwhile stay)."""
    props = {k: v for k, v in masked.props.items() if k != MERGES and entity.props.get(k) != v}
    props |= {k: None for k in entity.props if k not in masked.props}
    if merges != entity.props.get(MERGES):
        props[MERGES] = merges
    return masked.model_copy(update={"props": props})


def _rename_sources(store: GraphStore, later: Suppression) -> list[str]:
    """Mask what names the person in the sources (a file's name and path); the old ids of those renamed.

    A source whose id holds the file's name gets the id a later ingest of that file gives it
    (:func:`masked_source`), and the evidence it gave follows it.
    """
    renamed = []
    for source_id, _, _, _ in list(store.scan_entities(kinds=(NodeKind.SOURCE,), fields=())):
        source = store.get_entity(source_id)
        if source is None or (masked := masked_source(source, later)) is source:
            continue
        if masked.id != source_id:
            there = store.get_entity(masked.id)  # the same file, ingested again since: one source
            store.rename_source(source_id, merge_entity(there, masked)[0] if there else masked)
            renamed.append(source_id)
        else:
            store.write(Batch(entities=(masked,)))
    return renamed


def _move(store: GraphStore, item_id: str, new_id: str) -> None:
    """Give an item a new id: written under it with every relationship it has, then erased under the old."""
    item = store.get_entity(item_id)
    if item is None:
        return
    relations = tuple(
        r.with_ends(lambda e: new_id if e == item_id else e) for r in _relations(store, item_id)
    )
    store.write(Batch(entities=(item.model_copy(update={"id": new_id}),), relations=relations))
    store.erase_entity(item_id)


def _named_after(store: GraphStore, traces: Traces) -> list[str]:
    """Candidates and discovered topics whose name names the person (``Dr. Helen Park``)."""
    found = store.scan_entities(kinds=(NodeKind.CANDIDATE, NodeKind.TOPIC), fields=("discovered",))
    return sorted(
        entity_id
        for entity_id, kind, name, props in found
        if (kind == NodeKind.CANDIDATE.value or props.get("discovered")) and traces.spans(name)
    )


def _with_ids(traces: Traces, full: Traces) -> Traces:
    return Traces(names=traces.names, emails=traces.emails, phones=traces.phones, values=full.values)


def _scan(
    store: GraphStore,
    entities: list[str],
    traces: Traces,
    quarantine_dir: Path,
    full: Traces,
    namesakes: int,
    later: Suppression,
    gone: frozenset[str],
) -> Scan:
    """Look for the person again.

    In people's e-mails and phones, the texts and other entities (their properties and undo records),
    the sources, the jobs and the quarantine.
    """
    person_hits = 0
    for _, _, _, props in store.scan_entities(kinds=PEOPLE, fields=("emails", "phones")):
        emails = {e.lower() for e in _strings(props.get("emails"))}
        phones = set(_strings(props.get("phones")))
        person_hits += bool(emails & full.emails or phones & full.phones)
    hits, scanned = _scan_entities(store, entities, traces, gone)  # what was erased since is not found
    person_hits += sum(1 for entity_id in entities if masked_id(entity_id, later) != entity_id)
    sources = store.scan_entities(kinds=(NodeKind.SOURCE,), fields=tuple(sorted(_FILE_PROPS)))
    person_hits += sum(
        1
        for source_id, _, name, props in sources
        if any(later.named(str(v)) for v in (source_id, name, *props.values()))
    )
    person_hits += sum(1 for record in store.jobs() if not job_live(record) and masked_job(record, traces)[1])
    rows = _with_ids(traces, full)
    quarantine = sum(1 for _, line in _quarantine_lines(quarantine_dir) if rows.in_raw(line))
    quarantine += sum(1 for path in _quarantine_files(quarantine_dir) if later.named(path.name))
    return Scan(
        items_scanned=scanned,
        store_hits=person_hits + hits,
        quarantine_hits=quarantine,
        namesakes=namesakes,
    )


def _quarantine_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def _quarantine_lines(folder: Path) -> Iterator[tuple[Path, str]]:
    for path in _quarantine_files(folder):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                yield path, line


def _clean_quarantine(folder: Path, traces: Traces, later: Suppression) -> int:
    """Drop the quarantined rows that hold a trace of the person; how many.

    A file named after them keeps its other rows: its name is masked, in each row and in the name
    of the file that keeps them, as a later ingest of it names them (:func:`quarantine_name`).
    """
    removed = 0
    for path in _quarantine_files(folder):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [
            _masked_row(line, later) for line in lines if not traces.in_raw(_masked_row(line, later, "file"))
        ]
        removed += len(lines) - len(kept)
        target = path.with_name(quarantine_name(masked_key(path.stem, later)))
        if kept == lines and target == path:
            continue
        if target != path and target.exists():  # the same file, ingested again after an erasure
            # (or this one, moved there by an erasure stopped before it deleted the old file)
            kept = list(dict.fromkeys(target.read_text(encoding="utf-8").splitlines(keepends=True) + kept))
        fresh = path.with_suffix(f".{os.getpid()}.tmp")
        fresh.write_text("".join(kept), encoding="utf-8")
        os.replace(fresh, target)
        if target != path:
            path.unlink()
    return removed


ROW_FIELDS = ("file", "raw", "reason")
"""What a quarantined row holds that may name a person (its line number does not)."""


def quarantine_name(source: str) -> str:
    """The file that keeps a source's bad rows, named as its id is (``欧阳晓燕.vcf@<digest>``)."""
    return f"{source.removeprefix('source:')}.jsonl"


def masked_row(row: dict[str, Any], finder: _Finder, fields: Iterable[str] = ROW_FIELDS) -> dict[str, Any]:
    """A quarantined row masked as a later ingest masks it: its file's name, the row as read, the reason."""
    named = set(fields)
    return {k: finder.redact_name(v)[0] if k in named and isinstance(v, str) else v for k, v in row.items()}


def _masked_row(line: str, later: Suppression, *fields: str) -> str:
    """:func:`masked_row` of a quarantine file's line; ``fields``: only these.

    A row is judged with its file's name masked: what is left of them (their name in a note, their
    e-mail) makes it theirs, and it is deleted.
    """
    with contextlib.suppress(ValueError, AttributeError):
        row = json.loads(line)
        masked = masked_row(row, later, fields or ROW_FIELDS)
        if masked != row:
            return json.dumps(masked, ensure_ascii=False) + "\n"
    return line


# -- access requests -------------------------------------------------------------------------------------


def export_person(store: GraphStore, entity_id: str, quarantine_dir: Path) -> dict[str, Any]:
    """Everything held about a person, machine-readable.

    The record and its evidence, every relationship (with what is at its other end), the items that
    name them, and their quarantined rows.
    """
    person = _person(store, entity_id, PEOPLE)
    relations = _relations(store, person.id)
    others = store.get_entities(sorted({r.target if r.source == person.id else r.source for r in relations}))
    traces, _ = _traces(store, person)
    named = [
        {"id": other.id, "kind": other.kind.value, "name": other.name, "props": other.props}
        for other in others.values()
        if other.kind in TEXTS
    ]
    quarantined = [json.loads(line) for _, line in _quarantine_lines(quarantine_dir) if traces.in_raw(line)]
    return {
        "format": "ckn person export 1",
        "person": json.loads(person.model_dump_json()),
        "relations": [
            {
                **json.loads(r.model_dump_json()),
                "other": {
                    "id": (o := r.target if r.source == person.id else r.source),
                    "kind": others[o].kind.value if o in others else None,
                    "name": others[o].name if o in others else None,
                },
            }
            for r in relations
        ],
        "items": named,
        "quarantined_rows": quarantined,
    }
