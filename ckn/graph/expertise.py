"""Kept sums of each colleague's evidence on each subject, which every write keeps in step.

An expert question ranks colleagues by their evidence on a subject, each piece weighted by its kind
(:data:`WEIGHTS`) and halved every half-life. The decayed weight factorises,
``w·2^((t - now)/h) = 2^((EPOCH - now)/h) · w·2^((t - EPOCH)/h)``, so one stored sum per colleague and
subject answers the question on any later day for the kept half-life (:data:`KEPT_HALF_LIFE_DAYS`):
the question reads a few hundred sums instead of the subject's tens of thousands of pieces.

A store keeps a :class:`Known` row per colleague and subject, and each colleague's count of own work.
A write reads the evidence of the items it touches (:func:`touched_items`) before and after it changes
them, in its transaction, and adds the :func:`difference` of the two (:func:`contributions`), so the
cost of keeping the sums follows the write, not the history.

A piece dated after the moment it is written (a meeting planned, a mistyped year) weighs its kind's
full weight until its date, which no sum can hold: it is kept apart, one :class:`Ahead` row each, and
weighed when the question is asked. ``latest``, the newest date in a sum, says whether a question can
be answered from the sums at all (one asked about a day before it cannot).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from ckn.graph.model import NodeKind, RelType

if TYPE_CHECKING:
    from ckn.graph.merge import WritePlan

__all__ = [
    "AUTHORED",
    "EPOCH_S",
    "ITEM_KINDS",
    "KEPT_HALF_LIFE_DAYS",
    "KINDS",
    "WEIGHTS",
    "Ahead",
    "Counted",
    "Known",
    "code",
    "contributions",
    "dated_ahead",
    "decay_factor",
    "difference",
    "moment",
    "piece_row",
    "strongest_cut",
    "touched_by",
    "touched_items",
    "truthy",
    "when",
]

WEIGHTS: dict[str, float] = {
    "authored": 3.0,
    "owns_account": 3.0,
    "escalation_answered": 2.5,
    "resolved": 2.0,
    "meeting": 1.5,
    "interaction": 1.0,
}
"""What one piece of evidence is worth before it decays."""
KINDS = tuple(WEIGHTS)
"""Kinds of evidence; rows store their index."""
AUTHORED = KINDS.index("authored")
WORK_CODES = frozenset(KINDS.index(k) for k in ("authored", "resolved", "meeting", "interaction"))
"""Kinds that are a colleague's own work (not an escalation answered or an account owned)."""
STRONGEST_MARGIN = 5
"""Items a read of the strongest (weighed in the database) returns beyond those asked for: its
weights, rounded by the database, may differ from Python's in the last digit, and the caller
ranks exactly. A tie rounds half up in Cypher and SQLite and half to even in numpy: items of one kind
and date sitting on a tie all move a step together."""
KEPT_HALF_LIFE_DAYS = 365.0
"""The half-life the kept sums are for (the default of expert questions)."""
EPOCH_S = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
"""Dates are counted from here in the kept sums (2^((t - EPOCH)/h) stays a modest number)."""
ITEM_KINDS = (NodeKind.INTERACTION, NodeKind.FEEDBACK, NodeKind.KNOWLEDGE_ITEM, NodeKind.CUSTOMER)
"""What a colleague acts on: items, and a customer's account."""

_DEEP_CHANNELS = frozenset({"meeting", "visit"})
_ACT_KIND = {
    "AUTHORED": "authored",
    "RESOLVED": "resolved",
    "PARTICIPATED_IN": "interaction",
    "ESCALATED_TO": "escalation_answered",
    "OWNS_ACCOUNT": "owns_account",
}
ACT_WEIGHTS = {rtype: WEIGHTS[kind] for rtype, kind in _ACT_KIND.items()}
"""What an act of each relationship type is worth before it decays (see :func:`code`: an interaction
in a deep channel is worth a meeting)."""
DEEP_CHANNELS = sorted(_DEEP_CHANNELS)
"""Channels in which an interaction counts as a meeting."""
_WORK_TYPES = frozenset({"AUTHORED", "RESOLVED", "PARTICIPATED_IN"})
_FROM_ITEM = frozenset({RelType.ABOUT, RelType.DELIVERED_TO, RelType.ESCALATED_TO})
_TO_ITEM = frozenset(
    {RelType.PARTICIPATED_IN, RelType.SUBMITTED, RelType.AUTHORED, RelType.RESOLVED, RelType.OWNS_ACCOUNT}
)


def truthy(value: object) -> bool:
    """A yes in any of the ways CRM exports write it."""
    return value is True or str(value).strip().lower() in {"true", "yes", "1", "是", "y"}


def moment(props: dict[str, Any], *keys: str) -> datetime | None:
    """The first of ``keys`` that holds an ISO date or time, as an aware datetime (UTC when unzoned)."""
    for key in keys:
        value = props.get(key)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def code(rtype: str, item: dict[str, Any]) -> int:
    """The kind of evidence (its index in :data:`KINDS`) an act of type ``rtype`` on ``item`` is."""
    kind = _ACT_KIND[rtype]
    if kind == "interaction" and item.get("channel") in _DEEP_CHANNELS:
        kind = "meeting"
    return KINDS.index(kind)


def when(item: dict[str, Any]) -> float:
    """An item's date as POSIX seconds, NaN when undated."""
    found = moment(item, "occurred_at", "submitted_at", "created_at")
    return found.timestamp() if found else float("nan")


def dated(item: dict[str, Any]) -> float | None:
    """:func:`when`, None when undated (what a store keeps beside the item, to weigh it in a query)."""
    found = when(item)
    return None if math.isnan(found) else found


class Known(NamedTuple):
    """One colleague's evidence on one subject, added up for the kept half-life."""

    n: int = 0
    """Items (one piece of evidence per item: the strongest kind of what they did with it)."""
    outside: int = 0
    """Items that are not their own work (an escalation answered, an account owned)."""
    dated: float = 0.0
    """Σ weight·2^((t - EPOCH)/h) over the dated items."""
    undated: float = 0.0
    """Σ weight over the undated ones (they count as one half-life old)."""
    doc_dated: float = 0.0
    """The part of ``dated`` that is documents they wrote."""
    doc_undated: float = 0.0
    latest: float | None = None
    """The newest date counted (POSIX seconds); it never goes down."""

    def plus(self, other: Known, sign: int = 1) -> Known:
        """The sum with another added (``sign`` 1) or taken away (-1)."""
        return Known(
            self.n + sign * other.n,
            self.outside + sign * other.outside,
            self.dated + sign * other.dated,
            self.undated + sign * other.undated,
            self.doc_dated + sign * other.doc_dated,
            self.doc_undated + sign * other.doc_undated,
            _later(self.latest, other.latest),
        )


def decay_factor(now: float) -> float:
    """What the dated sums are multiplied by at ``now`` (POSIX seconds): ``2^((EPOCH - now)/h)``.

    A colleague's strength on a subject is then ``dated·factor + undated/2``.
    """
    return float(2.0 ** ((EPOCH_S - now) / (KEPT_HALF_LIFE_DAYS * 86_400)))


def _later(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


Pair = tuple[str, str]
"""``(colleague, subject)``."""
Piece = tuple[str, str, str]
"""``(colleague, subject, item)``."""


@dataclass(frozen=True)
class Ahead:
    """A piece of evidence dated after it was written: kept apart, weighed on the day it is asked."""

    weight: float
    """Its kind's weight (it never weighs more, however far ahead its date is)."""
    t: float
    """Its date (POSIX seconds)."""
    authored: bool

    def at(self, now: float, half_life_days: float = KEPT_HALF_LIFE_DAYS) -> float:
        """Its weight at ``now``: full until its date, then halving every half-life."""
        return self.weight * math.pow(2.0, min(0.0, self.t - now) / (half_life_days * 86_400))


@dataclass
class Counted:
    """What some items add to the kept sums, or a change to make to them."""

    sums: dict[Pair, Known] = field(default_factory=dict)
    """Per colleague and subject (a change: what to add)."""
    work: dict[str, int] = field(default_factory=dict)
    """Own work per colleague (a change: what to add)."""
    ahead: dict[Piece, Ahead] = field(default_factory=dict)
    """The pieces dated after they were written (a change: the rows to write)."""
    gone: set[Piece] = field(default_factory=set)
    """A change: the rows of pieces ahead to delete first."""
    pieces: dict[Piece, tuple[float, float | None]] = field(default_factory=dict)
    """Every piece: its kind's weight and its date (None when undated); a change: the rows to write."""
    unpieced: set[Piece] = field(default_factory=set)
    """A change: the rows of pieces to delete first (see :func:`piece_row`)."""


def dated_ahead(kept: set[str] | None) -> Callable[[str, float], bool]:
    """Which items' pieces are dated ahead.

    Those ``kept`` apart as such (the state a write finds), or, with None, those dated after now (the
    state it leaves).
    """
    if kept is not None:
        return lambda item, t: item in kept
    now = time.time()
    return lambda item, t: t > now


def contributions(
    about: Iterable[tuple[str, str]],
    acts: Iterable[tuple[str, str, str]],
    items: dict[str, dict[str, Any]],
    ahead: Callable[[str, float], bool],
) -> Counted:
    """What some items add to the sums: per colleague and subject, and each colleague's own work.

    ``about``, ``acts`` and ``items`` as :class:`graph.store.EvidenceFacts` holds them for these
    items (every subject they are about, everyone's act on them). ``ahead(item, date)``: whether the
    item's pieces are kept apart as dated ahead (for the state a write finds: whether they were; for
    the state it leaves: whether the date is after now). Their counts are in the sums all the same.
    """
    best: dict[tuple[str, str], int] = {}
    own: set[tuple[str, str]] = set()
    work: dict[str, int] = {}
    for person, rtype, item in acts:
        kind = code(rtype, items.get(item, {}))
        pair = (person, item)
        if pair not in best or (WEIGHTS[KINDS[kind]], kind) > (WEIGHTS[KINDS[best[pair]]], best[pair]):
            best[pair] = kind
        if kind in WORK_CODES:
            own.add(pair)
        if rtype in _WORK_TYPES:
            work[person] = work.get(person, 0) + 1
    subjects: dict[str, list[str]] = {}
    for item, subject in about:
        subjects.setdefault(item, []).append(subject)
    h = KEPT_HALF_LIFE_DAYS * 86_400
    found = Counted(work=work)
    for (person, item), kind in best.items():
        if not subjects.get(item):
            continue  # about nothing yet: it adds to no sum (and a far date needs no weight)
        t = when(items.get(item, {}))
        weight = WEIGHTS[KINDS[kind]]
        dated = not math.isnan(t)
        later = dated and ahead(item, t)
        if later or not dated:
            weighed = (0.0, 0.0 if later else weight)
        else:
            weighed = (weight * 2.0 ** ((t - EPOCH_S) / h), 0.0)
        documented = weighed if kind == AUTHORED else (0.0, 0.0)
        outside = int((person, item) not in own)
        latest = t if dated and not later else None
        piece = Known(1, outside, weighed[0], weighed[1], documented[0], documented[1], latest)
        for subject in subjects.get(item, ()):
            found.sums[(person, subject)] = found.sums.get((person, subject), Known()).plus(piece)
            found.pieces[(person, subject, item)] = (weight, t if dated else None)
            if later:
                found.ahead[(person, subject, item)] = Ahead(weight, t, kind == AUTHORED)
    return found


def difference(before: Counted, after: Counted) -> Counted:
    """What to change in the kept sums when the touched items went from adding ``before`` to ``after``."""
    change = Counted(ahead=after.ahead, gone=set(before.ahead))
    change.pieces = {p: v for p, v in after.pieces.items() if before.pieces.get(p) != v}
    change.unpieced = set(before.pieces) - set(after.pieces)
    for pair in before.sums.keys() | after.sums.keys():
        delta = Known()
        if pair in after.sums:
            delta = delta.plus(after.sums[pair])
        if pair in before.sums:
            delta = delta.plus(before.sums[pair], -1)
        if delta.n or delta.outside or delta.dated or delta.undated or pair in after.sums:
            change.sums[pair] = delta
    for person in before.work.keys() | after.work.keys():
        if d := after.work.get(person, 0) - before.work.get(person, 0):
            change.work[person] = d
    return change


def piece_row(piece: Piece, weight: float, t: float | None) -> dict[str, Any]:
    """The row a store keeps of one piece of evidence, to read a colleague's strongest in order.

    Each store keeps one per colleague, subject and item (:data:`graph.cypher.STRONGEST_EACH` and
    :data:`graph.embedded_store._STRONGEST` read the first few from an index instead of weighing all
    their work).

    A dated piece weighs ``weight·2^((t - now)/h)``: in the order of ``t + h·log2(weight)`` on every
    day, which is its ``key`` (``dated`` true). An undated one weighs a constant ``weight/2``: its key
    is its weight. ``t`` is kept to leave out pieces dated after the question (they weigh their kind's
    weight until their date, and are kept as :class:`Ahead` too).
    """
    person, subject, item = piece
    h = KEPT_HALF_LIFE_DAYS * 86_400
    key = weight if t is None else t + h * math.log2(weight)
    return {"subject": subject, "person": person, "item": item, "dated": t is not None, "key": key, "t": t}


def strongest_cut(strongest: int, at: float) -> dict[str, float]:
    """What a read of each colleague's strongest pieces in order (:func:`piece_row`) is cut by.

    ``k`` rows each (those asked for and :data:`STRONGEST_MARGIN` more), weighed at ``now`` with the
    kept half-life ``h`` (days). A piece dated after ``now`` weighs its kind's weight and its key is
    after ``now``: those dated after they were written are kept apart (:class:`Ahead`); the others,
    from ``later`` on, only matter when ``now`` is a past day.
    """
    return {
        "k": strongest + STRONGEST_MARGIN,
        "now": at,
        "later": at if at < time.time() - 60 else 1.0e300,
        "h": KEPT_HALF_LIFE_DAYS,
    }


def touched_items(
    entities: Iterable[tuple[str, NodeKind | str]], relations: Iterable[tuple[RelType | str, str, str]]
) -> set[str]:
    """The items whose evidence writing (or deleting) these entities and relations changes."""
    touched = {entity for entity, kind in entities if kind in ITEM_KINDS}
    for rtype, source, target in relations:
        if rtype in _FROM_ITEM:
            touched.add(source)
        elif rtype in _TO_ITEM:
            touched.add(target)
    return touched


def touched_by(plan: WritePlan) -> tuple[set[str], set[str]]:
    """The items whose evidence a write plan changes (deletions aside), and those of them it creates.

    Touched: items with new relations of evidence (a relation stored before keeps its type and ends),
    and stored items whose dates or channel change. An item the plan creates had no evidence before.
    """
    stored = {fact_id for fact, fact_id in plan.restated if fact == "r"}
    relations = ((r.type, r.source, r.target) for r in plan.relations if r.id not in stored)
    kinds = {e.id: e.kind for e in plan.entities}
    touched = touched_items(((i, kinds[i]) for i in plan.redated if i in kinds), relations)
    updated = {fact_id for fact, fact_id in plan.restated if fact == "e"}
    return touched, {i for i in touched if i in kinds and i not in updated}
