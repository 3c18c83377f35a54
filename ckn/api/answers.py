"""Answers shared by the HTTP API and the CLI (``--json`` prints exactly what the endpoint returns)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from functools import cache, partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from ckn.api.deps import SettingsDep, StoreDep
from ckn.api.schemas import (
    AnalysisAnswer,
    BusFactorAnswer,
    Customer360,
    DepartureAnswer,
    ExpertsAnswer,
    Gap,
    IntroPath,
    MapRow,
    ReferralsAnswer,
    ReferralStats,
    SearchHit,
    TacitAnswer,
    TopicListed,
)
from ckn.api.understand import entity_ref, search, subjects_of
from ckn.graph.cache import Tier, cached
from ckn.graph.errors import Ambiguous, InvalidInput
from ckn.graph.model import NodeKind
from ckn.graph.settings import Settings
from ckn.graph.store import GraphStore
from ckn.queries.analysis import (
    ambassadors,
    brokers,
    communities,
    departments_bridged,
    export,
    network,
    pagerank,
    suggestions,
)
from ckn.queries.customer import customer_360
from ckn.queries.experts import experts
from ckn.queries.knowledge import (
    MAP_HOLDERS,
    at_risk,
    bus_factor,
    departure_impact,
    gaps,
    knowledge_map,
    tacit_holders,
    topics,
)
from ckn.queries.referrals import Referrer, referral_chain, referral_stats, referral_tree, referrers
from ckn.queries.relationships import Relationship, warm_intros, who_knows


def experts_answer(
    store: GraphStore,
    settings: Settings,
    query: str = "",
    *,
    product: str | None = None,
    customer: str | None = None,
    topic: str | None = None,
    limit: int = 10,
    include_left: bool = False,
) -> dict[str, Any]:
    """The experts on what ``query`` names (and on the product, customer, topic given by id or name)."""
    subjects = subjects_of(store, query) if query else []
    for named, kind in ((product, NodeKind.PRODUCT), (customer, NodeKind.CUSTOMER), (topic, NodeKind.TOPIC)):
        if named:
            subjects += _named_subjects(store, named, kind)
    subjects = list(dict.fromkeys(subjects))
    if not subjects:
        raise InvalidInput("no product, topic or customer recognised in the question")
    named_subjects = store.get_entities(subjects)
    ranked = experts(
        store,
        subjects,
        half_life_days=settings.expertise_half_life_days,
        include_left=include_left,
        limit=limit,
        subjects=named_subjects,
    )
    return {
        "query": query,
        "subjects": [
            {"id": s, "name": named_subjects[s].name, "kind": named_subjects[s].kind.value} for s in subjects
        ],
        "experts": [
            {
                "employee_id": e.employee_id,
                "name": e.name,
                "score": e.score,
                "left": e.left,
                "focus": e.focus,
                "subjects": e.subjects,
                "strength": e.strength,
                "documented": e.documented,
                "evidence_count": e.evidence_count,
                "evidence": [ev.__dict__ for ev in e.evidence],
            }
            for e in ranked
        ],
    }


def _named_subjects(store: GraphStore, named: str, kind: NodeKind | None = None) -> list[str]:
    """The subjects a parameter names; where it names several by id, the one of its own ``kind``."""
    try:
        found = subjects_of(store, named)
    except Ambiguous as several:
        ids = [str(c["id"]) for c in several.extra["candidates"]]
        found = [i for i, e in store.get_entities(ids).items() if e.kind is kind]
        if len(found) != 1:
            raise
    if not found:
        raise InvalidInput("no product, customer or topic has the name or id given")
    return found


def tacit_answer(
    store: GraphStore, settings: Settings, topic: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """Tacit knowledge holders (of one topic or product, or of all): the "document this next" list."""
    subject = _named_subjects(store, topic, NodeKind.TOPIC)[0] if topic else None
    found = tacit_holders(store, subject, half_life_days=settings.expertise_half_life_days, limit=limit)
    return {
        "subject": subject,
        "tacit_holders": [
            {
                **{k: v for k, v in t.__dict__.items() if k != "evidence"},
                "evidence": [e.__dict__ for e in t.evidence],
            }
            for t in found
        ],
    }


def bus_factor_answer(store: GraphStore, settings: Settings, subject: str | None = None) -> dict[str, Any]:
    """The bus factor of one subject, or every topic and product whose bus factor is 1."""
    half_life = settings.expertise_half_life_days
    if subject:
        one = bus_factor(store, _named_subjects(store, subject)[0], half_life_days=half_life)
        return {"subjects": [one.__dict__]}
    return {"subjects": [b.__dict__ for b in at_risk(store, half_life_days=half_life)]}


def departure_answer(store: GraphStore, settings: Settings, employee_id: str) -> dict[str, Any]:
    """What becomes uncovered if a colleague leaves, with suggested successors."""
    employee_id = entity_ref(store, employee_id, (NodeKind.EMPLOYEE,))
    losses = departure_impact(store, employee_id, half_life_days=settings.expertise_half_life_days)
    return {"employee_id": employee_id, "uncovered": [loss.__dict__ for loss in losses]}


router = APIRouter()


Offset = Annotated[int, Query(ge=0, description="Skip this many of the ranked answers (the next page).")]


@router.get("/experts", tags=["sales"], response_model=ExpertsAnswer)
def get_experts(
    store: StoreDep,
    settings: SettingsDep,
    q: Annotated[str, Query(description="A product, topic or customer, or a question naming them.")] = "",
    product: str | None = None,
    customer: str | None = None,
    topic: str | None = None,
    limit: Annotated[int, Query(ge=1)] = 10,
    offset: Offset = 0,
    include_left: bool = False,
) -> Response:
    """Colleagues who know the subjects asked about, ranked, each with the evidence behind it."""
    answer = experts_answer(
        store,
        settings,
        q,
        product=product,
        customer=customer,
        topic=topic,
        limit=offset + limit,
        include_left=include_left,
    )
    return _checked_json(ExpertsAnswer, {**answer, "experts": answer["experts"][offset:]})


@router.get("/knowledge/tacit", tags=["knowledge"], response_model=TacitAnswer)
def get_tacit(
    store: StoreDep,
    settings: SettingsDep,
    topic: str | None = None,
    limit: Annotated[int, Query(ge=1)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Tacit knowledge holders: strong behavioural evidence, little or none written down."""
    answer = tacit_answer(store, settings, topic, offset + limit)
    return {**answer, "tacit_holders": answer["tacit_holders"][offset:]}


@router.get("/knowledge/bus-factor", tags=["knowledge"], response_model=BusFactorAnswer)
def get_bus_factor(store: StoreDep, settings: SettingsDep, subject: str | None = None) -> dict[str, Any]:
    """How many people a subject rests on; without a subject, every topic and product resting on one."""
    return bus_factor_answer(store, settings, subject)


@router.get("/employees/{employee_id}/departure-impact", tags=["knowledge"], response_model=DepartureAnswer)
def get_departure(store: StoreDep, settings: SettingsDep, employee_id: str) -> dict[str, Any]:
    """What becomes uncovered if this colleague leaves, and who could take it over."""
    return departure_answer(store, settings, employee_id)


def referrals_answer(
    store: GraphStore, customer_id: str, *, up: bool = False, depth: int = 6
) -> dict[str, Any]:
    """The downstream referral tree of a customer, or the upstream chain to the original referrer."""
    customer_id = entity_ref(store, customer_id, (NodeKind.CUSTOMER,))
    if up:
        chain = referral_chain(store, customer_id, max_depth=depth)
        names = store.get_entities([customer_id, *chain])
        return {
            "customer_id": customer_id,
            "direction": "up",
            "chain": [{"customer_id": c, "name": names[c].name} for c in chain],
        }
    tree, cycles = referral_tree(store, customer_id, max_depth=depth)
    return {"customer_id": customer_id, "direction": "down", "tree": tree.as_dict(), "cycles": cycles}


def warm_up(store: GraphStore, settings: Settings, *, stop: threading.Event | None = None) -> list[str]:
    """Ask a question of each kind a user asks first, once, so that theirs find everything warm.

    Experts on the first topic (or product) by id, then who knows, the 360 and the referral tree of the
    first customer by id: what a serving process builds on first use, and the database's plans and
    pages for these questions (right after Neo4j starts, a first expert question takes seconds). Stops
    before the next question once ``stop`` is set. Returns what was asked.
    """
    days = settings.expertise_half_life_days
    subjects = store.list_entities(NodeKind.TOPIC, limit=1) or store.list_entities(NodeKind.PRODUCT, limit=1)
    questions: list[tuple[str, Callable[[], object]]] = [
        ("experts", partial(experts_answer, store, settings, s.id)) for s in subjects
    ]
    for c in store.list_entities(NodeKind.CUSTOMER, limit=1):
        questions += [
            ("who knows", partial(who_knows, store, c.id, half_life_days=days)),
            ("customer 360", partial(customer_360, store, c.id, half_life_days=days)),
            ("referral tree", partial(referrals_answer, store, c.id)),
        ]
    asked = []
    for name, ask in questions:
        if stop is not None and stop.is_set():
            break
        ask()
        asked.append(name)
    return asked


@router.get(
    "/customers/{customer_id}/referrals",
    tags=["marketing"],
    response_model=ReferralsAnswer,
    response_model_exclude_unset=True,
)
def get_referrals(
    store: StoreDep,
    customer_id: str,
    direction: Annotated[str, Query(pattern="^(up|down)$")] = "down",
    depth: Annotated[int, Query(ge=1)] = 6,
) -> Response:
    """Whom a customer brought in (the tree, with totals per branch), or who brought them in."""
    return _checked_json(
        ReferralsAnswer,
        referrals_answer(store, customer_id, up=direction == "up", depth=depth),
        exclude_unset=True,
    )


def _checked_json(model: Any, answer: Any, *, exclude_unset: bool = False) -> Response:
    """An answer checked against its model (a type, or a list of one) and written as JSON in one pass.

    For large nested answers (a referral tree holds thousands of customers, the knowledge map tens of
    thousands of fields): a fraction of the time of FastAPI's check, conversion and ``json.dumps`` of
    the same answer. ``exclude_unset``: only the fields the answer sets.
    """
    adapter = _adapter(model)
    checked = adapter.validate_python(answer)
    return Response(adapter.dump_json(checked, exclude_unset=exclude_unset), media_type="application/json")


@cache
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


@router.get("/referrers", tags=["marketing"], response_model=list[Referrer])
def get_referrers(
    store: StoreDep, top: Annotated[int, Query(ge=1)] = 10, since: str | None = None, offset: Offset = 0
) -> list[dict[str, Any]]:
    """Customers ranked by the customers their referrals brought in, with direct and indirect counts."""
    return [r.__dict__ for r in referrers(store, top=offset + top, since=since)][offset:]


@router.get("/referrals/stats", tags=["marketing"], response_model=ReferralStats)
def get_referral_stats(
    store: StoreDep, period: Annotated[str, Query(pattern="^(month|quarter)$")] = "quarter"
) -> dict[str, Any]:
    """K-factor by acquisition cohort, depth distribution, share acquired by referral, cycles."""
    return referral_stats(store, period=period)


@router.get("/customers/{customer_id}", tags=["everyone"], response_model=Customer360)
def get_customer(store: StoreDep, settings: SettingsDep, customer_id: str) -> dict[str, Any]:
    """The customer 360: identity, channels, needs, behaviour, value, owners, complaints, colleagues."""
    customer_id = entity_ref(store, customer_id, (NodeKind.CUSTOMER,))
    return customer_360(store, customer_id, half_life_days=settings.expertise_half_life_days)


@router.get("/search", tags=["everyone"], response_model=list[SearchHit])
def get_search(
    store: StoreDep,
    q: Annotated[str, Query(min_length=1)],
    limit: Annotated[int, Query(ge=1)] = 20,
    offset: Offset = 0,
) -> list[dict[str, object]]:
    """Customers, colleagues, products and topics by name or alias, Chinese or English, fuzzy."""
    return search(store, q, limit=offset + limit)[offset:]


@router.get("/customers/{customer_id}/relationships", tags=["sales"], response_model=list[Relationship])
def get_relationships(
    store: StoreDep,
    settings: SettingsDep,
    customer_id: str,
    limit: Annotated[int, Query(ge=1)] = 20,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Colleagues ranked by relationship strength with a customer, with the last interaction."""
    days = settings.expertise_half_life_days
    customer_id = entity_ref(store, customer_id, (NodeKind.CUSTOMER,))
    found = who_knows(store, customer_id, half_life_days=days, limit=offset + limit)
    return [r.__dict__ for r in found][offset:]


@router.get("/paths/intro", tags=["sales"], response_model=list[IntroPath])
def get_intro(
    store: StoreDep,
    settings: SettingsDep,
    employee_id: str,
    customer_id: str,
    max_depth: Annotated[int, Query(ge=1)] = 4,
    limit: Annotated[int, Query(ge=1)] = 5,
) -> list[dict[str, Any]]:
    """Warm-introduction paths from a colleague to a customer, strongest weakest tie first."""
    employee_id = entity_ref(store, employee_id, (NodeKind.EMPLOYEE,))
    customer_id = entity_ref(store, customer_id, (NodeKind.CUSTOMER,))
    return warm_intros(
        store,
        employee_id,
        customer_id,
        max_depth=max_depth,
        half_life_days=settings.expertise_half_life_days,
        limit=limit,
    )


@router.get("/knowledge/map", tags=["knowledge"], response_model=list[MapRow])
def get_knowledge_map(
    store: StoreDep,
    settings: SettingsDep,
    department: str | None = None,
    top: Annotated[int, Query(ge=1)] = MAP_HOLDERS,
) -> Response:
    """Topics and products × their strongest holders, with behavioural and documented evidence apart."""
    return _checked_json(
        list[MapRow],
        knowledge_map(
            store, department=department, half_life_days=settings.expertise_half_life_days, top=top
        ),
    )


@router.get("/knowledge/gaps", tags=["knowledge"], response_model=list[Gap])
def get_gaps(
    store: StoreDep, limit: Annotated[int, Query(ge=1)] = 50, offset: Offset = 0
) -> list[dict[str, object]]:
    """Topics customers ask or complain about that no knowledge item covers, most asked first."""
    return gaps(store, limit=offset + limit)[offset:]


@router.get("/topics", tags=["knowledge"], response_model=list[TopicListed])
def get_topics(
    store: StoreDep,
    discovered: bool = False,
    min_docs: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1)] = 100,
    offset: Offset = 0,
) -> list[dict[str, object]]:
    """Topics, most documented first: document counts, aliases, broader topics, master data or discovered."""
    found = topics(store, discovered=discovered, min_docs=min_docs, limit=offset + limit)[offset:]
    return [asdict(t) for t in found]


class AnalysisOptions(BaseModel):
    """The options of a network analysis, for the route (query parameters) and the CLI alike."""

    method: Literal["leiden", "louvain"] = Field(
        default="leiden", description="Communities: leiden or louvain."
    )
    top: int = Field(default=20, ge=1, le=1000, description="How many to list.")
    reverse: bool = Field(default=False, description="PageRank against the edges (referrers collect it).")
    format: Literal["json", "graphml", "gexf", "csv"] = Field(
        default="json", description="Export: json, graphml, gexf or csv."
    )
    node: str | None = Field(default=None, description="PageRank around / suggestions for this node.")
    since: str | None = Field(default=None, description="Only work from this ISO date on.")
    department: str | None = Field(default=None, description="Only the colleagues of this department.")
    segment: str | None = Field(default=None, description="Only the customers of this segment.")

    @classmethod
    def checked(cls, **values: Any) -> AnalysisOptions:
        """The options, or :class:`InvalidInput` saying which one is wrong."""
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidInput(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def analysis_answer(
    store: GraphStore, network_name: str, measure: str, options: AnalysisOptions | None = None
) -> Any:
    """One measure on one projected network, with what it means; remembered until the graph changes."""
    options = options or AnalysisOptions()
    method, top, reverse, fmt = options.method, options.top, options.reverse, options.format
    node, since, department, segment = options.node, options.since, options.department, options.segment
    key = ("analysis", network_name, measure, method, top, reverse, fmt, node, since, department, segment)

    def compute() -> Any:
        if measure == "ambassadors":
            return {
                "measure": "referral ambassadors: greedy coverage of referral communities",
                **ambassadors(store, k=top),
            }
        if measure == "departments":
            return {
                "measure": "cross-department brokers and silos (collaboration network)",
                **departments_bridged(store),
            }
        try:
            start = datetime.fromisoformat(since).replace(tzinfo=UTC) if since else None
        except ValueError:
            raise InvalidInput(f"since must be an ISO date, not {since!r}") from None
        graph = network(store, network_name, since=start, department=department, segment=segment)
        if measure == "suggestions":
            return {
                "network": network_name,
                "measure": "who should meet whom: Adamic-Adar on shared neighbours",
                "suggestions": suggestions(graph, node=node, top=top),
            }
        size = {"network": network_name, "nodes": graph.number_of_nodes(), "edges": graph.number_of_edges()}
        if measure == "pagerank":
            scores = pagerank(graph, reverse=reverse, around=node)
            ranked = sorted(scores, key=lambda n: (-scores[n], n))[:top]
            why = "PageRank: influence through who points at whom" + (
                " (edges reversed: referrers collect it)" if reverse else ""
            )
            return {
                **size,
                "measure": why,
                "ranking": [
                    {"id": n, "name": graph.nodes[n].get("name", n), "score": round(scores[n], 6)}
                    for n in ranked
                ],
            }
        if measure == "brokers":
            return {
                **size,
                "measure": "brokers: betweenness (exact, or sampled on large networks), Burt's constraint, "
                "effective size, bridges, articulation points",
                "ranking": brokers(graph, top=top),
            }
        if measure == "communities":
            found, modularity = communities(graph, method=method)
            return {
                **size,
                "measure": f"{method} communities, seeded",
                "modularity": modularity,
                "communities": [{"size": len(c), "members": c} for c in found[:top]],
            }
        if measure == "export":
            return export(graph, fmt)
        raise InvalidInput(
            "measure is pagerank, brokers, communities, suggestions, ambassadors, departments or export"
        )

    return cached(store, key, compute, Tier.ANSWER)


@router.get(
    "/analysis/{network_name}/{measure}",
    tags=["analysis"],
    response_model=AnalysisAnswer,
    responses={200: {"content": {"application/xml": {}, "text/csv": {}}, "description": "an export"}},
)
def get_analysis(
    store: StoreDep,
    network_name: str,
    measure: str,
    options: Annotated[AnalysisOptions, Query()],
) -> Any:
    """Influencers, brokers, communities, suggestions, ambassadors, departments, or an export.

    Networks: referral, collaboration, knows, customer-product, employee-topic, practice, topics.
    """
    answer = analysis_answer(store, network_name, measure, options)
    if measure == "export":
        media = {
            "json": "application/json",
            "graphml": "application/xml",
            "gexf": "application/xml",
            "csv": "text/csv",
        }
        return Response(answer, media_type=media[options.format])
    return answer
