"""Ingest a bundle of CRM exports: read → normalise → resolve → write in batches → report.

Each row is converted once, as it is read; a row naming something not known yet (it may come further
down the file) is held back and converted again at the end of the file.

Idempotent and resumable: every file is a source ``source:<name>@<digest of its key and content>``,
where the key says which source the user means (by default the file's resolved path; ``--source``
names it); each batch is
written in one transaction together with the checkpoint ``line N, Q quarantined`` (its last row, never
past a row held back, and the quarantine entries so far), and ``done`` when the file is complete.
Running the same command again skips finished files and resumes an interrupted one after its last
committed batch, so the result equals an uninterrupted run: the rows up to the checkpoint are
converted again (not written) to learn their names, and those that were held back are held back again.
Ingest merges: a new version of a source adds to what the older ones said and deletes nothing. Only
``replace`` retires the older versions of the same key once the new one is stored, deleting the facts
only they supported (see :func:`retire_older`).

Bad rows go to a quarantine file (one JSON object a line: file, line, reason, raw) next to the report;
the quarantine of a file is kept in step with its checkpoint, so a resumed run lists every bad row once.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import os
import re
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO, cast

from pydantic import ValidationError

from ckn.graph.errors import InvalidInput
from ckn.graph.heap import collect_young, paused_gc, settle
from ckn.graph.merge import plan_write
from ckn.graph.model import Batch, Checkpoint, Entity, NodeKind, Provenance, Relation, RelType
from ckn.graph.store import DeleteResult, GraphStore, WriteResult
from ckn.ingest.documents import MANIFEST, SUFFIXES, document_row, manifest
from ckn.ingest.erasure import Suppression, masked_row, masked_source, quarantine_name
from ckn.ingest.jsonl import refusal
from ckn.ingest.nlp import Gazetteer, TextAnalyzer
from ckn.ingest.normalise import DEFAULT_REGION, BadValue
from ckn.ingest.records import CONVERTERS, ORDER, TEXT_KINDS, Context, TopicBook, text_facts, text_of
from ckn.ingest.resolve import MATCH_THRESHOLD, RESOLVED_KINDS, Resolver
from ckn.ingest.review import review_candidates
from ckn.ingest.tabular import (
    NO_MAPPING,
    PRESETS,
    BadRow,
    Mapping,
    Row,
    Scanned,
    read_rows,
    scan_file,
    sniff_header,
)
from ckn.ingest.vcard import read_cards

log = logging.getLogger(__name__)

REFUSED_ROW = (BadValue, ValidationError)
"""What a row's conversion raises for a value it cannot read, or a fact no store keeps (text too long)."""

DONE = "done"
SKIPPED = (
    "not a kind ckn reads (neither the file name nor a CSV header row with an id column such as "
    "customer_id or interaction_id says which kind of records it holds)"
)


@dataclass(frozen=True)
class _Resumed:
    """Where a file's checkpoint (``line 37, 4 quarantined``) resumes its ingest.

    After ``line`` (0: a file never ingested), keeping the first ``quarantined`` entries of its
    quarantine (``None``: a checkpoint of an older ckn, which did not count them).
    """

    line: int = 0
    quarantined: int | None = None

    @classmethod
    def parse(cls, position: str | None) -> _Resumed:
        found = re.fullmatch(r"line (\d+)(?:, (\d+) quarantined)?", position or "")
        if found is None:
            if position:
                log.warning("checkpoint %r not understood: ingesting the file from its start", position)
            return cls()
        return cls(int(found[1]), None if found[2] is None else int(found[2]))

    def position(self) -> str:
        return f"line {self.line}, {self.quarantined} quarantined"


@dataclass
class FileReport:
    """What happened to one file."""

    path: str
    kind: str
    source_id: str = ""
    rows: int = 0
    written: WriteResult = field(default_factory=WriteResult)
    quarantined: int = 0
    words: int = 0
    """Words of text that went through spaCy extraction."""
    key: str = ""
    """Which source the user means: the file's resolved path, or the name given to it."""
    status: str = "ingested"
    """``ingested``, ``resumed`` (after an interruption), ``unchanged`` (already done), ``rejected``,
    ``skipped`` (not a kind ckn reads) or ``previewed`` (a dry run)."""
    reason: str = ""
    seconds: float = 0.0
    replaces: list[str] = field(default_factory=list)
    """Older versions of the same key this file replaces (``replace`` mode only)."""
    replacement: DeleteResult | None = None
    """What replacing them deletes (or, in a dry run or when refused, would delete)."""
    replaced: bool = False
    """Whether the older versions were retired (False: none, a dry run, or refused)."""
    suppressed_lines: list[int] = field(default_factory=list)
    """Lines of rows about people erased before (:mod:`ingest.erasure`): not written, or written
    without the reference to them."""

    @property
    def suppressed(self) -> int:
        """How many rows were about erased people."""
        return len(self.suppressed_lines)

    @property
    def rows_per_second(self) -> float:
        """Throughput of this file."""
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def words_per_second(self) -> float:
        """Text throughput of this file (extraction included)."""
        return self.words / self.seconds if self.seconds else 0.0


@dataclass
class IngestReport:
    """What an ingest run did, file by file."""

    files: list[FileReport] = field(default_factory=list)
    quarantine_dir: str = ""

    @property
    def quarantined(self) -> int:
        """Rows set aside in all files."""
        return sum(f.quarantined for f in self.files)

    @property
    def written(self) -> WriteResult:
        """Facts created, updated and unchanged in all files."""
        total = WriteResult()
        for f in self.files:
            total += f.written
        return total


@dataclass(frozen=True)
class NlpOptions:
    """How extraction runs: statistical pipelines to load (by language) and ``nlp.pipe`` settings."""

    models: dict[str, str] = field(default_factory=dict)
    batch_size: int = 64
    n_process: int = 1
    discover: bool = True
    """Discover topics, people and organisations in long texts (see :mod:`ingest.discovery`)."""


@dataclass(frozen=True)
class _Source:
    """A file planned for ingest: how to read it into rows, and what kind of records they are."""

    path: Path
    key: str
    kind: str
    system: str
    order: tuple[int, int, str]
    read: Callable[[Scanned], Iterator[Row | BadRow]]
    extra: bytes = b""
    """Bytes that also make the source's version (a document's manifest row)."""


def detect_kind(path: Path, mapping: Mapping = NO_MAPPING) -> tuple[str | None, Mapping, str]:
    """The kind of a file, the mapping and the id system to read it with.

    An explicit mapping wins; a file named after a preset (``hubspot_contacts.csv``,
    ``salesforce-export.csv``) is read with that preset; ``.vcf`` files are contacts; ``.md``,
    ``.txt``, ``.html``, ``.pdf`` and ``.docx`` are documents (``documents.csv`` is their manifest);
    otherwise the name says the kind (``customers.csv``, ``2026_interactions.csv``,
    ``interactions-2026-12.csv``), or else the header row does (an ``interaction_id`` column: an
    interactions file, see :data:`KIND_COLUMNS`).
    """
    suffix, stem = path.suffix.lower(), re.sub(r"[\s\-.]+", "_", path.stem.lower())
    if mapping.kind:
        return mapping.kind, mapping, "crm"
    if suffix == ".vcf":
        return "vcard", mapping, "vcard"
    if path.name.lower() == MANIFEST:
        return "manifest", mapping, "crm"
    if suffix in SUFFIXES:
        return "documents", mapping, "crm"
    if suffix != ".csv":
        return None, mapping, "crm"
    return _csv_kind(path, stem, mapping)


def _csv_kind(path: Path, stem: str, mapping: Mapping) -> tuple[str | None, Mapping, str]:
    for preset in PRESETS:
        if stem.startswith(preset):
            return "customers", Mapping.preset(preset), preset
    kind = next((k for k in ORDER if stem == k or stem.startswith(f"{k}_") or stem.endswith(f"_{k}")), None)
    if kind is not None:
        return kind, mapping, "crm"
    columns = set(_header(path, mapping))
    for preset, wanted in PRESET_COLUMNS.items():
        if wanted <= columns:
            return "customers", Mapping.preset(preset), preset
    kind = next((k for k, wanted in KIND_COLUMNS if wanted <= columns), None)
    return kind, mapping, "crm"


KIND_COLUMNS: tuple[tuple[str, frozenset[str]], ...] = (
    ("interactions", frozenset({"interaction_id"})),
    ("feedback", frozenset({"feedback_id"})),
    ("relationships", frozenset({"source_id", "type", "target_id"})),
    ("topics", frozenset({"topic_id"})),
    ("products", frozenset({"product_id", "name"})),
    ("employees", frozenset({"employee_id", "name"})),
    ("customers", frozenset({"customer_id", "name"})),
)
"""The columns (after header mapping) that tell a file's kind when its name does not, first match wins."""

PRESET_COLUMNS = {
    "hubspot": frozenset({"record_id", "first_name", "last_name"}),
    "salesforce": frozenset({"contact_id", "account_name"}),
}
"""Raw header names (normalised) that tell a contacts export."""


def _header(path: Path, mapping: Mapping) -> list[str]:
    """A CSV file's header row: its raw names and their canonical ones (empty if unreadable)."""
    raw = sniff_header(path)
    return [*raw, *(mapping.canonical(h) for h in raw)]


def _plan(path: Path, key: str, mapping: Mapping, system: str, encoding: str | None) -> _Source | None:
    kind, file_mapping, file_system = detect_kind(path, mapping)
    system = file_system if system == "crm" else system
    if kind == "vcard":
        return _Source(
            path,
            key,
            "vcard",
            system,
            (ORDER.index("customers"), 2, str(path)),
            lambda scanned: _stream(path, scanned, read_cards),
        )
    if kind == "documents":
        listed = manifest(path.parent).get(path.name) or {}
        return _Source(
            path,
            key,
            "documents",
            system,
            (len(ORDER), 0, str(path)),
            lambda _: iter([document_row(path, listed)]),
            extra=json.dumps(listed, sort_keys=True, ensure_ascii=False).encode(),
        )
    if kind in ORDER:
        # the CRM's own customer list before contacts exports, so those join onto it
        return _Source(
            path,
            key,
            kind,
            system,
            (ORDER.index(kind), int(file_mapping.kind is not None), str(path)),
            lambda scanned: _stream(path, scanned, lambda text: read_rows(text, file_mapping)),
        )
    return None


def _stream(
    path: Path, scanned: Scanned, read: Callable[[TextIO], Iterator[Row | BadRow]]
) -> Iterator[Row | BadRow]:
    """The rows of a text file, read as they stream (the file is closed when they are done)."""
    with path.open(encoding=scanned.encoding, newline="") as text:
        yield from read(text)


def _files(paths: Sequence[Path], name: str | None) -> list[tuple[Path, str]]:
    """The files under ``paths``, each with its source key.

    The key is the file's resolved path; with a ``name``, a single file is that name, and the files
    of a folder (or of several paths) are ``name/relative path``.
    """
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
                rel = file.relative_to(path).as_posix()
                found.append((file, f"{name}/{rel}" if name else str(file.resolve())))
        elif name and len(paths) == 1:
            found.append((path, name))
        else:
            found.append((path, f"{name}/{path.name}" if name else str(path.resolve())))
    keys = [key for _, key in found]
    if doubled := sorted({key for key in keys if keys.count(key) > 1}):
        raise InvalidInput(f"two files would be one source: {', '.join(doubled)}; name them apart")
    return found


@dataclass(frozen=True)
class Replace:
    """How ``replace`` mode retires the older versions of a source.

    ``max_share``: the largest share of the older versions' facts a replacement may delete without
    ``confirmed`` (a snapshot that would delete more waits for the user to say yes).
    """

    confirmed: bool = False
    max_share: float = 0.25


def ingest_paths(
    store: GraphStore,
    paths: Sequence[Path],
    *,
    quarantine_dir: Path,
    mapping: Mapping = NO_MAPPING,
    system: str = "crm",
    encoding: str | None = None,
    batch_size: int = 20_000,
    nlp: NlpOptions | None = None,
    progress: Callable[[FileReport], None] | None = None,
    on_rows: Callable[[str, int, int], None] | None = None,
    match_threshold: int = MATCH_THRESHOLD,
    name: str | None = None,
    keys: dict[Path, str] | None = None,
    replace: Replace | None = None,
    dry_run: bool = False,
    lock_wait_s: float = 600.0,
    on_wait: Callable[[str], None] | None = None,
    phone_region: str = DEFAULT_REGION,
) -> IngestReport:
    """Ingest files and folders into ``store``; referenced kinds go first (employees before interactions).

    Every file is merged into what the store holds. ``name`` (or ``keys``, a key for each file) says
    which source each file is (see :func:`_files`); with ``replace``, each file then retires the
    older versions of its source (:func:`retire_older`). ``dry_run`` reads and converts everything
    and reports what would be written and deleted, writing nothing. The ingest holds the store's
    write lock (:meth:`graph.store.GraphStore.writer`): a second one waits up to ``lock_wait_s``
    seconds, calling ``on_wait(holder)`` when it starts waiting.

    Raises:
        InvalidInput: a path does not exist, two files would be the same source, or a file named
            in ``paths`` (not found in a folder) is of no kind ckn reads: nothing is ingested.
        StoreBusy: another ingest held the write lock for longer than ``lock_wait_s``.

    """
    for path in paths:
        if not path.exists():
            raise InvalidInput(f"no such file or folder: {path}")
    report = IngestReport(quarantine_dir=str(quarantine_dir))
    files = [(path, keys[path]) for path in paths] if keys is not None else _files(paths, name)
    named = {path for path in paths if not path.is_dir()} if keys is None else set()  # uploads: skipped
    planned = _plan_all(files, named, mapping, system, encoding, report)
    if progress:
        for skipped in report.files:
            progress(skipped)
    preview = _Preview(store) if dry_run else None
    target = cast(GraphStore, preview) if preview else store
    if preview:  # a dry run's bad rows are counted, not kept
        scratch = tempfile.TemporaryDirectory(prefix="ckn-dry-run-")
        quarantine_dir = Path(scratch.name)
    # the resolver is read under the lock, so it sees what the ingest before this one wrote; see
    # graph.heap: the resolver and each batch are millions of objects; a batch's commit overlaps
    # the conversion of the next (each batch is atomic with its checkpoint, so resuming stays exact)
    locked = nullcontext() if preview else store.writer(wait_s=lock_wait_s, on_wait=on_wait)
    with locked:
        with paused_gc(), target.write_behind():
            resolver = Resolver.from_store(store)
            suppression = Suppression.of(store)
            settle()  # the resolver lives as long as the ingest: later young collections skip it
            texts = _Texts(resolver, nlp or NlpOptions())
            for source in sorted(planned, key=lambda p: p.order):
                try:
                    scanned = scan_file(
                        source.path,
                        salt=source.key.encode() + b"\0",
                        extra=source.extra,
                        encoding=encoding,
                        text=source.kind != "documents",
                    )
                    file_report = ingest_records(
                        target,
                        source.path.name,
                        scanned,
                        source.kind,
                        source.read,
                        CONVERTERS["customers" if source.kind == "vcard" else source.kind],
                        resolver=resolver,
                        quarantine_dir=quarantine_dir,
                        system=source.system,
                        batch_size=batch_size,
                        texts=texts,
                        on_rows=on_rows,
                        threshold=match_threshold,
                        key=source.key,
                        phone_region=phone_region,
                        suppression=suppression,
                    )
                except InvalidInput as exc:  # the whole file is unreadable: say so, go on with the others
                    file_report = FileReport(
                        str(source.path), source.kind, status="rejected", reason=exc.detail
                    )
                file_report.path, file_report.key = str(source.path), file_report.key or source.key
                if dry_run and file_report.status != "rejected":
                    file_report.status = "previewed"
                report.files.append(file_report)
                if progress and not replace:
                    progress(file_report)
        if replace is not None:
            kept = preview.written if preview else set()
            versions = _versions(store)  # once: a folder of documents is thousands of sources
            for file_report in report.files:
                retire_older(store, file_report, replace, versions, dry_run=dry_run, kept=kept)
                if progress and file_report.status != "skipped":
                    progress(file_report)
    if preview:
        scratch.cleanup()
    return report


def _plan_all(
    files: list[tuple[Path, str]],
    named: set[Path],
    mapping: Mapping,
    system: str,
    encoding: str | None,
    report: IngestReport,
) -> list[_Source]:
    """Plan each file; report the ones of no kind ckn reads as skipped, or refuse them if named."""
    planned: list[_Source] = []
    unknown: list[Path] = []
    for path, key in files:
        source = _plan(path, key, mapping, system, encoding)
        if source is not None:
            planned.append(source)
        elif path in named and path.name.lower() != MANIFEST:
            unknown.append(path)
        elif path.name.lower() != MANIFEST:
            report.files.append(FileReport(str(path), "?", key=key, status="skipped", reason=SKIPPED))
    if unknown:
        raise InvalidInput(
            f"cannot tell what {', '.join(p.name for p in unknown)} hold(s): {SKIPPED}; "
            "name the kind with --mapping (kind: interactions), or rename the file"
        )
    return planned


def retire_older(
    store: GraphStore,
    file: FileReport,
    replace: Replace,
    versions: dict[str, list[str]],
    *,
    dry_run: bool,
    kept: Iterable[str] = (),
) -> None:
    """Replace the older versions of ``file``'s source with it (deleting what only they supported).

    Runs once the new version is stored (merged), so a refusal loses nothing: both versions stay
    until the user confirms. A replacement that would delete more than ``replace.max_share`` of the
    older versions' facts is refused unless ``replace.confirmed``. In a dry run, ``kept`` are the
    facts the new version would write (they are kept, not deleted). ``versions``: the sources in the
    store by key (:func:`_versions`).
    """
    if not file.source_id or file.status in {"rejected", "skipped"}:
        return
    file.replaces = [s for s in versions.get(file.key, []) if s != file.source_id]
    if not file.replaces:
        return
    preview = store.delete_source(*file.replaces, dry_run=True, keep=kept)
    file.replacement = preview
    deleted = preview.entities_deleted - len(file.replaces) + preview.relations_deleted
    if dry_run:
        return
    if deleted > replace.max_share * max(preview.facts_supported, 1) and not replace.confirmed:
        file.reason = (
            f"replacing {', '.join(file.replaces)} would delete {deleted} of its "
            f"{preview.facts_supported} facts (more than {replace.max_share:.0%}); the new version "
            "was merged and the older one kept: run again with --yes (mode=replace&yes=true) to replace it"
        )
        return
    log.info("retiring %s (replaced by %s)", ", ".join(file.replaces), file.source_id)
    file.replacement = store.delete_source(*file.replaces)
    file.replaced = True


def _versions(store: GraphStore) -> dict[str, list[str]]:
    """The sources in the store by key: the versions of each."""
    found: dict[str, list[str]] = defaultdict(list)
    after = ""
    while page := store.list_entities(NodeKind.SOURCE, after=after, limit=min(500, store.limits.max_page)):
        for source in page:
            found[str(source.props.get("source_key", ""))].append(source.id)
        after = page[-1].id
    return found


class _Preview:
    """A store that reads from ``store`` and writes nothing, remembering what would be written.

    Each batch is merged onto what the store holds as a write would be, for its counts; entities an
    earlier batch of the preview would have created count as there.
    """

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self.written: set[str] = set()
        self.kinds: dict[str, NodeKind] = {}

    def write(self, batch: Batch) -> WriteResult:
        def kinds(ids: list[str]) -> dict[str, NodeKind]:
            found = {i: self.kinds[i] for i in ids if i in self.kinds}
            stored = self.store.get_entities([i for i in ids if i not in found])
            return found | {i: e.kind for i, e in stored.items()}

        plan = plan_write(batch, self.store.get_entities, kinds, self.store.get_relations_by_id)
        self.kinds.update((e.id, e.kind) for e in batch.entities)
        self.written.update(e.id for e in batch.entities)
        self.written.update(r.id for r in batch.relations)
        return plan.result()

    def write_behind(self) -> AbstractContextManager[None]:
        return nullcontext()

    def get_checkpoint(self, job: str) -> str | None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class _Texts:
    """Extraction for one ingest run: the analyzer is built on first use, its gazetteer kept current."""

    def __init__(self, resolver: Resolver, options: NlpOptions) -> None:
        self.resolver, self.options = resolver, options
        self._analyzer: TextAnalyzer | None = None
        self._known = -1
        self._topics: TopicBook | None = None
        self.brought: set[str] = set()
        """What texts brought in this run (discovered topics, candidates): written once a run."""

    def analyzer(self) -> TextAnalyzer:
        if self._analyzer is None:
            self._analyzer = TextAnalyzer(
                Gazetteer({}, {}),
                models=self.options.models,
                batch_size=self.options.batch_size,
                n_process=self.options.n_process,
                discover=self.options.discover,
            )
        if self._known != len(self.resolver.known):
            self._analyzer.set_gazetteer(Gazetteer.from_resolver(self.resolver))
            self._known = len(self.resolver.known)
        return self._analyzer

    def enrich(
        self, entities: list[Entity], relations: Iterable[Relation], ctx: Context
    ) -> tuple[list[Entity], list[Entity], list[Relation], int]:
        """Run extraction over the items of a batch that carry text.

        Returns them updated, the entities their texts brought (discovered topics, candidates) and the
        relations, and the words read. ``relations``: the batch's, which say who submitted each text.
        """
        items = [(i, e, text_of(e)) for i, e in enumerate(entities) if e.kind in TEXT_KINDS and text_of(e)]
        if not items:
            return entities, [], [], 0
        analyses = self.analyzer().analyze([text for _, _, text in items])
        if self.options.discover and self._topics is None:
            self._topics = TopicBook(self.resolver)
        speakers = _speakers(relations)
        updated = list(entities)
        brought: dict[str, Entity] = {}
        found: list[Relation] = []
        words = 0
        for (i, entity, _), analysis in zip(items, analyses, strict=True):
            updated[i], new, facts = text_facts(
                entity, analysis, ctx, topics=self._topics, speaker=speakers.get(entity.id)
            )
            brought.update((e.id, e) for e in new if e.id not in self.brought)
            found += facts
            words += analysis.words
        self.brought.update(brought)
        return updated, list(brought.values()), found, words


def _speakers(relations: Iterable[Relation]) -> dict[str, str]:
    """The customer who speaks in each text: who submitted the feedback, the one customer in a meeting."""
    said: dict[str, set[str]] = defaultdict(set)
    for relation in relations:
        if relation.type is RelType.SUBMITTED or (
            relation.type is RelType.PARTICIPATED_IN and relation.source.startswith("customer:")
        ):
            said[relation.target].add(relation.source)
    return {item: next(iter(who)) for item, who in said.items() if len(who) == 1}


class _Quarantine:
    """The quarantine file of one source, kept in step with the source's checkpoint.

    A resumed run keeps the entries its checkpoint counted (those written before the last committed
    batch) about the rows it will not read again; the rows after the checkpoint are read again, and
    quarantined again if bad. The relations dropped when a file ends are listed with the last batch,
    so an interrupted run never keeps them: the resumed run finds them again.
    """

    def __init__(self, path: Path, resumed: _Resumed, suppression: Suppression | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.suppression = suppression
        """Masks what names an erased person in a bad row (a file named after them: its cells)."""
        kept: list[str] = []
        if path.exists() and resumed.line > 0:
            entries = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            kept = [
                line for line in entries[: resumed.quarantined] if json.loads(line)["line"] <= resumed.line
            ]
        # rewrite atomically: a kill during the rewrite must not lose the entries already committed
        fresh = path.with_suffix(f".{os.getpid()}.tmp")
        fresh.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        with fresh.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(fresh, path)
        self.path = path
        self.count = len(kept)
        self.lines = {json.loads(line)["line"] for line in kept}
        """The rows before the checkpoint that were quarantined: none of their facts was written."""
        self._handle: IO[str] = path.open("a", encoding="utf-8")

    def add(self, file: str, bad: BadRow) -> None:
        record = {"file": file, "line": bad.line, "reason": bad.reason, "raw": bad.raw}
        if self.suppression:
            record = masked_row(record, self.suppression)
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def sync(self) -> None:
        """Make the entries durable before the batch they belong to commits."""
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self.sync()
        self._handle.close()


def _line_of(relation: Relation) -> int:
    locator = relation.provenance[0].locator
    return int(locator.split()[-1]) if locator.startswith("line ") else 0


class _Present:
    """What a relation of the source being ingested may point to: known before it, or written by it.

    A view over the resolver, not a copy: copying its million names for each file would make a folder
    of small documents quadratic.
    """

    def __init__(self, resolver: Resolver) -> None:
        self.known, self.new = resolver.known, resolver.begin()
        self.written: set[str] = set()

    def __contains__(self, entity_id: str) -> bool:
        return entity_id in self.written or (entity_id in self.known and entity_id not in self.new)

    def add(self, entity_id: str) -> None:
        self.written.add(entity_id)

    def update(self, entity_ids: Iterable[str]) -> None:
        self.written.update(entity_ids)

    def forget(self, entity_ids: Iterable[str]) -> None:
        self.written.difference_update(entity_ids)

    def never_written(self) -> set[str]:
        """Entities the source brought (learned as their rows were read) but never wrote."""
        return self.new - self.written


class _Writer:
    """Collects the facts of one source into batches; a relation waits until both its ends exist."""

    def __init__(
        self,
        store: GraphStore,
        job: str,
        present: _Present,
        quarantine: _Quarantine,
        report: FileReport,
        batch_size: int,
        ctx: Context,
        texts: _Texts | None,
        candidates: dict[str, list[Relation]],
    ) -> None:
        self.store, self.job, self.present = store, job, present
        self.quarantine, self.report, self.batch_size = quarantine, report, batch_size
        self.ctx, self.texts, self.candidates = ctx, texts, candidates
        self.entities: list[Entity] = []
        self.relations: list[Relation] = []
        self.waiting: dict[str, list[Relation]] = defaultdict(list)

    def _missing(self, relation: Relation) -> list[str]:
        return [end for end in (relation.source, relation.target) if end not in self.present]

    def place(self, relation: Relation) -> None:
        if missing := self._missing(relation):
            self.waiting[missing[0]].append(relation)
        else:
            self.relations.append(relation)

    def add(self, facts: Sequence[Entity | Relation]) -> None:
        """Queue a row's facts (the resolver learned its entities when the row was read)."""
        for fact in facts:
            if isinstance(fact, Entity):
                self.entities.append(fact)
                self.present.add(fact.id)
                for ready in [*self.waiting.pop(fact.id, []), *self.candidates.pop(fact.id, [])]:
                    self.place(ready)
        for fact in facts:
            if isinstance(fact, Relation):
                self.place(fact)

    def resume(self, committed: list[Sequence[Entity | Relation]]) -> None:
        """Rebuild the relations that still wait, from rows committed before an interruption."""
        self.present.update(f.id for facts in committed for f in facts if isinstance(f, Entity))
        for facts in committed:
            for fact in facts:
                if isinstance(fact, Relation) and self._missing(fact):
                    self.place(fact)

    def full(self) -> bool:
        return len(self.entities) + len(self.relations) >= self.batch_size

    def flush(self, after_line: int | None) -> None:
        """Write the batch, checkpoint after ``after_line`` (``None``: the file is done).

        The quarantine entries the checkpoint counts are made durable first.
        """
        words = 0
        if self.texts is not None:
            waiting = (r for group in self.waiting.values() for r in group)
            self.entities[:], brought, found, words = self.texts.enrich(
                self.entities, itertools.chain(self.relations, waiting), self.ctx
            )
            self.report.words += words
            self.entities += brought
            # what an earlier file of the run brought is written (each is written once a run)
            self.present.update(
                end for r in found for end in (r.source, r.target) if end in self.texts.brought
            )
            for relation in found:
                self.place(relation)
        self.quarantine.sync()
        batch = Batch(
            entities=tuple(self.entities),
            relations=tuple(self.relations),
            checkpoint=Checkpoint(
                job=self.job,
                position=DONE
                if after_line is None
                else _Resumed(after_line, self.quarantine.count).position(),
            ),
        )
        self.report.written += self.store.write(batch)
        # no row names an interaction, feedback or document: once written, their ids need not be
        # remembered (a file of two million interactions would otherwise hold all their ids)
        self.present.forget(
            e.id for e in self.entities if e.kind not in RESOLVED_KINDS and e.kind is not NodeKind.CANDIDATE
        )
        self.entities.clear()
        self.relations.clear()
        if words:  # the collector is paused while ingesting; extraction may leave reference cycles
            collect_young()

    def finish(self, file: str) -> None:
        for rel in (r for group in self.waiting.values() for r in group):
            if rel.type is RelType.SAME_AS:
                continue  # a look-alike whose own row was bad: nothing to review, nothing lost
            reason = f"{rel.type.value} {rel.source} -> {rel.target} dropped: an endpoint was never imported"
            self.quarantine.add(file, BadRow(_line_of(rel), reason))
        self.flush(None)


Convert = Callable[[Row, Context], list[Entity | Relation]]


class _RowPass:
    """The rows of one source, each converted once as it is read and written in batches.

    Rows stream from the file: memory holds a batch and the rows held back, never the file. A row
    naming something not known yet (it may be defined further down) is held back, and converted
    again at the end of the file, when every row of it is known; a checkpoint never passes it.
    """

    def __init__(
        self,
        name: str,
        rows: Iterable[Row | BadRow],
        convert: Convert,
        first: Context,
        writer: _Writer,
        threshold: int | None,
        lines: int = 0,
        suppression: Suppression | None = None,
    ) -> None:
        self.name, self.rows, self.convert = name, rows, convert
        self.suppression = suppression or Suppression(frozenset())
        self.first, self.writer, self.threshold = first, writer, threshold
        self.resolver, self.quarantine = first.resolver, writer.quarantine
        self.held: deque[Row] = deque()
        self.lines = lines
        """The file's lines (about its rows), for progress."""

    def run(self, resumed_after: int, on_rows: Callable[[str, int, int], None] | None) -> None:
        """Write the rows after ``resumed_after`` (0: all of them), then the rows held back."""
        report = self.writer.report
        committed: list[Sequence[Entity | Relation]] | None = []  # as first read, to learn again
        last = 0
        for item in self.rows:
            last = item.line
            report.rows += isinstance(item, Row)
            if item.line <= resumed_after:
                if isinstance(item, Row) and committed is not None:
                    self._again(item, committed)
                continue
            if committed is not None:  # the first row after the checkpoint
                self.writer.resume(committed)
                committed = None
            if isinstance(item, BadRow):
                self.quarantine.add(self.name, item)
            elif self._first(item):
                self._flush_if_full(item.line, on_rows)
        if committed is not None:
            self.writer.resume(committed)
        while self.held:
            facts = self._converted(self.held.popleft(), self.writer.ctx)
            if facts is not None:
                self.writer.add(facts)
                self._flush_if_full(last, on_rows)

    def _again(self, row: Row, committed: list[Sequence[Entity | Relation]]) -> None:
        """Learn a row committed before an interruption again, as it was learned when first read."""
        misses = self.first.misses
        again = _quiet(self.convert, row, self.first)
        if any(isinstance(f, Entity) and self.suppression.entity(f) for f in again):
            return  # an erased person's row: never written
        self.resolver.learn_all(again)
        if row.line in self.quarantine.lines:
            return  # held back, then bad on its second conversion: learned, never written
        if self.first.misses > misses:  # held back when first read: converted again at the end
            self.held.append(row)
            again = [fact for fact in again if isinstance(fact, Entity)]
        committed.append(again)

    def _first(self, row: Row) -> bool:
        """Convert a row as it is read; whether it went to the writer (else: bad, or held back)."""
        misses = self.first.misses
        facts = self._converted(row, self.first)
        if facts is None:
            return False
        _learn(facts, row, self.first, self.threshold, self.writer.candidates)
        if self.first.misses > misses:
            self.held.append(row)
            return False
        self.writer.add(facts)
        return True

    def _converted(self, row: Row, ctx: Context) -> list[Entity | Relation] | None:
        try:
            facts = self.convert(row, ctx)
        except REFUSED_ROW as exc:
            if self.suppression and self.suppression.cells(row.cells):
                self._suppressed(row.line)  # an erased person's row is not kept, not even as bad
                return None
            raw = json.dumps(row.cells, ensure_ascii=False)
            self.quarantine.add(self.name, BadRow(row.line, refusal(exc), raw))
            return None
        return self._unsuppressed(row, facts, ctx) if self.suppression else facts

    def _unsuppressed(
        self, row: Row, facts: list[Entity | Relation], ctx: Context
    ) -> list[Entity | Relation] | None:
        """A row's facts without erased people: none if the row is about one, else without links to them."""
        check = self.suppression
        if any(isinstance(f, Entity) and check.entity(f) for f in facts) or (
            ctx.file_kind in _ONE_PASS and any(isinstance(f, Relation) and check.relation(f) for f in facts)
        ):
            self._suppressed(row.line)
            return None
        kept = [f for f in facts if not (isinstance(f, Relation) and check.relation(f))]
        if len(kept) != len(facts):
            self._suppressed(row.line)
        return [check.scrubbed(f) for f in kept]

    def _suppressed(self, line: int) -> None:
        lines = self.writer.report.suppressed_lines
        at = bisect.bisect_left(lines, line)  # rows held back come again at the end: kept in order
        if at == len(lines) or lines[at] != line:
            lines.insert(at, line)

    def _flush_if_full(self, line: int, on_rows: Callable[[str, int, int], None] | None) -> None:
        if not self.writer.full():
            return
        # a resumed run reads the rows after the checkpoint again: the first row held back among them
        self.writer.flush(min(line, self.held[0].line - 1) if self.held else line)
        if on_rows:
            on_rows(self.name, self.writer.report.rows, max(self.lines - 1, self.writer.report.rows))


def ingest_records(
    store: GraphStore,
    name: str,
    scanned: Scanned,
    kind: str,
    read: Callable[[Scanned], Iterator[Row | BadRow]],
    convert: Convert,
    *,
    resolver: Resolver,
    quarantine_dir: Path,
    system: str,
    batch_size: int,
    texts: _Texts | None = None,
    on_rows: Callable[[str, int, int], None] | None = None,
    threshold: int = MATCH_THRESHOLD,
    key: str = "",
    phone_region: str = DEFAULT_REGION,
    suppression: Suppression | None = None,
) -> FileReport:
    """Ingest the records of one source (a file, ``scanned`` for its digest, streamed into rows by ``read``).

    ``on_rows(name, rows done, rows in all)`` is called after every batch written (a progress bar).
    ``key``: which source the user means (:func:`_files`); the same content under another key is
    another source.
    """
    started = time.perf_counter()
    digest = scanned.digest
    source = Entity(
        id=f"source:{name}@{digest}",
        kind=NodeKind.SOURCE,
        name=name,
        props={"file": name, "source_key": key, "file_kind": kind, "digest": digest},
        provenance=(
            Provenance(source_id=f"source:{name}@{digest}", extractor="ckn.ingest", extractor_version="1"),
        ),
    )
    if suppression:  # a file named after a person erased before: named as the erasure renamed it
        source = masked_source(source, suppression)
    source_id, name = source.id, source.name
    job = f"ingest:{source_id}"
    report = FileReport(name, kind, source_id=source_id, key=str(source.props["source_key"]))
    position = store.get_checkpoint(job)
    if position is not None and store.get_entity(source_id) is None:
        position = None  # the source was deleted since: ingest it again from the start
    quarantine_path = quarantine_dir / quarantine_name(source_id)
    if position == DONE:  # already ingested: say so, and still count its bad rows
        report.status = "unchanged"
        if quarantine_path.exists():
            lines = quarantine_path.read_text(encoding="utf-8").splitlines()
            report.quarantined = sum(1 for line in lines if line.strip())
        return report
    resumed = _Resumed.parse(position)
    report.status = "resumed" if resumed.line else "ingested"

    present = _Present(resolver)
    reviewed = kind not in _ONE_PASS
    first = Context(resolver, source_id, kind, system=system, lenient=reviewed, phone_region=phone_region)
    ctx = Context(
        resolver, source_id, kind, system=system, observed_at=first.observed_at, phone_region=phone_region
    )
    quarantine = _Quarantine(quarantine_path, resumed, suppression)
    if resumed.line and resumed.quarantined != quarantine.count:  # the file was rewritten: recount
        at = _Resumed(resumed.line, quarantine.count).position()
        store.write(Batch(checkpoint=Checkpoint(job=job, position=at)))
    candidates: dict[str, list[Relation]] = {}
    writer = _Writer(store, job, present, quarantine, report, batch_size, ctx, texts, candidates)
    try:
        writer.add([source])
        rows = _RowPass(
            name,
            read(scanned),
            convert,
            first,
            writer,
            threshold if reviewed else None,
            scanned.lines,
            suppression or Suppression(frozenset()),
        )
        rows.run(resumed.line, on_rows)
        writer.add([source.model_copy(update={"props": {**source.props, "rows": report.rows}})])
        writer.finish(name)
    finally:
        quarantine.close()
        for never_written in present.never_written():  # learned ahead, and their rows were bad
            resolver.forget(never_written)
    report.quarantined = quarantine.count
    report.seconds = time.perf_counter() - started
    log.info(
        "%s: %d rows, %s, %d quarantined, %d suppressed",
        name,
        report.rows,
        report.written,
        report.quarantined,
        report.suppressed,
    )
    return report


_ONE_PASS = frozenset({"interactions", "feedback"})
"""Files whose rows never name another row of the same file, nor anyone to review as a duplicate:
each row is converted once, strictly, and an unknown reference is a bad row at once. They are the
largest files (millions of rows)."""


def _learn(
    facts: Sequence[Entity | Relation],
    row: Row,
    ctx: Context,
    threshold: int | None,
    candidates: dict[str, list[Relation]],
) -> None:
    """Learn a row's entities as soon as it is read, so the rows after it resolve onto them.

    With a ``threshold``, an entity seen for the first time gets its look-alike candidates first:
    people already in the store or earlier in the file with a similar name (see :mod:`ingest.review`).
    """
    resolver = ctx.resolver
    for fact in facts:
        if isinstance(fact, Entity):
            if threshold is not None and fact.id not in resolver.known:
                candidates[fact.id] = review_candidates(resolver, fact, ctx.prov(row), threshold)
            resolver.learn(fact)


def _quiet(convert: Convert, row: Row, ctx: Context) -> list[Entity | Relation]:
    try:
        return convert(row, ctx)
    except REFUSED_ROW:  # quarantined when first read
        return []
