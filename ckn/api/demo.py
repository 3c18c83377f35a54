"""The demo: ingest the bundled bilingual sample and answer one question for each kind of user."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ckn.graph.store import GraphStore
from ckn.ingest.pipeline import IngestReport, ingest_paths
from ckn.queries.experts import experts
from ckn.queries.knowledge import at_risk, tacit_holders
from ckn.queries.referrals import referral_chain, referral_tree
from ckn.queries.relationships import warm_intros

_KINDS = {
    "authored": "wrote",
    "resolved": "resolved",
    "interaction": "took part in",
    "meeting": "met them at",
    "owns_account": "owns the account",
    "escalation_answered": "answered the escalation",
}


def sample_bundle() -> Path:
    """The bundled sample: CRM exports, a HubSpot export, vCards and documents, Chinese and English."""
    return Path(str(files("ckn.ingest") / "samples" / "bundle"))


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
        f"{report.quarantined} bad rows were set aside with their reasons in {report.quarantine_dir}"
        " (the sample has them on purpose, to show the quarantine).",
        "",
        "SALES: who in our company knows the X200 光谱仪, and on what evidence?",
    ]
    for rank, expert in enumerate(experts(store, ["product:X200"], limit=3), start=1):
        acts = [
            f"{_KINDS.get(e.kind, e.kind)} “{e.item_name}”" + (f" ({e.when[:10]})" if e.when else "")
            for e in expert.evidence
        ]
        lines.append(f"  {rank}. {expert.name}: {'; '.join(acts[:3])}" + (" …" if len(acts) > 3 else ""))
    lines.append("SALES: how can David Chen get a warm introduction to 张伟?")
    for path in warm_intros(store, "employee:E04", "customer:C101", limit=1):
        people = [
            n for n, i in zip(path["names"], path["nodes"], strict=True) if not i.startswith("interaction:")
        ]
        lines.append("  " + " → ".join(people) + f" (weakest tie {path['weakest_tie']:.1f})")

    lines += ["", "MARKETING: whom did 张伟 bring us, directly and through others?"]
    tree, _ = referral_tree(store, "customer:C101")
    direct = [c.name for c in tree.children]
    lines.append(
        f"  {len(direct)} direct ({', '.join(direct)}), {tree.branch_customers - len(direct)} more through"
        f" them; lifetime value of the referred customers: {tree.branch_value:,.0f}"
    )
    chain = referral_chain(store, "customer:C106")
    lines.append("MARKETING: where did 周杰 come from?")
    lines.append("  " + " ← ".join(_name(store, c) for c in ["customer:C106", *chain]))

    lines += ["", "KNOWLEDGE MANAGERS: who knows calibration (校准) without having written it down?"]
    for tacit in tacit_holders(store, "topic:calibration"):
        handled = tacit.evidence_count
        lines.append(
            f"  {tacit.name}: {handled} tickets/complaints handled, no document written → document this next"
        )
    lines.append("KNOWLEDGE MANAGERS: what rests on one person?")
    for risk in at_risk(store):
        lines.append(f"  {risk.subject_name}: only {risk.holder_names[0]} knows it")
    return lines
