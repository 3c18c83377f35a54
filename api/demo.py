"""The demo: load the bundled bilingual sample and answer one question for each kind of user."""

from __future__ import annotations

from importlib.resources import as_file, files

from graph.model import RelType
from graph.store import GraphStore
from ingest.jsonl import LoadReport, load_jsonl
from queries.evidence import holders_of
from queries.referrals import downstream, referral_chain

SAMPLE = "demo.jsonl"
_ACTS = {
    RelType.AUTHORED: "wrote",
    RelType.RESOLVED: "resolved",
    RelType.PARTICIPATED_IN: "took part in",
}


def load_sample(store: GraphStore) -> LoadReport:
    """Load the bundled sample into ``store`` (idempotent: a second load changes nothing)."""
    with as_file(files("ingest") / "samples" / SAMPLE) as path:
        return load_jsonl(store, path)


def _name(store: GraphStore, entity_id: str) -> str:
    entity = store.get_entity(entity_id)
    return entity.name if entity else entity_id


def run_demo(store: GraphStore) -> list[str]:
    """Load the sample and return the demo's answers as lines of text."""
    report = load_sample(store)
    w = report.written
    lines = [
        f"Loaded {report.lines} records from the bundled sample into the {store.backend} store: "
        f"{w.entities.created} entities and {w.relations.created} relationships created, "
        f"{w.entities.unchanged + w.relations.unchanged} already there.",
        *[f"  line {r.line} set aside: {r.reason}" for r in report.rejected],
        "",
        "SALES: who in our company knows the X200 光谱仪, and on what evidence?",
    ]
    for rank, holder in enumerate(holders_of(store, "product:X200"), start=1):
        acts = [
            f"{_ACTS.get(e.relation, e.relation.value)} “{e.item_name}”"
            + (f" ({e.when[:10]})" if e.when else "")
            for e in holder.documented + holder.behavioural
        ]
        lines.append(f"  {rank}. {holder.name}: {'; '.join(acts)}")
    intro = store.paths(
        "employee:E04",
        "customer:C101",
        max_depth=4,
        types=[RelType.KNOWS, RelType.PARTICIPATED_IN, RelType.OWNS_ACCOUNT, RelType.WORKS_AT],
    )
    lines.append("SALES: how can David Chen get a warm introduction to 张伟?")
    if intro:
        lines.append("  " + " → ".join(_name(store, n) for n in intro[0].nodes))

    lines += ["", "MARKETING: whom did 张伟 bring us, directly and through others?"]
    tree = downstream(store, "customer:C101")
    lines.append(
        f"  {len(tree.direct)} direct ({', '.join(_name(store, c) for c in tree.direct)}), "
        f"{len(tree.indirect)} indirect ({', '.join(_name(store, c) for c in tree.indirect)}); "
        f"lifetime value of the referred customers: {tree.lifetime_value:,.0f}"
    )
    chain = referral_chain(store, "customer:C105")
    lines.append("MARKETING: where did 陈静 come from?")
    lines.append("  " + " ← ".join(_name(store, c) for c in ["customer:C105", *chain]))

    lines += ["", "KNOWLEDGE MANAGERS: who holds our calibration (校准) know-how, written down or not?"]
    for holder in holders_of(store, "topic:calibration"):
        if holder.tacit:
            lines.append(
                f"  {holder.name}: {holder.items} tickets/complaints handled, no document written"
                " → tacit holder: document this next"
            )
        else:
            lines.append(f"  {holder.name}: {len(holder.documented)} document(s) written")
    return lines
