"""The ``ckn`` command line: a thin layer over ``graph``, ``ingest`` and ``queries``.

Global options choose the store (they override ``CKN_*`` variables); ``--json`` prints exactly what
the matching HTTP endpoint returns.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ckn.api.answers import (
    AnalysisOptions,
    analysis_answer,
    bus_factor_answer,
    departure_answer,
    experts_answer,
    referrals_answer,
    tacit_answer,
)
from ckn.api.app import create_app, nlp_options
from ckn.api.audit import all_entries, record_local
from ckn.api.auth import Keys, check_exposure
from ckn.api.demo import run_demo
from ckn.api.schemas import EntityOut, SubgraphOut, ingest_report_json
from ckn.api.understand import REFERABLE, entity_ref, search
from ckn.graph.audit import verify
from ckn.graph.errors import Ambiguous, CknError, NotFound
from ckn.graph.factory import open_store
from ckn.graph.model import NodeKind, RelType
from ckn.graph.settings import load_settings
from ckn.graph.store import Direction, GraphStore
from ckn.ingest import erasure, review
from ckn.ingest.erasure import ErasureReport
from ckn.ingest.generate import generate as generate_bundle
from ckn.ingest.jsonl import load_jsonl
from ckn.ingest.pipeline import FileReport, Replace, ingest_paths
from ckn.ingest.tabular import NO_MAPPING, Mapping
from ckn.queries.customer import customer_360
from ckn.queries.knowledge import MAP_HOLDERS, everyone_on, gaps, knowledge_map, topics
from ckn.queries.referrals import referrers
from ckn.queries.relationships import warm_intros, who_knows

app = typer.Typer(
    name="ckn",
    help="ckn, the customer knowledge network: who knows what about our customers, and how we know it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

EXIT_INPUT = 2
EXIT_PARTIAL = 3
"""A load that set some lines aside (the rest was loaded)."""

T = TypeVar("T")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON, exactly as the HTTP API returns it.")]
TypesOpt = Annotated[
    list[RelType] | None, typer.Option("--type", "-t", help="Relationship type to follow (repeatable).")
]


class _State:
    overrides: dict[str, Any] = {}  # noqa: RUF012 - one CLI invocation per process
    store: GraphStore | None = None


def _store() -> GraphStore:
    if _State.store is None:
        _State.store = open_store(load_settings(**_State.overrides))
    return _State.store


def _run(action: Callable[[], T]) -> T:
    """Run a command body; a ckn error becomes a clear message and an exit code, never a traceback."""
    try:
        return action()
    except CknError as exc:
        typer.secho(f"error: {exc.title}: {exc.detail}", err=True, fg=typer.colors.RED)
        if isinstance(exc, Ambiguous) and _State.store is not None:  # the local user may see names
            ids = [str(c["id"]) for c in exc.extra.get("candidates", [])]
            for found in _State.store.get_entities(ids).values():
                typer.secho(f"  {found.id}  {found.name}", err=True)
        raise typer.Exit(EXIT_INPUT if exc.status < 500 else 1) from None


def _ref(text: str, *kinds: NodeKind, exact: bool = False) -> str:
    """The id meant by ``text`` (an id, an id as imported, a name); several candidates: exit 2."""

    def find() -> str:
        try:
            return entity_ref(_store(), text, kinds or REFERABLE, exact=exact)
        except NotFound as exc:  # the API's error does not repeat what was asked; the local user's may
            raise NotFound(f"{exc.detail}: {text!r}") from None

    return _run(find)


def _waiting(holder: str) -> None:
    """Say that the store's write lock is held by another writer, and for how long this one waits."""
    wait = load_settings(**_State.overrides).write_lock_wait_s
    typer.secho(
        f"waiting for another ingest to finish ({holder}), up to {wait:g} s", err=True, fg=typer.colors.YELLOW
    )


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@app.callback()
def main_options(
    store: Annotated[str | None, typer.Option(help="`embedded` or `neo4j` (CKN_STORE).")] = None,
    home: Annotated[Path | None, typer.Option(help="Embedded store directory (CKN_HOME).")] = None,
    neo4j_uri: Annotated[str | None, typer.Option(help="Neo4j Bolt URI (CKN_NEO4J_URI).")] = None,
    neo4j_user: Annotated[str | None, typer.Option(help="Neo4j user (CKN_NEO4J_USER).")] = None,
    neo4j_password: Annotated[
        str | None, typer.Option(help="Neo4j password (CKN_NEO4J_PASSWORD).", envvar=None)
    ] = None,
    neo4j_database: Annotated[str | None, typer.Option(help="Neo4j database (CKN_NEO4J_DATABASE).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what ckn does.")] = False,
) -> None:
    """Choose the store; every command below uses it."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )
    _State.overrides = {
        "store": store,
        "home": home,
        "neo4j_uri": neo4j_uri,
        "neo4j_user": neo4j_user,
        "neo4j_password": neo4j_password,
        "neo4j_database": neo4j_database,
    }


@app.command()
def demo() -> None:
    """Load the bundled bilingual sample and print answers for sales, marketing and knowledge managers."""
    settings = _run(lambda: load_settings(**_State.overrides))
    for line in _run(lambda: run_demo(_store(), settings.home / "quarantine")):
        typer.echo(line)


@app.command()
def load(
    files: Annotated[
        list[Path], typer.Argument(exists=True, dir_okay=False, help="JSON Lines graph records.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Load ckn graph records (JSON Lines); bad lines are reported and the rest is loaded."""
    partial = False
    for path in files:
        report = _run(lambda: load_jsonl(_store(), path))  # noqa: B023 - called at once
        record_local(_store(), "load", [report.source_id])
        partial = partial or bool(report.rejected)
        if as_json:
            _print_json(
                {
                    "file": str(path),
                    "source_id": report.source_id,
                    "lines": report.lines,
                    "written": report.written.model_dump(),
                    "rejected": [{"line": r.line, "reason": r.reason} for r in report.rejected],
                }
            )
            continue
        e, r = report.written.entities, report.written.relations
        typer.echo(
            f"{path}: {report.lines} lines; entities {e.created} created, {e.updated} updated, "
            f"{e.unchanged} unchanged; relations {r.created} created, {r.updated} updated, "
            f"{r.unchanged} unchanged; {len(report.rejected)} rejected"
        )
        for rejected in report.rejected:
            typer.echo(f"  line {rejected.line}: {rejected.reason}", err=True)
    if partial:
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="CSV files or folders (a bundle).")],
    preset: Annotated[
        str | None, typer.Option(help="Column preset for contacts exports: hubspot, salesforce.")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="YAML column mapping (docs/formats.md).")
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="Force an encoding instead of detecting it.")] = None,
    quarantine_dir: Annotated[
        Path | None, typer.Option(help="Where bad rows are written (default: CKN_HOME/quarantine).")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            help="Name the source(s): a file is NAME, a folder's files NAME/their path in it "
            "(default: each file's resolved path). Monthly exports saved in different places are one "
            "source when given one name."
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="A full snapshot: once stored, it replaces the older versions of the same source, "
            "deleting the facts only they supported (default: merge, nothing is deleted).",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace even when that deletes more than CKN_REPLACE_MAX_SHARE.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read everything, write nothing: show what would change.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Ingest CRM exports (a folder or files); bad rows are quarantined, the rest is ingested.

    Ingest merges: nothing already stored is deleted because a file lacks it. --replace makes
    each file replace the older versions of its source. Exit status 3 when rows were quarantined, 2
    when the input cannot be read at all or a replacement waits for --yes.
    """
    settings = _run(lambda: load_settings(**_State.overrides))
    file_mapping = NO_MAPPING
    if preset and mapping:
        typer.secho("error: give --preset or --mapping, not both", err=True, fg=typer.colors.RED)
        raise typer.Exit(EXIT_INPUT)
    if preset:
        file_mapping = _run(lambda: Mapping.preset(preset))
    elif mapping:
        file_mapping = _run(lambda: Mapping.from_yaml(mapping))

    def rows_done(name: str, done: int, total: int) -> None:
        if sys.stderr.isatty() and not as_json:
            width = 30
            filled = width * done // max(total, 1)
            sys.stderr.write(
                f"\r{name[:28]:<28} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} rows"
            )
            sys.stderr.flush()

    def shown(file: FileReport) -> None:
        if sys.stderr.isatty() and not as_json:
            sys.stderr.write("\r" + " " * 80 + "\r")
        if not as_json:
            e, r = file.written.entities, file.written.relations
            detail = (file.status in {"rejected", "skipped"} and file.reason) or (
                f"{file.rows} rows, {e.created + r.created} created, {e.updated + r.updated} updated, "
                f"{e.unchanged + r.unchanged} unchanged, {file.quarantined} quarantined, "
                + (f"{file.suppressed} suppressed (erased people), " if file.suppressed else "")
                + f"{file.rows_per_second:,.0f} rows/s"
                + (f", {file.words:,} words at {file.words_per_second:,.0f} words/s" if file.words else "")
            )
            typer.echo(f"{file.status:<10} {file.kind:<13} {Path(file.path).name}: {detail}")
            if file.suppressed:
                lines = ", ".join(map(str, file.suppressed_lines[:20]))
                more = " ..." if file.suppressed > 20 else ""
                typer.echo(f"{'':<10} rows about erased people, not brought back: lines {lines}{more}")
            if file.replacement is not None:
                d = file.replacement
                done = "replaced" if file.replaced else "would replace"
                typer.echo(
                    f"{'':<10} {done} {', '.join(file.replaces)} (its {d.facts_supported} facts): "
                    f"{d.entities_deleted - len(file.replaces)} entities and {d.relations_deleted} "
                    f"relationships deleted, {d.facts_trimmed} kept (other sources say them too)"
                )

    report = _run(
        lambda: ingest_paths(
            _store(),
            paths,
            quarantine_dir=quarantine_dir or settings.home / "quarantine",
            mapping=file_mapping,
            system=preset or "crm",
            encoding=encoding,
            batch_size=settings.batch_size,
            nlp=nlp_options(settings),
            match_threshold=settings.match_threshold,
            progress=shown,
            on_rows=rows_done,
            name=source,
            phone_region=settings.phone_region,
            lock_wait_s=settings.write_lock_wait_s,
            on_wait=_waiting,
            replace=Replace(confirmed=yes, max_share=settings.replace_max_share) if replace else None,
            dry_run=dry_run,
        )
    )
    if not dry_run:
        record_local(_store(), "ingest", [f.source_id for f in report.files if f.source_id][:50])
    if as_json:
        _print_json(ingest_report_json(report))
    else:
        w = report.written
        typer.echo(
            f"total: entities {w.entities.created} created, {w.entities.updated} updated, "
            f"{w.entities.unchanged} unchanged; relations {w.relations.created} created, "
            f"{w.relations.updated} updated, {w.relations.unchanged} unchanged; "
            f"{report.quarantined} rows quarantined"
            + (f" (see {report.quarantine_dir})" if report.quarantined else "")
        )
    waiting = [f for f in report.files if f.replaces and not f.replaced and not dry_run]
    for file in waiting:
        typer.secho(f"not replaced: {file.reason}", err=True, fg=typer.colors.YELLOW)
    if waiting or any(f.status == "rejected" for f in report.files):
        raise typer.Exit(EXIT_INPUT)
    if report.quarantined:
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def generate(
    out: Annotated[Path, typer.Argument(help="Folder to write the bundle into.")],
    scale: Annotated[
        str, typer.Option(help="tiny, small (~1k customers), medium (~100k), large (~1M).")
    ] = "small",
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same bundle.")] = 7,
) -> None:
    """Write a realistic bilingual test bundle with planted experts and tacit holders (truth.json)."""
    truth = _run(lambda: generate_bundle(out, scale, seed))
    typer.echo(f"wrote a {scale} bundle to {out}; planted topics: {', '.join(truth['topics'])}")


review_app = typer.Typer(
    help="People who may be one person (list, accept, reject, undo), and people and organisations named in"
    " text (names, confirm, merge, dismiss)."
)
app.add_typer(review_app, name="review")


@review_app.command("list")
def review_list(
    all_: Annotated[bool, typer.Option("--all", help="Include decided candidates.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Open merge candidates, best score first."""
    found = _run(lambda: review.list_candidates(_store(), include_decided=all_))
    if as_json:
        _print_json([c.__dict__ for c in found])
        return
    if not found:
        typer.echo("nothing to review")
    for c in found:
        decided = f"  [{c.decision}]" if c.decision else ""
        typer.echo(
            f"{c.score:5.1f}  {c.entity_id} {c.entity_name}  ~  {c.candidate_id} {c.candidate_name}"
            f"  ({c.reason}){decided}"
        )


@review_app.command("accept")
def review_accept(entity_id: str, candidate_id: str) -> None:
    """Merge ENTITY_ID into CANDIDATE_ID (reversible with `ckn review undo`)."""
    result = _run(lambda: review.accept(_store(), entity_id, candidate_id))
    record_local(_store(), "review accept", [entity_id, candidate_id])
    typer.echo(f"merged {result.merged} into {result.kept}; {result.relations_moved} relationships moved")


@review_app.command("reject")
def review_reject(entity_id: str, candidate_id: str) -> None:
    """Record that ENTITY_ID and CANDIDATE_ID are different people."""
    _run(lambda: review.reject(_store(), entity_id, candidate_id))
    record_local(_store(), "review reject", [entity_id, candidate_id])
    typer.echo(f"{entity_id} and {candidate_id} are kept apart")


@review_app.command("names")
def review_names(
    all_: Annotated[bool, typer.Option("--all", help="Include dismissed ones.")] = False,
    limit: int = 100,
    as_json: JsonOpt = False,
) -> None:
    """People and organisations named in text that master data does not know, most mentioned first."""
    found = _run(lambda: review.list_named(_store(), include_decided=all_, limit=limit))
    if as_json:
        _print_json([c.__dict__ for c in found])
        return
    if not found:
        typer.echo("no names to review")
    for c in found:
        decided = f"  [{c.decision}]" if c.decision else ""
        typer.echo(
            f"{c.label:<6} {c.name}  [{c.id}]  {c.mentions} mentions, confidence {c.confidence}{decided}"
        )


@review_app.command("confirm")
def review_confirm(
    candidate_id: str,
    as_: Annotated[
        str | None, typer.Option("--as", help="employee or customer (default: a person is an employee).")
    ] = None,
) -> None:
    """Make a name found in text a colleague or a customer (reversible with `ckn review undo`)."""
    kinds = {"employee": NodeKind.EMPLOYEE, "customer": NodeKind.CUSTOMER}
    if as_ is not None and as_ not in kinds:
        typer.echo(f"--as takes employee or customer, not {as_!r}", err=True)
        raise typer.Exit(EXIT_INPUT)
    kind = kinds[as_] if as_ else None
    result = _run(lambda: review.confirm(_store(), candidate_id, as_kind=kind))
    record_local(_store(), "review confirm", [candidate_id])
    typer.echo(f"{candidate_id} is now {result.kept}; {result.relations_moved} relationships moved")


@review_app.command("merge")
def review_merge(candidate_id: str, into: str) -> None:
    """Merge a name found in text into a known colleague or customer (id or name)."""
    target = _ref(into, NodeKind.EMPLOYEE, NodeKind.CUSTOMER)
    result = _run(lambda: review.merge_named(_store(), candidate_id, target))
    record_local(_store(), "review merge", [candidate_id, target])
    typer.echo(f"merged {result.merged} into {result.kept}; {result.relations_moved} relationships moved")


@review_app.command("dismiss")
def review_dismiss(candidate_id: str) -> None:
    """Mark a name found in text as no one to know (it stays dismissed when ingested again)."""
    _run(lambda: review.dismiss(_store(), candidate_id))
    record_local(_store(), "review dismiss", [candidate_id])
    typer.echo(f"{candidate_id} dismissed")


@review_app.command("undo")
def review_undo(kept_id: str, merged_id: str) -> None:
    """Undo the merge of MERGED_ID into KEPT_ID."""
    result = _run(lambda: review.undo(_store(), kept_id, merged_id))
    record_local(_store(), "review undo", [kept_id, merged_id])
    typer.echo(f"{result.merged} is back, with {result.relations_moved} relationships")


@app.command()
def stats(as_json: JsonOpt = False) -> None:
    """Count entities by kind and relationships by type."""
    result = _run(lambda: _store().stats())
    if as_json:
        _print_json(result.model_dump())
        return
    typer.echo(f"{result.backend} store, graph version {result.graph_version}")
    for name, count in sorted({**result.entities, **result.relations}.items()):
        typer.echo(f"  {name:<16} {count:>10,}")


@app.command()
def show(entity_id: str, as_json: JsonOpt = False) -> None:
    """Show one entity and the evidence behind it."""

    def body() -> EntityOut:
        entity = _store().get_entity(_ref(entity_id))
        if entity is None:
            raise NotFound(f"no entity with id {entity_id!r}")
        return EntityOut.of(entity)

    out = _run(body)
    if as_json:
        _print_json(out.model_dump(mode="json"))
        return
    typer.echo(f"{out.id}  {out.kind}  {out.name}")
    for key, value in sorted(out.props.items()):
        typer.echo(f"  {key}: {value}")
    for p in out.provenance:
        where = p.locator or (f"chars {p.start}-{p.end}" if p.start is not None else "")
        typer.echo(
            f"  from {p.source_id} {where} by {p.extractor} {p.extractor_version} ({p.confidence:.2f})"
        )


@app.command()
def neighbours(
    entity_id: str,
    depth: Annotated[int, typer.Option(help="Steps to go out.")] = 1,
    types: TypesOpt = None,
    direction: Annotated[
        Direction, typer.Option(help="Follow relationships out, in or both ways.")
    ] = Direction.BOTH,
    limit: Annotated[int, typer.Option(help="Most entities to list.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Entities around one entity, nearest first."""
    entity_id = _ref(entity_id)
    sub = _run(
        lambda: _store().neighbourhood(entity_id, depth=depth, types=types, direction=direction, limit=limit)
    )
    if as_json:
        _print_json(SubgraphOut.of(sub).model_dump(mode="json"))
        return
    for entity in sub.entities:
        typer.echo(f"{sub.distances[entity.id]}  {entity.id:<28} {entity.kind.value:<14} {entity.name}")
    if sub.truncated:
        typer.echo(f"(first {limit} shown; raise --limit for more)")


@app.command()
def paths(
    source: str,
    target: str,
    max_depth: Annotated[int, typer.Option(help="Longest path, in steps.")] = 4,
    types: TypesOpt = None,
    limit: Annotated[int, typer.Option(help="Most paths to list.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Shortest simple paths between two entities."""
    source, target = _ref(source), _ref(target)
    found = _run(lambda: _store().paths(source, target, max_depth=max_depth, types=types, limit=limit))
    if as_json:
        _print_json([p.model_dump(mode="json") for p in found])
        return
    if not found:
        typer.echo(f"no path within {max_depth} steps")
    for path in found:
        steps = [path.nodes[0]]
        for hop, node in zip(path.hops, path.nodes[1:], strict=True):
            steps.append(f"-[{hop.type.value}]- {node}")
        typer.echo(" ".join(steps))


@app.command()
def experts(
    query: Annotated[
        str, typer.Argument(help="A product, topic or customer, or a question naming them.")
    ] = "",
    product: Annotated[str | None, typer.Option(help="A product (id or name) to add.")] = None,
    customer: Annotated[str | None, typer.Option(help="A customer (id or name) to add.")] = None,
    topic: Annotated[str | None, typer.Option(help="A topic (id or name) to add.")] = None,
    limit: Annotated[int, typer.Option(help="How many colleagues.")] = 10,
    include_left: Annotated[bool, typer.Option(help="Also list people who left (flagged).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Who in our company knows this product, topic or customer, and on what evidence."""
    settings = _run(lambda: load_settings(**_State.overrides))
    answer = _run(
        lambda: experts_answer(
            _store(),
            settings,
            query,
            product=product,
            customer=customer,
            topic=topic,
            limit=limit,
            include_left=include_left,
        )
    )
    if as_json:
        _print_json(answer)
        return
    typer.echo("about: " + ", ".join(f"{s['name']} [{s['id']}]" for s in answer["subjects"]))
    for rank, expert in enumerate(answer["experts"], start=1):
        flag = " (left)" if expert["left"] else ""
        typer.echo(f"{rank}. {expert['name']}{flag}  score {expert['score']:.2f}")
        for ev in expert["evidence"][:5]:
            when = f" {ev['when'][:10]}" if ev["when"] else ""
            typer.echo(f"     {ev['kind']:<20} {ev['item_name'][:50]}{when}")
    if not answer["experts"]:
        typer.echo("nobody has evidence about this yet")


@app.command()
def tacit(
    topic: Annotated[
        str | None, typer.Option(help="A topic or product (id or name); all if omitted.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Tacit knowledge holders: people who know by doing and wrote nothing down (document this next)."""
    settings = _run(lambda: load_settings(**_State.overrides))
    answer = _run(lambda: tacit_answer(_store(), settings, topic, limit))
    if as_json:
        _print_json(answer)
        return
    for t in answer["tacit_holders"]:
        typer.echo(
            f"{t['subject_name']}: {t['name']} [{t['employee_id']}] behaviour {t['behavioural']:.1f}, "
            f"documents {t['documented']:.1f}"
        )
    if not answer["tacit_holders"]:
        typer.echo("no tacit holders found")


@app.command("knowledge-map")
def knowledge_map_command(
    department: Annotated[
        str | None, typer.Option(help="Only holders in this department (id or name).")
    ] = None,
    top: Annotated[int, typer.Option(help="Holders shown per subject, strongest first.")] = MAP_HOLDERS,
    as_json: JsonOpt = False,
) -> None:
    """Where our know-how lives: topics and products × holders, behaviour vs documents."""
    settings = _run(lambda: load_settings(**_State.overrides))
    rows = _run(
        lambda: knowledge_map(
            _store(), department=department, half_life_days=settings.expertise_half_life_days, top=top
        )
    )
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        people = ", ".join(
            f"{h['name']} (behaviour {h['behavioural']:.1f}, documents {h['documented']:.1f})"
            for h in row["holders"]
        )
        more = row["holders_total"] - len(row["holders"])
        typer.echo(
            f"{row['subject_name']} [{row['subject_id']}]: {people}" + (f" and {more} more" if more else "")
        )


@app.command("gaps")
def gaps_command(limit: int = 50, as_json: JsonOpt = False) -> None:
    """Topics customers ask or complain about that no knowledge item covers, most asked first."""
    found = _run(lambda: gaps(_store(), limit=limit))
    if as_json:
        _print_json(found)
        return
    for gap in found:
        typer.echo(
            f"{gap['name']} [{gap['topic_id']}]: asked {gap['asked']} times, {gap['complaints']} complaints"
        )
    if not found:
        typer.echo("no gaps: every topic customers ask about has a knowledge item")


@app.command("topics")
def topics_command(
    discovered: Annotated[
        bool, typer.Option(help="Only topics found in text, not named by master data.")
    ] = False,
    min_docs: Annotated[int, typer.Option(help="Only topics at least this many documents are about.")] = 0,
    limit: int = 100,
    as_json: JsonOpt = False,
) -> None:
    """Topics, most documented first: how many documents are about each, and where it came from."""
    found = _run(lambda: topics(_store(), discovered=discovered, min_docs=min_docs, limit=limit))
    if as_json:
        _print_json([asdict(t) for t in found])
        return
    for row in found:
        origin = f"discovered, confidence {row.confidence}" if row.discovered else "master data"
        under = f"; under {', '.join(b['name'] for b in row.broader)}" if row.broader else ""
        typer.echo(
            f"{row.documents:4d} documents {row.items:5d} items  {row.name} [{row.id}] ({origin}{under})"
        )
    if not found:
        typer.echo("no topics")


@app.command("bus-factor")
def bus_factor_command(
    subject: Annotated[
        str | None, typer.Argument(help="A topic, product or customer; all at risk if omitted.")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="A topic (id or name).")] = None,
    product: Annotated[str | None, typer.Option(help="A product (id or name).")] = None,
    customer: Annotated[str | None, typer.Option(help="A customer (id or name).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """How many people a subject rests on; without a subject, every topic and product resting on one."""
    named = subject or topic or product or customer
    settings = _run(lambda: load_settings(**_State.overrides))
    answer = _run(lambda: bus_factor_answer(_store(), settings, named))
    if as_json:
        _print_json(answer)
        return
    for b in answer["subjects"]:
        typer.echo(
            f"{b['subject_name']} [{b['subject_id']}]: bus factor {b['bus_factor']} "
            f"({', '.join(b['holder_names']) or 'nobody'})"
        )


@app.command()
def departure(employee_id: str, as_json: JsonOpt = False) -> None:
    """What becomes uncovered if this colleague leaves, with suggested successors."""
    settings = _run(lambda: load_settings(**_State.overrides))
    answer = _run(lambda: departure_answer(_store(), settings, employee_id))  # it resolves names too
    if as_json:
        _print_json(answer)
        return
    for loss in answer["uncovered"]:
        names = ", ".join(f"{s['name']} ({s['why']})" for s in loss["successors"]) or "nobody close"
        typer.echo(f"{loss['subject_name']} [{loss['kind']}] would be uncovered; successors: {names}")
    if not answer["uncovered"]:
        typer.echo("nothing would be left without a knowledgeable holder")


@app.command()
def referrals(
    customer_id: str,
    up: Annotated[
        bool, typer.Option("--up", help="The chain of referrers above, instead of the tree below.")
    ] = False,
    down: Annotated[
        bool, typer.Option("--down", help="The tree of customers referred (the default).")
    ] = False,
    depth: Annotated[int, typer.Option(help="How many referral steps.")] = 6,
    as_json: JsonOpt = False,
) -> None:
    """Whom a customer brought in (--down) or who brought them in (--up)."""
    if up and down:
        typer.secho("error: --up or --down, not both", err=True, fg=typer.colors.RED)
        raise typer.Exit(EXIT_INPUT)
    answer = _run(lambda: referrals_answer(_store(), customer_id, up=up, depth=depth))  # resolves names
    if as_json:
        _print_json(answer)
        return
    if up:
        typer.echo(
            " ← ".join(
                [answer["customer_id"], *(f"{c['name']} [{c['customer_id']}]" for c in answer["chain"])]
            )
        )
        return

    def show_node(node: dict[str, Any]) -> None:
        pad = "  " * node["depth"]
        extra = (
            f"  (+{node['branch_customers']} below, value {node['branch_value']:,.0f})"
            if node["children"]
            else ""
        )
        typer.echo(f"{pad}{node['name']} [{node['customer_id']}]{extra}")
        for child in node["children"]:
            show_node(child)

    show_node(answer["tree"])
    for cycle in answer["cycles"]:
        typer.echo("cycle: " + " → ".join(cycle))


@app.command("referrers")
def referrers_command(
    top: Annotated[int, typer.Option(help="How many.")] = 10,
    since: Annotated[str | None, typer.Option(help="Count customers acquired on or after this date.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Customers ranked by the customers their referrals brought in."""
    found = _run(lambda: referrers(_store(), top=top, since=since))
    if as_json:
        _print_json([r.__dict__ for r in found])
        return
    for r in found:
        typer.echo(
            f"{r.name} [{r.customer_id}]: {r.direct} direct, {r.indirect} indirect, "
            f"value {r.downstream_value:,.0f}"
        )


@app.command("who-knows")
def who_knows_command(customer_id: str, limit: int = 20, as_json: JsonOpt = False) -> None:
    """Colleagues ranked by relationship strength with a customer, with the last interaction."""
    settings = _run(lambda: load_settings(**_State.overrides))
    customer_id = _ref(customer_id, NodeKind.CUSTOMER)
    found = _run(
        lambda: who_knows(
            _store(), customer_id, half_life_days=settings.expertise_half_life_days, limit=limit
        )
    )
    if as_json:
        _print_json([r.__dict__ for r in found])
        return
    for r in found:
        last = r.last_interaction
        seen = f"; last: {last['name']} ({(last['when'] or '')[:10]}, {last['channel']})" if last else ""
        owner = ", account owner" if r.owner else ""
        typer.echo(
            f"{r.name} [{r.employee_id}] strength {r.strength:.2f}: {r.interactions} interactions"
            f"{owner}{seen}"
        )


@app.command()
def intro(
    employee_id: str,
    customer_id: str,
    max_depth: Annotated[int, typer.Option(help="Longest path, in steps.")] = 4,
    limit: Annotated[int, typer.Option(help="How many paths.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Warm-introduction paths from a colleague to a customer, ranked by their weakest tie."""
    settings = _run(lambda: load_settings(**_State.overrides))
    employee_id, customer_id = _ref(employee_id, NodeKind.EMPLOYEE), _ref(customer_id, NodeKind.CUSTOMER)
    found = _run(
        lambda: warm_intros(
            _store(),
            employee_id,
            customer_id,
            max_depth=max_depth,
            half_life_days=settings.expertise_half_life_days,
            limit=limit,
        )
    )
    if as_json:
        _print_json(found)
        return
    for path in found:
        typer.echo(
            f"weakest tie {path['weakest_tie']:.2f}: "
            + " → ".join(
                name
                for name, node in zip(path["names"], path["nodes"], strict=True)
                if not node.startswith("interaction:")
            )
        )
    if not found:
        typer.echo(f"no introduction path within {max_depth} steps")


_ANALYSIS = AnalysisOptions.model_fields


def _analysis_option(name: str, *decls: str) -> Any:
    """A CLI option of ``ckn analyze`` as :class:`AnalysisOptions` declares it.

    Its help comes from the model; its default and limits are the model's, checked when the command
    runs.
    """
    return typer.Option(*decls, help=_ANALYSIS[name].description)


@app.command()
def analyze(
    network_name: Annotated[
        str,
        typer.Argument(
            metavar="NETWORK",
            help="referral, collaboration, knows, customer-product, employee-topic, practice, topics",
        ),
    ],
    measure: Annotated[
        str,
        typer.Argument(
            help="pagerank, brokers, communities, suggestions, ambassadors, departments or export"
        ),
    ],
    method: Annotated[str, _analysis_option("method")] = _ANALYSIS["method"].default,
    top: Annotated[int, _analysis_option("top")] = _ANALYSIS["top"].default,
    reverse: Annotated[bool, _analysis_option("reverse")] = _ANALYSIS["reverse"].default,
    fmt: Annotated[str, _analysis_option("format", "--format")] = _ANALYSIS["format"].default,
    node: Annotated[str | None, _analysis_option("node")] = None,
    since: Annotated[str | None, _analysis_option("since")] = None,
    department: Annotated[str | None, _analysis_option("department")] = None,
    segment: Annotated[str | None, _analysis_option("segment")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Network analysis: influencers, brokers, communities, suggestions, ambassadors, departments, export."""
    options = _run(
        lambda: AnalysisOptions.checked(
            method=method,
            top=top,
            reverse=reverse,
            format=fmt,
            node=node,
            since=since,
            department=department,
            segment=segment,
        )
    )
    answer = _run(lambda: analysis_answer(_store(), network_name, measure, options))
    if measure == "export":
        typer.echo(answer)
        return
    if as_json or measure in {"suggestions", "ambassadors", "departments"}:
        _print_json(answer)
        return
    size = f"({answer['nodes']} nodes, {answer['edges']} edges)"
    typer.echo(f"{answer['measure']} on the {network_name} network {size}")
    for row in answer.get("ranking", []):
        typer.echo("  " + ", ".join(f"{k}={v}" for k, v in row.items()))
    for community in answer.get("communities", []):
        typer.echo(f"  {community['size']}: {', '.join(community['members'][:10])}")


@app.command("customer")
def customer_command(customer_id: str, as_json: JsonOpt = False) -> None:
    """The customer 360 / hand-over dossier, with a completeness score over five levels."""
    settings = _run(lambda: load_settings(**_State.overrides))
    customer_id = _ref(customer_id, NodeKind.CUSTOMER)
    d = _run(lambda: customer_360(_store(), customer_id, half_life_days=settings.expertise_half_life_days))
    if as_json:
        _print_json(d)
        return
    ident = d["identity"]
    typer.echo(
        f"{ident['name']} [{ident['id']}]  completeness {d['completeness']['score']}/5"
        + (f" (missing: {', '.join(d['completeness']['missing'])})" if d["completeness"]["missing"] else "")
    )
    typer.echo(
        f"  from {len(ident['sources'])} sources; e-mails {', '.join(d['channels']['emails']) or '-'}; "
        f"phones {', '.join(d['channels']['phones']) or '-'}"
    )
    typer.echo(
        f"  {d['behaviour']['interactions']} interactions, last {d['behaviour']['last_interaction'] or '-'}; "
        f"value {d['value']['lifetime_value']}"
    )
    typer.echo(
        "  owners: "
        + (", ".join(o["name"] + ("" if o["current"] else " (past)") for o in d["owners"]) or "-")
    )
    typer.echo("  open complaints: " + (", ".join(d["open_complaints"]) or "none"))
    typer.echo(
        "  colleagues who know them: " + (", ".join(c["name"] for c in d["colleagues"]) or "nobody yet")
    )


@app.command("search")
def search_command(text: str, limit: int = 20, as_json: JsonOpt = False) -> None:
    """Customers, colleagues, products and topics by name (fuzzy), and documents by the words in them."""
    found = _run(lambda: search(_store(), text, limit=limit))
    if as_json:
        _print_json(found)
        return
    for hit in found:
        typer.echo(f"{hit['score']:5.1f}  {hit['kind']:<10} {hit['name']}  [{hit['id']}]")
        if snippet := hit.get("snippet"):
            typer.echo(f"       {_marked(str(snippet), hit.get('highlights') or [])}")  # type: ignore[arg-type]


def _marked(snippet: str, marks: list[list[int]]) -> str:
    """A snippet on one line, its matches in 【】."""
    for start, end in sorted(marks, reverse=True):
        snippet = f"{snippet[:start]}【{snippet[start:end]}】{snippet[end:]}"
    return " ".join(snippet.split())


@app.command()
def holders(subject_id: str, limit: int = 20, as_json: JsonOpt = False) -> None:
    """Colleagues with evidence on a product, topic or customer: documents written vs work done."""
    half_life = _run(lambda: load_settings(**_State.overrides)).expertise_half_life_days
    subject_id = _ref(subject_id, NodeKind.PRODUCT, NodeKind.TOPIC, NodeKind.CUSTOMER)
    found = _run(lambda: everyone_on(_store(), subject_id, half_life_days=half_life, limit=limit))
    if as_json:
        _print_json([asdict(h) for h in found])
        return
    for holder in found:
        flag = "  (tacit: nothing written down)" if holder.tacit else ""
        typer.echo(
            f"{holder.name} [{holder.employee_id}]: documented {holder.documented:g}, "
            f"behavioural {holder.behavioural:g} ({holder.evidence_count} items){flag}"
        )


@app.command("delete-source")
def delete_source(source_id: str, as_json: JsonOpt = False) -> None:
    """Remove one source's evidence; facts that nothing else supports are deleted."""
    result = _run(lambda: _store().delete_source(source_id))
    record_local(_store(), "delete-source", [source_id])
    if as_json:
        _print_json(result.model_dump())
        return
    typer.echo(
        f"deleted {result.entities_deleted} entities and {result.relations_deleted} relationships; "
        f"{result.facts_trimmed} facts kept with other evidence"
    )


@app.command()
def erase(
    entity_id: str,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: erasure cannot be undone.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Erase a customer or colleague for good: every trace, kept out of later ingests, then a scan."""
    if not yes:
        typer.secho("erase cannot be undone; repeat with --yes", err=True, fg=typer.colors.RED)
        raise typer.Exit(EXIT_INPUT)
    entity_id = _ref(entity_id, NodeKind.CUSTOMER, NodeKind.EMPLOYEE, exact=True)
    settings = _run(lambda: load_settings(**_State.overrides))
    store = _store()

    def work() -> ErasureReport:
        with store.writer(wait_s=settings.write_lock_wait_s, on_wait=_waiting):
            return erasure.erase(store, entity_id, settings.home / "quarantine")

    report = _run(work)
    record_local(store, "erase", [report.entity_id])
    if as_json:
        _print_json(report.model_dump())
        return
    typer.echo(
        f"erased {report.entity_id} and {report.relations_deleted} relationships; "
        f"{len(report.items_deleted)} of their own items deleted, {report.texts_redacted} texts redacted, "
        f"{report.others_redacted} other entities masked, "
        f"{report.merges_made_final} reviewed merges made final, "
        f"{report.ids_masked} sources and documents named after them renamed, "
        f"{report.quarantine_rows_removed} quarantined rows removed, {report.suppressed_keys} keys suppressed"
    )
    scan = report.scan
    verdict = "nothing left" if scan.clean else f"{scan.store_hits + scan.quarantine_hits} traces LEFT"
    namesakes = f"; {scan.namesakes} other people have the same name (kept)" if scan.namesakes else ""
    typer.echo(f"scan of {scan.items_scanned} items and the quarantine: {verdict}{namesakes}")
    if not report.files_scrubbed:
        typer.echo("the store's log still holds copies (a reader kept it busy): the next erasure clears it")
    if not report.clean:
        raise typer.Exit(1)


@app.command("export-person")
def export_person_command(entity_id: str) -> None:
    """Everything held about a customer or colleague, as JSON (an access request)."""
    entity_id = _ref(entity_id, NodeKind.CUSTOMER, NodeKind.EMPLOYEE, exact=True)
    settings = _run(lambda: load_settings(**_State.overrides))
    exported = _run(lambda: erasure.export_person(_store(), entity_id, settings.home / "quarantine"))
    record_local(_store(), "export-person", [entity_id])
    _print_json(exported)


audit_app = typer.Typer(help="The audit log: who called what, about whom, when.", invoke_without_command=True)
app.add_typer(audit_app, name="audit")


@audit_app.callback()
def audit_command(
    ctx: typer.Context,
    after: Annotated[int, typer.Option(help="Records after this sequence number.")] = 0,
    limit: Annotated[int, typer.Option(help="How many records.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """The audit log, oldest first (``ckn audit verify`` checks its hash chain)."""
    if ctx.invoked_subcommand is not None:
        return
    entries = _run(lambda: _store().read_audit(after=after, limit=limit))
    if as_json:
        _print_json([e.model_dump() for e in entries])
        return
    for e in entries:
        r = e.record
        subjects = ", ".join(r.get("subjects", []))
        typer.echo(
            f"{e.seq:>6} {str(r.get('at', ''))[:19]} {r.get('who')} ({r.get('role')}) "
            f"{r.get('operation')} -> {r.get('status')}" + (f" [{subjects}]" if subjects else "")
        )


@audit_app.command("verify")
def audit_verify_command() -> None:
    """Check the audit log's hash chain; exit 1 when a record was changed, removed or reordered."""
    verdict = verify(all_entries(_store()))
    if verdict.intact:
        typer.echo(f"audit log intact: {verdict.records} records; last hash {verdict.head or '-'}")
        return
    typer.secho(
        f"audit log BROKEN at record {verdict.broken_at}: {verdict.reason}", err=True, fg=typer.colors.RED
    )
    raise typer.Exit(1)


@app.command("bench")
def bench_command(
    scale: Annotated[str, typer.Option(help="tiny, small, medium or large generated bundle.")] = "small",
    pairs: Annotated[int, typer.Option(help="A/B pairs per measurement (at least 5).")] = 5,
    out: Annotated[Path, typer.Option(help="Where results.json, results.md and results.png go.")] = Path(
        "bench/results"
    ),
    only: Annotated[
        str | None,
        typer.Option(
            help="Parts, comma-separated: ingest,neo4j,bundle,queries,live,web,analysis (default all)."
        ),
    ] = None,
) -> None:
    """Benchmarks, as `make bench`: speed and memory as ratios to references measured in the same run."""
    from ckn.bench.run import PARTS, run, table

    parts = tuple(p.strip() for p in only.split(",")) if only else PARTS
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        typer.secho(f"error: unknown part(s) {', '.join(unknown)}; parts: {', '.join(PARTS)}", err=True)
        raise typer.Exit(EXIT_INPUT)
    typer.echo(table(run(scale, max(pairs, 5), out, parts)))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    insecure_no_auth: Annotated[
        bool,
        typer.Option(
            "--insecure-no-auth",
            help="Serve beyond loopback although no API key exists (anyone may call it).",
        ),
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (each with its own store connection).")
    ] = 1,
) -> None:
    """Serve the HTTP API with uvicorn (OpenAPI docs at /docs); API keys decide who may call what."""
    import uvicorn

    settings = _run(lambda: load_settings(**_State.overrides))
    providers = bool(settings.jwt_issuer and settings.jwt_audience and settings.jwks_url)
    _run(
        lambda: check_exposure(host, Keys(settings.home), insecure_no_auth=insecure_no_auth, tokens=providers)
    )
    if insecure_no_auth and not Keys(settings.home).active() and not providers:
        typer.secho(
            f"warning: serving on {host} without authentication: anyone who reaches it can read and "
            "change everything",
            err=True,
            fg=typer.colors.YELLOW,
        )
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port)
        return
    for name, value in _State.overrides.items():  # the workers read their settings from the environment
        if value is not None:
            os.environ[f"CKN_{name.upper()}"] = str(value)
    uvicorn.run("ckn.api.app:create_app", factory=True, host=host, port=port, workers=workers)


keys_app = typer.Typer(help="API keys: who may call the HTTP API, and in which role.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Whose key it is (a person or a service).")],
    role: Annotated[str, typer.Option(help="viewer, sales, marketing, knowledge_manager or admin.")],
) -> None:
    """Create an API key; its secret is shown once (only a salted hash of it is kept)."""
    settings = _run(lambda: load_settings(**_State.overrides))
    key, token = _run(lambda: Keys(settings.home).create(name, role))
    record_local(_store(), "keys create", [f"key:{key.id}"])
    typer.echo(f"{key.id}  {key.role}  {key.name}")
    typer.echo(token)


@keys_app.command("list")
def keys_list() -> None:
    """The API keys: id, role, name, created, revoked (never their secrets)."""
    settings = _run(lambda: load_settings(**_State.overrides))
    for key in Keys(settings.home).list():
        revoked = f"  revoked {key.revoked_at[:19]}" if key.revoked_at else ""
        typer.echo(f"{key.id}  {key.role:<17} {key.name}  created {key.created_at[:19]}{revoked}")


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key: it is refused from now on."""
    settings = _run(lambda: load_settings(**_State.overrides))
    key = _run(lambda: Keys(settings.home).revoke(key_id))
    record_local(_store(), "keys revoke", [f"key:{key.id}"])
    typer.echo(f"revoked {key.id} ({key.role}, {key.name})")


def main() -> None:
    """Entry point of the ``ckn`` command."""
    try:
        app()
    finally:
        if _State.store is not None:
            _State.store.close()
