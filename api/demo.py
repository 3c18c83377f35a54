"""The demo: ingest the bundled bilingual sample and answer one question for each kind of user."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from graph.model import RelType
from graph.store import GraphStore
from ingest.pipeline import IngestReport, ingest_paths
from queries.evidence import holders_of
from queries.referrals import downstream, referral_chain

_ACTS = {
    RelType.AUTHORED: "wrote",
    RelType.RESOLVED: "resolved",
    RelType.PARTICIPATED_IN: "took part in",
}


def sample_bundle() -> Path:
    """The bundled sample: CRM exports, a HubSpot export, vCards and documents, Chinese and English."""
    return Path(str(files("ingest") / "samples" / "bundle"))


def load_sample(store: GraphStore, quarantine_dir: Path) -> IngestReport:
    """Ingest the sample into ``store`` (idempotent: a second run changes nothing)."""
    return ingest_paths(store, [sample_bundle()], quarantine_dir=quarantine_dir)


def _name(store: GraphStore, entity_id: str) -> str:
    entity = store.get_entity(entity_id)
    return entity.name if entity else entity_id


def run_demo(store: GraphStore, quarantine_dir: Path) -> list[str]:
    """Ingest the sample and return the demo's answers as lines of text."""
    report = load_sample(store, quarantine_dir)
    w = report.written
    lines = [
        f"Ingested {len(report.files)} files of the bundled sample into the {store.backend} store: "
        f"{w.entities.created} entities and {w.relations.created} relationships created, "
        f"{w.entities.updated + w.relations.updated} updated with more evidence.",
        f"{report.quarantined} bad rows were set aside with their reasons in {report.quarantine_dir}.",
        "",
        "SALES: who in our company knows the X200 光谱仪, and on what evidence?",
    ]
    for rank, holder in enumerate(holders_of(store, "product:X200", limit=3), start=1):
        acts = [
            f"{_ACTS.get(e.relation, e.relation.value)} “{e.item_name}”"
            + (f" ({e.when[:10]})" if e.when else "")
            for e in holder.documented + holder.behavioural
        ]
        lines.append(f"  {rank}. {holder.name}: {'; '.join(acts[:4])}" + (" …" if len(acts) > 4 else ""))
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
    chain = referral_chain(store, "customer:C106")
    lines.append("MARKETING: where did 周杰 come from?")
    lines.append("  " + " ← ".join(_name(store, c) for c in ["customer:C106", *chain]))

    lines += ["", "KNOWLEDGE MANAGERS: who holds our calibration (校准) know-how, written down or not?"]
    for holder in holders_of(store, "topic:calibration"):
        if holder.tacit:
            lines.append(
                f"  {holder.name}: {holder.items} tickets/complaints handled, no document written"
                " → tacit holder: document this next"
            )
        else:
            lines.append(
                f"  {holder.name}: {len({e.item_id for e in holder.documented})} document(s) written"
            )
    return lines
