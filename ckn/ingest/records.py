"""From one CSV row to graph facts: one small function per kind of file.

Each converter takes a :class:`tabular.Row` and the :class:`Context` of its file and returns the
entities and relations the row states, or raises :class:`normalise.BadValue` with the reason the row
goes to quarantine. References (``customer_id``, ``handled_by``, ...) may hold an id, an e-mail, a
phone or a name; they are resolved, and an unknown one is a bad row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ckn.graph.ids import entity_id
from ckn.graph.model import (
    Entity,
    NodeKind,
    Props,
    PropValue,
    Provenance,
    Relation,
    RelType,
    check_relation_kinds,
    utcnow,
)
from ckn.graph.names import KEY_PROPS
from ckn.ingest import discovery, normalise
from ckn.ingest.nlp import EXTRACTOR_VERSION as NLP_VERSION
from ckn.ingest.nlp import Analysis, Mention
from ckn.ingest.normalise import BadValue
from ckn.ingest.resolve import Resolver
from ckn.ingest.tabular import Row

EXTRACTOR_VERSION = "1"
CHANNELS = frozenset({"call", "email", "meeting", "chat", "ticket", "visit", "purchase"})
FEEDBACK_KINDS = frozenset({"complaint", "praise", "suggestion", "question", "review"})
_CHANNEL_WORDS = {
    "电话": "call",
    "邮件": "email",
    "会议": "meeting",
    "聊天": "chat",
    "工单": "ticket",
    "拜访": "visit",
    "购买": "purchase",
    "phone": "call",
    "e-mail": "email",
    "mail": "email",
}
_FEEDBACK_WORDS = {
    "投诉": "complaint",
    "表扬": "praise",
    "建议": "suggestion",
    "咨询": "question",
    "评价": "review",
}
_PERSON_WORDS = {"person", "个人", "contact", "individual"}
_ORG_WORDS = {"organization", "organisation", "company", "企业", "公司", "org", "account"}

Fact = Entity | Relation
_EMAIL_COLUMN = re.compile(r"email\d*")
_PHONE_COLUMN = re.compile(r"phone\d*")


@dataclass
class Context:
    """What converters of one file share: the resolver, the source and the file kind."""

    resolver: Resolver
    source_id: str
    file_kind: str
    system: str = "crm"
    """Which system the file's own ids come from (``crm``, ``hubspot``, ...)."""
    lenient: bool = False
    """The first conversion of a row that may name rows further down the file: an unknown reference
    is counted in :attr:`misses` instead of failing the row, which is converted again at the end."""
    misses: int = 0
    """Unknown references met so far (only counted when :attr:`lenient`)."""
    observed_at: datetime = field(default_factory=utcnow)
    """When this file was read: the time on all the evidence it gives."""
    phone_region: str = normalise.DEFAULT_REGION
    """Where a phone number without a country code is, unless the row's country or city says."""
    _evidence: dict[str, tuple[Provenance, ...]] = field(default_factory=dict, repr=False)
    _last_line: str = ""

    def prov(self, row: Row, *, named_in: str | None = None) -> tuple[Provenance, ...]:
        """Evidence for a fact stated by ``row``.

        ``named_in``: the fact is something many rows name in that column (a department, a segment,
        a company known only by name). Its evidence is the column of the file, one entry however many
        rows name it; each row's own statement is on its relation to it. Otherwise a department named
        by 50,000 rows would carry 50,000 pieces of evidence, rewritten with every batch.
        """
        locator = f"line {row.line}" if named_in is None else f"column {named_in}"
        evidence = self._evidence.get(locator)
        if evidence is None:  # made once per row and per column: a row states several facts
            if named_in is None:
                self._evidence.pop(self._last_line, None)
                self._last_line = locator
            evidence = self._evidence[locator] = (
                Provenance(
                    source_id=self.source_id,
                    locator=locator,
                    extractor=f"ckn.{self.file_kind}",
                    extractor_version=EXTRACTOR_VERSION,
                    observed_at=self.observed_at,
                ),
            )
        return evidence

    def ref(self, kind: NodeKind, value: str | None, what: str) -> str | None:
        """Resolve a reference cell; empty is None, unknown is a bad row."""
        if not value:
            return None
        found = self.resolver.reference(kind, value)
        if found is None and not self.missed():
            raise BadValue(f"unknown {what} {value[:80]!r}")
        return found

    def missed(self) -> bool:
        """Note a reference not known yet; whether that is allowed (:attr:`lenient`) or not."""
        self.misses += self.lenient
        return self.lenient

    def relation(
        self, rtype: RelType, source: str, target: str, row: Row, *, key: str = "", **props: PropValue
    ) -> Relation:
        """A relation stated by ``row``, checked against the schema with the kinds the resolver knows."""
        rel = Relation(
            type=rtype,
            source=source,
            target=target,
            key=key,
            props={k: v for k, v in props.items() if v is not None},
            provenance=self.prov(row),
        )
        source_kind, target_kind = self.resolver.kind_of(source), self.resolver.kind_of(target)
        if source_kind and target_kind and (problem := check_relation_kinds(rel, source_kind, target_kind)):
            raise BadValue(problem)
        return rel


def _iso(value: str | None) -> str | None:
    return normalise.date(value).isoformat() if value else None


def _when(value: str | None) -> datetime | None:
    return normalise.date(value) if value else None


def _yes(value: str | None) -> bool:
    return normalise.match_key(value or "") in {"yes", "true", "1", "y", "是", "x"}


def _split(value: str | None) -> list[str]:
    return [normalise.text(v) for v in (value or "").replace("｜", "|").split("|") if v.strip()]


COLUMNS: dict[str, tuple[str, ...]] = {
    "employees": (
        "employee_id",
        "name",
        "email",
        "department",
        "title",
        "manager_id",
        "location",
        "hired_at",
        "left_at",
        "expertise_opt_out",
    ),
    "customers": (
        "customer_id",
        "name",
        "kind",
        "organization_id",
        "email",
        "phone",
        "city",
        "segment",
        "owner_employee_id",
        "referred_by",
        "acquired_at",
        "lifetime_value",
    ),
    "products": ("product_id", "name", "category", "aliases"),
    "topics": ("topic_id", "name", "aliases", "parent_id"),
    "interactions": (
        "interaction_id",
        "occurred_at",
        "channel",
        "direction",
        "employee_id",
        "customer_id",
        "product_id",
        "subject",
        "notes",
        "amount",
    ),
    "feedback": (
        "feedback_id",
        "submitted_at",
        "customer_id",
        "product_id",
        "rating",
        "kind",
        "text",
        "handled_by",
        "resolution",
    ),
    "relationships": ("source_id", "type", "target_id", "weight", "occurred_at"),
    "documents": (
        "file",
        "id",
        "title",
        "authors",
        "products",
        "customers",
        "topics",
        "delivered_to",
        "created_at",
        "kind",
    ),
}
"""The canonical columns of each kind of file (docs/formats.md); other columns become properties."""


def _extras(row: Row, kind: str, also: tuple[str, ...] = ()) -> dict[str, PropValue]:
    """Columns ckn has no name for are kept as properties (reserved names get a ``col_`` prefix)."""
    used = {*COLUMNS[kind], *also}
    extras: dict[str, PropValue] = {}
    for name, value in row.cells.items():
        if name in used or _EMAIL_COLUMN.fullmatch(name) or _PHONE_COLUMN.fullmatch(name):
            continue
        key = (
            name
            if name not in {"id", "name", "kind", "type", "key", "valid_from", "valid_to"}
            else f"col_{name}"
        )
        extras[key.lstrip("_") or "col"] = normalise.text(value)
    return extras


def _identity(ctx: Context, kind: NodeKind, crm_id: str | None, row: Row) -> tuple[str, dict[str, list[str]]]:
    """The id a person-like record resolves to, and the union of its key properties.

    A record with the CRM's own id keeps ``<kind>:<id>`` unless an entity with one of its e-mails or
    phones is already known (then it joins that one). A record without one joins the entity with one
    of its e-mails, phones or external ids, or, having none of those, the one entity with its name.
    """
    keys: dict[str, list[str]] = {"emails": [], "phones": [], "external_ids": []}
    for column in sorted(row.cells):
        if _EMAIL_COLUMN.fullmatch(column):
            keys["emails"].append(normalise.email(row.cells[column]))
        elif _PHONE_COLUMN.fullmatch(column):
            region = normalise.region_of(row.cells.get("country"), row.cells.get("city"), ctx.phone_region)
            keys["phones"].append(normalise.phone(row.cells[column], region, ctx.phone_region))
    if crm_id:
        keys["external_ids"].append(f"crm:{normalise.text(crm_id)}")
    if row.cells.get("external_id"):
        keys["external_ids"].append(f"{ctx.system}:{normalise.text(row.cells['external_id'])}")
    candidate = entity_id(kind.value, normalise.text(crm_id)) if crm_id else None
    if candidate and ctx.resolver.kind_of(candidate) is kind:
        found = candidate
    else:
        found = ctx.resolver.by_keys(kind, **keys) or ""
        if not found and not any(keys.values()) and _name(row):
            found = ctx.resolver.by_name(kind, _name(row)) or ""
        if not found:
            natural = next((v[0] for v in keys.values() if v), None) or _name(row)
            if not natural:
                raise BadValue("no id, e-mail, phone or name to identify the record")
            found = candidate or entity_id(kind.value, natural_key=natural)
    merged = {prop: sorted(ctx.resolver.keys_of(found, prop) | set(keys[prop])) for prop in KEY_PROPS}
    return found, {k: v for k, v in merged.items() if v}


def _entity(
    ctx: Context,
    row: Row,
    entity_id_: str,
    kind: NodeKind,
    name: str,
    props: dict[str, Any],
    *,
    named_in: str | None = None,
) -> Entity:
    """An entity stated by ``row``; properties the row leaves empty are not sent (they would erase)."""
    clean = {k: v for k, v in props.items() if v is not None and v != []}
    provenance = ctx.prov(row, named_in=named_in)
    return Entity(id=entity_id_, kind=kind, name=name, props=clean, provenance=provenance)


def _name(row: Row) -> str:
    if row.cells.get("name"):
        return normalise.text(row.cells["name"])
    first, last = row.cells.get("first_name", ""), row.cells.get("last_name", "")
    if any("\u4e00" <= c <= "\u9fff" for c in first + last):
        return normalise.text(last + first)  # Chinese order: family name first, no space
    return normalise.text(f"{first} {last}")


def _named_group(ctx: Context, kind: NodeKind, column: str, row: Row) -> Entity:
    """A department or segment named in ``column``, identified by its normalised name."""
    name = row.cells[column]
    found = ctx.resolver.by_name(kind, name) or entity_id(kind.value, natural_key=normalise.match_key(name))
    return _entity(ctx, row, found, kind, normalise.text(name), {}, named_in=column)


def employees(row: Row, ctx: Context) -> list[Fact]:
    """``employees.csv``: id, name, email, department, title, manager, location, hired_at, left_at."""
    c = row.cells
    eid, keys = _identity(ctx, NodeKind.EMPLOYEE, c.get("employee_id"), row)
    props: dict[str, Any] = {
        **_extras(row, "employees"),
        **keys,
        "title": normalise.text(c["title"]) if c.get("title") else None,
        "location": normalise.text(c["location"]) if c.get("location") else None,
        "hired_at": _iso(c.get("hired_at")),
        "left_at": _iso(c.get("left_at")),
        "expertise_opt_out": True if _yes(c.get("expertise_opt_out")) else None,
    }
    me = _entity(ctx, row, eid, NodeKind.EMPLOYEE, _name(row), props)
    facts: list[Fact] = [me]
    if c.get("department"):
        dept = _named_group(ctx, NodeKind.DEPARTMENT, "department", row)
        ctx.resolver.learn(dept)
        facts += [dept, ctx.relation(RelType.MEMBER_OF, eid, dept.id, row)]
    if manager := ctx.ref(NodeKind.EMPLOYEE, c.get("manager_id"), "manager"):
        facts.append(ctx.relation(RelType.REPORTS_TO, eid, manager, row))
    return facts


def customers(row: Row, ctx: Context) -> list[Fact]:
    """``customers.csv`` (and contacts exports through a preset)."""
    c = row.cells
    cid, keys = _identity(ctx, NodeKind.CUSTOMER, c.get("customer_id"), row)
    kind_word = normalise.match_key(c.get("kind", ""))
    customer_kind = (
        "organization" if kind_word in _ORG_WORDS else "person" if kind_word in _PERSON_WORDS else None
    )
    if kind_word and customer_kind is None:
        raise BadValue(f"kind must be person or organization, not {c['kind']!r}")
    props: dict[str, Any] = {
        **_extras(row, "customers", also=("first_name", "last_name", "external_id", "knows")),
        **keys,
        "customer_kind": customer_kind,
        "city": normalise.text(c["city"]) if c.get("city") else None,
        "acquired_at": _iso(c.get("acquired_at")),
        "lifetime_value": normalise.number(c["lifetime_value"]) if c.get("lifetime_value") else None,
    }
    me = _entity(ctx, row, cid, NodeKind.CUSTOMER, _name(row), props)
    facts: list[Fact] = [me]
    if org_ref := c.get("organization_id"):
        facts += _employer(ctx, row, cid, org_ref)
    if c.get("segment"):
        segment = _named_group(ctx, NodeKind.SEGMENT, "segment", row)
        ctx.resolver.learn(segment)
        facts += [segment, ctx.relation(RelType.IN_SEGMENT, cid, segment.id, row)]
    if owner := ctx.ref(NodeKind.EMPLOYEE, c.get("owner_employee_id"), "account owner"):
        rel = ctx.relation(RelType.OWNS_ACCOUNT, owner, cid, row)
        facts.append(rel.model_copy(update={"valid_from": _when(c.get("acquired_at"))}))
    if referrer := ctx.ref(NodeKind.CUSTOMER, c.get("referred_by"), "referrer"):
        if referrer == cid:
            raise BadValue("a customer cannot refer itself")
        facts.append(ctx.relation(RelType.REFERRED, referrer, cid, row, via="referred_by", confidence=1.0))
    for other in _split(c.get("knows")):  # vCard RELATED: contacts not in the graph are skipped
        known = ctx.resolver.by_keys(NodeKind.CUSTOMER, external_ids=[f"{ctx.system}:{other}"])
        known = known or ctx.resolver.reference(NodeKind.CUSTOMER, other)
        if known is None:
            ctx.missed()  # further down the file, or not in the graph (then skipped)
        elif known != cid:
            facts.append(ctx.relation(RelType.KNOWS, cid, known, row, via="vcard RELATED"))
    return facts


def _employer(ctx: Context, row: Row, cid: str, org_ref: str) -> list[Fact]:
    """``WORKS_AT`` the company in ``organization_id``; one known only by name is harvested.

    A contacts export often names companies the CRM has no row for. In a row's first conversion, an
    unknown company may still have its own row further down: nothing is harvested yet.
    """
    org = ctx.resolver.reference(NodeKind.CUSTOMER, org_ref)
    if org is None and ctx.missed():
        return []
    harvested = entity_id(NodeKind.CUSTOMER.value, natural_key=normalise.match_key(org_ref))
    org = org or harvested
    facts: list[Fact] = []
    if org == harvested:
        new_org = _entity(
            ctx,
            row,
            harvested,
            NodeKind.CUSTOMER,
            normalise.text(org_ref),
            {"customer_kind": "organization"},
            named_in="organization_id",
        )
        ctx.resolver.learn(new_org)
        facts.append(new_org)
    if org != cid:
        facts.append(ctx.relation(RelType.WORKS_AT, cid, org, row))
    return facts


def products(row: Row, ctx: Context) -> list[Fact]:
    """``products.csv``: product_id, name, category, aliases (separated by ``|``)."""
    c = row.cells
    if not c.get("product_id") and not c.get("name"):
        raise BadValue("a product needs a product_id or a name")
    pid = entity_id(NodeKind.PRODUCT.value, c.get("product_id"), natural_key=c.get("name"))
    props: dict[str, Any] = {
        **_extras(row, "products"),
        "category": normalise.text(c["category"]) if c.get("category") else None,
        "aliases": _split(c.get("aliases")) or None,
    }
    return [_entity(ctx, row, pid, NodeKind.PRODUCT, normalise.text(c.get("name", "")), props)]


def topics(row: Row, ctx: Context) -> list[Fact]:
    """``topics.csv``: topic_id, name, aliases, parent_id."""
    c = row.cells
    if not c.get("topic_id") and not c.get("name"):
        raise BadValue("a topic needs a topic_id or a name")
    tid = entity_id(NodeKind.TOPIC.value, c.get("topic_id"), natural_key=c.get("name"))
    props: dict[str, Any] = {
        **_extras(row, "topics"),
        "aliases": _split(c.get("aliases")) or None,
    }
    facts: list[Fact] = [_entity(ctx, row, tid, NodeKind.TOPIC, normalise.text(c.get("name", "")), props)]
    if parent := ctx.ref(NodeKind.TOPIC, c.get("parent_id"), "parent topic"):
        facts.append(ctx.relation(RelType.SUBTOPIC_OF, tid, parent, row))
    return facts


def _channel(value: str) -> str:
    word = normalise.match_key(value)
    channel = _CHANNEL_WORDS.get(word, word)
    if channel not in CHANNELS:
        raise BadValue(f"channel must be one of {', '.join(sorted(CHANNELS))}, not {value!r}")
    return channel


def interactions(row: Row, ctx: Context) -> list[Fact]:
    """``interactions.csv``: a call, e-mail, meeting, chat, ticket, visit or purchase."""
    c = row.cells
    if not c.get("interaction_id"):
        raise BadValue("interaction_id is missing")
    iid = entity_id(NodeKind.INTERACTION.value, c["interaction_id"])
    channel = _channel(c.get("channel", ""))
    occurred = _when(c.get("occurred_at"))
    employee = ctx.ref(NodeKind.EMPLOYEE, c.get("employee_id"), "employee")
    customer = ctx.ref(NodeKind.CUSTOMER, c.get("customer_id"), "customer")
    product = ctx.ref(NodeKind.PRODUCT, c.get("product_id"), "product")
    amount = normalise.number(c["amount"]) if c.get("amount") else None
    props: dict[str, Any] = {
        **_extras(row, "interactions"),
        "channel": channel,
        "occurred_at": occurred.isoformat() if occurred else None,
        "direction": normalise.text(c["direction"]).lower() if c.get("direction") else None,
        "notes": normalise.text(c["notes"]) if c.get("notes") else None,
        "amount": amount,
    }
    name = normalise.text(c.get("subject", "")) or f"{channel} {c['interaction_id']}"
    facts: list[Fact] = [_entity(ctx, row, iid, NodeKind.INTERACTION, name, props)]
    if employee:
        facts.append(ctx.relation(RelType.PARTICIPATED_IN, employee, iid, row))
    if customer:
        facts.append(ctx.relation(RelType.PARTICIPATED_IN, customer, iid, row))
    if product:
        facts.append(ctx.relation(RelType.ABOUT, iid, product, row))
    if channel == "purchase" and customer and product:
        facts.append(
            ctx.relation(
                RelType.PURCHASED,
                customer,
                product,
                row,
                key=iid,
                amount=amount,
                at=occurred.isoformat() if occurred else None,
            )
        )
    return facts


def feedback(row: Row, ctx: Context) -> list[Fact]:
    """``feedback.csv``: a complaint, praise, suggestion, question or review, and who handled it."""
    c = row.cells
    if not c.get("feedback_id"):
        raise BadValue("feedback_id is missing")
    fid = entity_id(NodeKind.FEEDBACK.value, c["feedback_id"])
    word = normalise.match_key(c.get("kind", ""))
    kind = _FEEDBACK_WORDS.get(word, word)
    if kind and kind not in FEEDBACK_KINDS:
        raise BadValue(f"kind must be one of {', '.join(sorted(FEEDBACK_KINDS))}, not {c['kind']!r}")
    rating = None
    if c.get("rating"):
        rating = normalise.number(c["rating"])
        if not 1 <= rating <= 5:
            raise BadValue(f"rating must be 1 to 5, not {c['rating']!r}")
    customer = ctx.ref(NodeKind.CUSTOMER, c.get("customer_id"), "customer")
    product = ctx.ref(NodeKind.PRODUCT, c.get("product_id"), "product")
    handler = ctx.ref(NodeKind.EMPLOYEE, c.get("handled_by"), "employee (handled_by)")
    text = normalise.text(c.get("text", ""))
    props: dict[str, Any] = {
        **_extras(row, "feedback"),
        "feedback_kind": kind or None,
        "submitted_at": _iso(c.get("submitted_at")),
        "rating": int(rating) if rating is not None and rating.is_integer() else rating,
        "text": text or None,
        "resolution": normalise.text(c["resolution"]) if c.get("resolution") else None,
    }
    name = text[:60] or f"{kind or 'feedback'} {c['feedback_id']}"
    facts: list[Fact] = [_entity(ctx, row, fid, NodeKind.FEEDBACK, name, props)]
    if customer:
        facts.append(ctx.relation(RelType.SUBMITTED, customer, fid, row))
    if product:
        facts.append(ctx.relation(RelType.ABOUT, fid, product, row))
    if handler:
        facts.append(
            ctx.relation(
                RelType.RESOLVED,
                handler,
                fid,
                row,
                resolution=normalise.text(c["resolution"]) if c.get("resolution") else None,
            )
        )
    return facts


def relationships(row: Row, ctx: Context) -> list[Fact]:
    """``relationships.csv``: source_id, type, target_id, weight, occurred_at (any kinds)."""
    c = row.cells
    try:
        rtype = RelType(normalise.text(c.get("type", "")).upper().replace(" ", "_"))
    except ValueError:
        raise BadValue(f"unknown relationship type {c.get('type', '')!r}") from None
    source, target = _any_ref(ctx, c.get("source_id"), "source"), _any_ref(ctx, c.get("target_id"), "target")
    weight = normalise.number(c["weight"]) if c.get("weight") else None
    occurred = _when(c.get("occurred_at"))
    rel = ctx.relation(
        rtype, source, target, row, weight=weight, occurred_at=occurred.isoformat() if occurred else None
    )
    return [rel.model_copy(update={"valid_from": occurred})]


def _any_ref(ctx: Context, value: str | None, what: str) -> str:
    if not value:
        raise BadValue(f"{what}_id is missing")
    if ctx.resolver.kind_of(normalise.text(value)):
        return normalise.text(value)
    for kind in (NodeKind.CUSTOMER, NodeKind.EMPLOYEE, NodeKind.PRODUCT, NodeKind.TOPIC):
        if found := ctx.resolver.reference(kind, value):
            return found
    raise BadValue(f"unknown {what} {value[:80]!r}")


CONVERTERS: dict[str, Callable[[Row, Context], list[Fact]]] = {
    "employees": employees,
    "customers": customers,
    "products": products,
    "topics": topics,
    "interactions": interactions,
    "feedback": feedback,
    "relationships": relationships,
}
"""Converters by file kind, in the order a bundle is ingested (referenced kinds first)."""
ORDER = ("topics", "products", "employees", "customers", "interactions", "feedback", "relationships")


DOC_KINDS = frozenset({"faq", "manual", "case", "best_practice", "proposal", "note", "guide", "report"})
TEXT_LIMIT = 100_000


def documents(row: Row, ctx: Context) -> list[Fact]:
    """A document: a knowledge item, its authors, what it is about and whom it was delivered to."""
    c = row.cells
    kid = entity_id(NodeKind.KNOWLEDGE_ITEM.value, normalise.text(c["document_id"]))
    kind = normalise.match_key(c.get("kind", "")).replace(" ", "_") or None
    if kind and kind not in DOC_KINDS:
        raise BadValue(f"kind must be one of {', '.join(sorted(DOC_KINDS))}, not {c['kind']!r}")
    text = c.get("text", "")
    unresolved: list[str] = []

    def refs(column: str, kind_: NodeKind) -> list[str]:
        found = []
        for ref in _split(c.get(column)):
            target = _person_ref(ctx.resolver, kind_, ref)
            if target:
                found.append(target)
            else:
                unresolved.append(f"{column}:{ref}")
        return found

    authors = refs("authors", NodeKind.EMPLOYEE)
    about = (
        refs("products", NodeKind.PRODUCT)
        + refs("topics", NodeKind.TOPIC)
        + refs("customers", NodeKind.CUSTOMER)
    )
    delivered = refs("delivered_to", NodeKind.CUSTOMER)
    props: dict[str, Any] = {
        **_extras(row, "documents", also=("document_id", "text")),
        "doc_kind": kind,
        "file": c.get("file"),
        "created_at": _iso(c.get("created_at")),
        "text": text[:TEXT_LIMIT] or None,
        "text_truncated": True if len(text) > TEXT_LIMIT else None,
        "unresolved": unresolved or None,
    }
    facts: list[Fact] = [
        _entity(ctx, row, kid, NodeKind.KNOWLEDGE_ITEM, normalise.text(c.get("title", "")), props)
    ]
    facts += [ctx.relation(RelType.AUTHORED, author, kid, row) for author in authors]
    facts += [ctx.relation(RelType.ABOUT, kid, subject, row) for subject in about]
    facts += [ctx.relation(RelType.DELIVERED_TO, kid, customer, row) for customer in delivered]
    return facts


CONVERTERS["documents"] = documents


_NAMED_ADDRESS = re.compile(r"^\s*\"?(?P<name>[^<\"]*?)\"?\s*<(?P<address>[^>]+)>\s*$")


def _person_ref(resolver: Resolver, kind: NodeKind, ref: str) -> str | None:
    """A reference that may be written ``Name <address>`` (an e-mail's sender): the address, else the name."""
    if match := _NAMED_ADDRESS.match(ref):
        return resolver.reference(kind, match["address"]) or (
            resolver.reference(kind, match["name"]) if match["name"].strip() else None
        )
    return resolver.reference(kind, ref)


TEXT_KINDS = (NodeKind.KNOWLEDGE_ITEM, NodeKind.INTERACTION, NodeKind.FEEDBACK)


def text_of(entity: Entity) -> str:
    """The text of an item that extraction reads (a document's text, a ticket's subject and notes)."""
    if entity.kind is NodeKind.KNOWLEDGE_ITEM:
        return str(entity.props.get("text") or "")
    if entity.kind is NodeKind.INTERACTION:
        return "\n".join(filter(None, [entity.name, str(entity.props.get("notes") or "")]))
    if entity.kind is NodeKind.FEEDBACK:
        return str(entity.props.get("text") or "")
    return ""


TOPICS_EXTRACTOR = "ckn_topics_v1"
STATED_REFERRALS = "ckn_stated_referrals_v1"
_PEOPLE_LABELS = frozenset({"CUSTOMER", "EMPLOYEE"})
STATED_CONFIDENCE = 0.5
"""Confidence of a referral a customer states in the first person (a CRM row's is 1.0)."""


class TopicBook:
    """The topics an ingest run knows by key (master data and discovered), to merge and nest new ones."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.ids: dict[str, str] = {}
        for known_id, known in resolver.known.items():
            if known.kind is NodeKind.TOPIC:
                for name in [known.name, *known.aliases]:
                    if key := discovery.topic_key(name):
                        self.ids.setdefault(key, known_id)

    def place(self, phrase: discovery.Phrase) -> tuple[str, bool]:
        """The topic id of a phrase, and whether it is new (not in master data nor discovered before)."""
        found = self.ids.get(phrase.key) or self.resolver.by_name(NodeKind.TOPIC, phrase.name)
        if found:
            self.ids.setdefault(phrase.key, found)
            return found, False
        topic = self.ids[phrase.key] = entity_id(NodeKind.TOPIC.value, natural_key=phrase.key)
        return topic, True

    def nesting(self, key: str) -> list[tuple[str, str]]:
        """``SUBTOPIC_OF`` pairs (narrower id, broader id) a new topic makes with the known ones."""
        pairs = [(self.ids[key], self.ids[b]) for b in discovery.broader(key, self.ids)]
        for other in self.ids:
            if other != key and key in other and key in discovery.broader(other, self.ids):
                pairs.append((self.ids[other], self.ids[key]))
        return [(a, b) for a, b in pairs if a != b]


def text_facts(
    entity: Entity,
    analysis: Analysis,
    ctx: Context,
    *,
    topics: TopicBook | None = None,
    speaker: str | None = None,
) -> tuple[Entity, list[Entity], list[Relation]]:
    """What extraction found in an item's text, as facts with their offsets and extractor.

    Every linked mention is a ``MENTIONS`` relation (keyed by its offsets); a mentioned product or topic
    also makes the item ``ABOUT`` it; a referral cue between two customers is a ``REFERRED`` relation
    with the cue's confidence. Discovered topics are ``Topic`` entities the item is ``ABOUT`` (new ones
    nested under the topics their names contain); people and organisations named in the text are
    ``Candidate`` entities it ``MENTIONS``; a referral stated in the first person by ``speaker`` (the
    customer who submitted the text) is a ``REFERRED`` relation to them.
    """
    relations: list[Relation] = []
    entities: list[Entity] = []
    about: dict[str, Mention] = {}
    for m in analysis.mentions:
        if not m.entity_id or m.entity_id == entity.id:
            continue
        evidence = _text_evidence(ctx, m.start, m.end, m.extractor, m.confidence)
        relations.append(
            Relation(
                type=RelType.MENTIONS,
                source=entity.id,
                target=m.entity_id,
                key=f"{m.start}-{m.end}",
                props={"text": m.text, "label": m.label, "start": m.start, "end": m.end},
                provenance=evidence,
            )
        )
        if m.label in {"PRODUCT", "TOPIC"}:
            about.setdefault(m.entity_id, m)
    for target, m in about.items():
        relations.append(
            Relation(
                type=RelType.ABOUT,
                source=entity.id,
                target=target,
                props={"complaint": True} if target in analysis.complaints else {},
                provenance=_text_evidence(ctx, m.start, m.end, m.extractor, m.confidence),
            )
        )
    for cue in analysis.cues:
        relations.append(
            Relation(
                type=RelType.REFERRED,
                source=cue.referrer,
                target=cue.referred,
                props={"via": "text cue"},
                provenance=_text_evidence(ctx, cue.start, cue.end, "ckn_referral_cues_v1", cue.confidence),
            )
        )
    if topics is not None:
        found, nested = _discovered_topics(entity, analysis, ctx, topics, set(about))
        entities += found
        relations += nested
    found_names, mentioned = _candidates(entity, analysis, ctx)
    entities += found_names
    relations += mentioned
    stated, unresolved = _stated_referrals(analysis, ctx, speaker)
    relations += stated
    props = {
        **entity.props,
        "language": analysis.language,
        "words": analysis.words,
        "keyphrases": list(analysis.keyphrases) or None,
        "named_entities": analysis.unlinked or None,
        "stated_referrers": unresolved or None,
    }
    updated = entity.model_copy(update={"props": {k: v for k, v in props.items() if v is not None}})
    return updated, entities, relations


def _discovered_topics(
    entity: Entity, analysis: Analysis, ctx: Context, book: TopicBook, linked: set[str]
) -> tuple[list[Entity], list[Relation]]:
    entities: list[Entity] = []
    relations: list[Relation] = []
    for phrase in analysis.topics:
        topic, new = book.place(phrase)
        if topic in linked:
            continue
        linked.add(topic)
        confidence = round(0.4 + 0.4 * phrase.score, 2)
        evidence = _text_evidence(ctx, phrase.start, phrase.end, TOPICS_EXTRACTOR, confidence)
        if new:  # written once, with the span that found it; each item's span is on its ABOUT
            props: Props = {
                "discovered": True,
                "match_key": phrase.key,
                "confidence": confidence,
                "aliases": [phrase.name],
            }
            entities.append(
                Entity(id=topic, kind=NodeKind.TOPIC, name=phrase.name, props=props, provenance=evidence)
            )
            for narrower, broader in book.nesting(phrase.key):
                relations.append(
                    Relation(
                        type=RelType.SUBTOPIC_OF,
                        source=narrower,
                        target=broader,
                        props={"via": "name contains"},
                        provenance=evidence,
                    )
                )
        relations.append(
            Relation(
                type=RelType.ABOUT,
                source=entity.id,
                target=topic,
                props={"discovered": True, "count": phrase.count},
                provenance=evidence,
            )
        )
    return entities, relations


def _candidates(entity: Entity, analysis: Analysis, ctx: Context) -> tuple[list[Entity], list[Relation]]:
    """People and organisations named in the text, as candidates for review, with their mentions."""
    entities: dict[str, Entity] = {}
    relations: list[Relation] = []
    for name in analysis.names:
        key = normalise.match_key(name.text)
        candidate = entity_id(NodeKind.CANDIDATE.value, natural_key=f"{name.label} {key}")
        evidence = _text_evidence(ctx, name.start, name.end, name.extractor, name.confidence)
        if candidate not in entities:
            props: Props = {"label": name.label, "confidence": name.confidence, "aliases": [name.text]}
            entities[candidate] = Entity(
                id=candidate, kind=NodeKind.CANDIDATE, name=name.text, props=props, provenance=evidence
            )
        relations.append(
            Relation(
                type=RelType.MENTIONS,
                source=entity.id,
                target=candidate,
                key=f"{name.start}-{name.end}",
                props={"text": name.text, "label": name.label, "start": name.start, "end": name.end},
                provenance=evidence,
            )
        )
    return list(entities.values()), relations


def _stated_referrals(
    analysis: Analysis, ctx: Context, speaker: str | None
) -> tuple[list[Relation], list[str]]:
    """``REFERRED`` relations from the referrers a customer names in the first person to that customer."""
    if speaker is None:
        return [], []
    relations: list[Relation] = []
    unresolved: list[str] = []
    for stated in analysis.stated_referrals:
        named = [
            m.entity_id
            for m in analysis.mentions
            if m.entity_id
            and m.label in {"CUSTOMER", "EMPLOYEE"}
            and m.start < stated.end
            and stated.start < m.end
        ]
        referrer = named[0] if named else ctx.resolver.reference(NodeKind.CUSTOMER, stated.referrer)
        if not referrer or referrer == speaker:
            unresolved.append(stated.referrer)
            continue
        evidence = _text_evidence(ctx, stated.cue_start, stated.cue_end, STATED_REFERRALS, STATED_CONFIDENCE)
        relations.append(
            Relation(
                type=RelType.REFERRED,
                source=referrer,
                target=speaker,
                props={"via": "first-person statement"},
                provenance=evidence,
            )
        )
    return relations, unresolved


def _text_evidence(
    ctx: Context, start: int, end: int, extractor: str, confidence: float
) -> tuple[Provenance, ...]:
    return (
        Provenance(
            source_id=ctx.source_id,
            locator="text",
            start=start,
            end=end,
            extractor=extractor,
            extractor_version=NLP_VERSION,
            confidence=confidence,
            observed_at=ctx.observed_at,
        ),
    )
