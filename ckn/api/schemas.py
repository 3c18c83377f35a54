"""Response models of the API (and of the CLI's ``--json``, which prints exactly the same)."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ckn.graph.audit import AuditEntry
from ckn.graph.model import Entity, Provenance, Relation
from ckn.graph.store import DeleteResult, Subgraph, WriteResult
from ckn.ingest.erasure import ErasureReport
from ckn.ingest.pipeline import IngestReport
from ckn.queries.experts import Evidence
from ckn.queries.knowledge import BusFactor, Loss, TacitHolder

T = TypeVar("T")


class AuditPage(BaseModel):
    """A page of the audit log; pass ``next_after`` as ``after`` for the next."""

    items: list[AuditEntry]
    next_after: int | None


class Page(BaseModel, Generic[T]):
    """A page of a list; ``next_after`` is the cursor of the next page (None on the last)."""

    items: list[T]
    next_after: str | None


class ReviewDecision(BaseModel):
    """A reviewer's decision on a merge candidate."""

    entity_id: str
    candidate_id: str


class NameDecision(BaseModel):
    """A reviewer's decision on a person or organisation named in text."""

    candidate_id: str
    as_kind: Literal["Employee", "Customer"] | None = None
    """What a confirmed candidate becomes (default: a person an employee, an organisation a customer)."""
    into: str | None = None
    """Whom it merges into (id or name of a colleague or customer)."""


class EntityOut(BaseModel):
    """An entity as the API shows it."""

    id: str
    kind: str
    name: str
    props: dict[str, Any]
    provenance: list[Provenance]

    @classmethod
    def of(cls, entity: Entity) -> EntityOut:
        """From the domain model."""
        return cls(
            id=entity.id,
            kind=entity.kind.value,
            name=entity.name,
            props=entity.props,
            provenance=list(entity.provenance),
        )


class RelationOut(BaseModel):
    """A relationship as the API shows it."""

    id: str
    type: str
    source: str
    target: str
    key: str
    props: dict[str, Any]
    valid_from: str | None
    valid_to: str | None
    provenance: list[Provenance]

    @classmethod
    def of(cls, rel: Relation) -> RelationOut:
        """From the domain model."""
        return cls(
            id=rel.id,
            type=rel.type.value,
            source=rel.source,
            target=rel.target,
            key=rel.key,
            props=rel.props,
            valid_from=rel.valid_from.isoformat() if rel.valid_from else None,
            valid_to=rel.valid_to.isoformat() if rel.valid_to else None,
            provenance=list(rel.provenance),
        )


class SubgraphOut(BaseModel):
    """A neighbourhood."""

    start: str
    entities: list[EntityOut]
    distances: dict[str, int]
    relations: list[RelationOut]
    truncated: bool

    @classmethod
    def of(cls, sub: Subgraph) -> SubgraphOut:
        """From the domain model."""
        return cls(
            start=sub.start,
            entities=[EntityOut.of(e) for e in sub.entities],
            distances=sub.distances,
            relations=[RelationOut.of(r) for r in sub.relations],
            truncated=sub.truncated,
        )


def ingest_report_json(report: IngestReport) -> dict[str, Any]:
    """An ingest report as the CLI's ``--json`` and the ingest job endpoint show it."""
    return {
        "quarantine_dir": report.quarantine_dir,
        "quarantined": report.quarantined,
        "written": report.written.model_dump(),
        "files": [
            {
                "path": f.path,
                "kind": f.kind,
                "status": f.status,
                "reason": f.reason,
                "source_id": f.source_id,
                "key": f.key,
                "replaces": f.replaces,
                "replacement": f.replacement.model_dump() if f.replacement else None,
                "replaced": f.replaced,
                "rows": f.rows,
                "quarantined": f.quarantined,
                "suppressed": f.suppressed,
                "suppressed_lines": f.suppressed_lines[:1000],
                "written": f.written.model_dump(),
                "seconds": round(f.seconds, 3),
                "rows_per_second": round(f.rows_per_second, 1),
                "words": f.words,
                "words_per_second": round(f.words_per_second, 1),
            }
            for f in report.files
        ],
    }


# -- answers ---------------------------------------------------------------------------------------


class _Out(BaseModel):
    """An answer's shape: a key the code adds without declaring it here fails its test, never vanishes."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Health(_Out):
    """Liveness."""

    status: str


class Ready(_Out):
    """Readiness, with the store that answered."""

    status: str
    store: str
    warming: list[str] = []
    """What is still being built in the background to make answers faster (they are served meanwhile)."""


class Decided(_Out):
    """A review decision taken."""

    status: str


class SubjectRef(_Out):
    """A product, topic or customer a question named."""

    id: str
    name: str
    kind: str


class ExpertOut(_Out):
    """A colleague who knows the subjects asked, with the evidence."""

    employee_id: str
    name: str
    score: float
    left: bool
    focus: float
    subjects: list[str]
    strength: float
    documented: float
    evidence_count: int
    evidence: list[Evidence]


class ExpertsAnswer(_Out):
    """``GET /experts``."""

    query: str
    subjects: list[SubjectRef]
    experts: list[ExpertOut]


class TacitAnswer(_Out):
    """``GET /knowledge/tacit``."""

    subject: str | None
    tacit_holders: list[TacitHolder]


class BusFactorAnswer(_Out):
    """``GET /knowledge/bus-factor``."""

    subjects: list[BusFactor]


class DepartureAnswer(_Out):
    """``GET /employees/{id}/departure-impact``."""

    employee_id: str
    uncovered: list[Loss]


class ReferralNode(_Out):
    """A customer in a referral tree, with the totals of its branch."""

    customer_id: str
    name: str
    depth: int
    lifetime_value: float
    confidence: float
    branch_customers: int
    branch_value: float
    children: list[ReferralNode]


class ChainLink(_Out):
    """A referrer above a customer."""

    customer_id: str
    name: str


class ReferralsAnswer(_Out):
    """``GET /customers/{id}/referrals``: the tree below (``down``) or the chain above (``up``)."""

    customer_id: str
    direction: Literal["down", "up"]
    tree: ReferralNode | None = None
    cycles: list[list[str]] | None = None
    chain: list[ChainLink] | None = None


class Cohort(_Out):
    """Customers acquired in one period and the referrals they made."""

    customers: int
    referrals: int
    k_factor: float


class ReferralStats(_Out):
    """``GET /referrals/stats``."""

    customers: int
    referred: int
    share_referred: float
    k_factor_by_cohort: dict[str, Cohort]
    depth_distribution: dict[int, int]
    cycles: list[list[str]]


class Named(_Out):
    """An entity by id and name."""

    id: str
    name: str


class Identity(_Out):
    """Who a customer is, and the sources that say so."""

    id: str
    name: str
    kind: str | None
    external_ids: list[str]
    organization: list[Named]
    people: list[Named]
    sources: list[str]


class Channels(_Out):
    """How to reach a customer, and the channels used."""

    emails: list[str]
    phones: list[str]
    city: str | None
    used: dict[str, int]


class FeedbackOut(_Out):
    """A piece of feedback a customer gave."""

    id: str
    kind: str | None
    rating: float | None
    text: str | None
    when: str | None
    resolved: bool


class Needs(_Out):
    """What a customer asked, complained about, praised; what they care about."""

    feedback: list[FeedbackOut]
    subjects: list[str]


class PurchaseOut(_Out):
    """A purchase."""

    product: str
    amount: float | None
    at: str | None


class Behaviour(_Out):
    """What a customer does."""

    interactions: int
    last_interaction: str | None
    purchases: list[PurchaseOut]


class Value(_Out):
    """What a customer is worth."""

    lifetime_value: float | None
    purchases_total: float


class Owner(_Out):
    """An account owner, past or present."""

    employee_id: str
    name: str
    from_: str | None = Field(alias="from")
    to: str | None
    current: bool


class Colleague(_Out):
    """A colleague who knows a customer."""

    employee_id: str
    name: str
    score: float


class Completeness(_Out):
    """How complete a customer's record is, of the five levels."""

    score: int
    of: int
    missing: list[str]


class Customer360(_Out):
    """``GET /customers/{id}``: the customer 360 and hand-over dossier."""

    identity: Identity
    channels: Channels
    needs: Needs
    behaviour: Behaviour
    value: Value
    owners: list[Owner]
    open_complaints: list[str]
    knowledge_delivered: list[Named]
    colleagues: list[Colleague]
    completeness: Completeness


class SearchHit(_Out):
    """A customer, colleague, product or topic found by name, or a document found by its words."""

    id: str
    kind: str
    name: str
    score: float
    snippet: str | None = None
    """A document's text around its first match."""
    highlights: list[list[int]] = []
    """Where the query's words are in the snippet: ``[start, end]`` character offsets."""
    about: list[Named] = []
    """What a document is about (products, topics, customers)."""


class LastInteraction(_Out):
    """The latest interaction behind a tie."""

    id: str
    name: str
    channel: str | None
    when: str | None


class Tie(_Out):
    """One hop of a warm-introduction path."""

    from_: str = Field(alias="from")
    to: str
    via: str
    strength: float
    last_interaction: LastInteraction | None


class IntroPath(_Out):
    """A warm-introduction path, ranked by its weakest tie."""

    nodes: list[str]
    names: list[str]
    weakest_tie: float
    ties: list[Tie]


class MapEvidence(_Out):
    """A piece of evidence on a knowledge map."""

    kind: str
    item_id: str
    item_name: str
    when: str | None


class MapHolder(_Out):
    """A holder of a subject on the knowledge map."""

    employee_id: str
    name: str
    behavioural: float
    documented: float
    evidence: list[MapEvidence]


class MapRow(_Out):
    """A subject of the knowledge map and its strongest holders."""

    subject_id: str
    subject_name: str
    kind: str
    holders_total: int
    holders: list[MapHolder]


class Gap(_Out):
    """A topic customers ask about that no knowledge item covers."""

    topic_id: str
    name: str
    demand: int
    asked: int
    complaints: int
    examples: list[str]


class TopicListed(_Out):
    """A topic with its document count, aliases, broader topics and origin."""

    id: str
    name: str
    discovered: bool
    documents: int
    items: int
    aliases: list[str]
    broader: list[Named]
    confidence: float | None


class AnalysisAnswer(BaseModel):
    """``GET /analysis/...`` in JSON: what was measured on which network, and its results.

    The results are under ``ranking``, ``communities``, ``suggestions``, ``ambassadors``,
    ``brokers``/``silos``, or a graph's ``nodes`` and ``links``, each as its measure describes.
    """

    model_config = ConfigDict(extra="allow")

    measure: str | None = None
    network: str | None = None


class FileOut(_Out):
    """One file of an ingest report."""

    path: str
    kind: str
    status: str
    reason: str
    source_id: str
    key: str
    replaces: list[str]
    replacement: DeleteResult | None
    replaced: bool
    rows: int
    quarantined: int
    suppressed: int
    """Rows about people erased before: not written (or written without the link to them)."""
    suppressed_lines: list[int]
    written: WriteResult
    seconds: float
    rows_per_second: float
    words: int
    words_per_second: float


class IngestReportOut(_Out):
    """What an ingest did, file by file."""

    quarantine_dir: str
    quarantined: int
    written: WriteResult
    files: list[FileOut]


class JobOut(_Out):
    """An ingest job: ``queued``, ``running``, ``done``, ``failed`` or ``interrupted`` (report when done)."""

    id: str
    kind: Literal["ingest"] = "ingest"
    status: str
    files: list[str]
    created_at: str
    finished_at: str | None
    report: IngestReportOut | None
    error: str | None
    status_url: str | None = None


class ErasureJobOut(_Out):
    """An erasure that outlasted its request: ``running``, ``done``, ``failed`` or ``interrupted``.

    Its report when it is done, as kept: what names the erased person in it is masked.
    """

    id: str
    kind: Literal["erasure"]
    status: str
    created_at: str
    finished_at: str | None
    report: ErasureReport | None
    error: str | None
    status_url: str | None = None


class Me(_Out):
    """Who a request's key or token is, its role, and the operations (``METHOD path``) it may call."""

    open: bool
    """No key exists: every operation is allowed."""
    who: str | None
    role: str | None
    allowed: list[str]


class QuarantinedRow(_Out):
    """A row an ingest set aside, with where it was and why."""

    file: str | None
    line: int | None
    reason: str | None
    raw: str | None


class PersonExport(_Out):
    """Everything held about a person (an access request): record, relationships, items, quarantine."""

    format: str
    person: dict[str, Any]
    relations: list[dict[str, Any]]
    items: list[dict[str, Any]]
    """Interactions, feedback and documents linked to them."""
    quarantined_rows: list[dict[str, Any]]
