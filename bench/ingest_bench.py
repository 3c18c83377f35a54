"""Ingest throughput against bare references on the same data, driver and database.

- structured ingest (employees, products, topics, customers with their HubSpot and vCard duplicates)
  into the embedded store, against a bare batched write of the same rows with the same driver
  (``sqlite3``, WAL, ``synchronous=FULL``, one transaction per batch of the same size);
- text ingest (interactions with their subjects and notes, extraction included) in words/s, against a
  bare ``nlp.pipe`` of the same texts through the same blank pipelines.
"""

from __future__ import annotations

import csv
import itertools
import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import spacy

from bench.common import alternate, timed
from graph.embedded_store import EmbeddedStore
from ingest.generate import generate
from ingest.nlp import language_of
from ingest.pipeline import ingest_paths

STRUCTURED = [
    "topics.csv",
    "products.csv",
    "employees.csv",
    "customers.csv",
    "hubspot_contacts.csv",
    "contacts.vcf",
]
BATCH = 1000
"""Rows per transaction of the bare write (ckn writes 5,000 facts, about 1,000 rows, per transaction)."""


def _raw_rows(bundle: Path, names: list[str]) -> list[tuple[str, str]]:
    rows = []
    for name in names:
        path = bundle / name
        if path.suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as handle:
                rows += [(name, json.dumps(r, ensure_ascii=False)) for r in csv.reader(handle)]
        else:
            rows += [(name, card) for card in path.read_text(encoding="utf-8").split("END:VCARD")]
    return rows


def _bare_write(rows: list[tuple[str, str]], folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    conn = sqlite3.connect(folder / "bare.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, file TEXT, data TEXT)")
    for start in range(0, len(rows), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO rows (file, data) VALUES (?, ?)", rows[start : start + BATCH])
        conn.execute("COMMIT")
    conn.close()


def _ingest(bundle: Path, folder: Path) -> dict[str, Any]:
    shutil.rmtree(folder, ignore_errors=True)
    store = EmbeddedStore(folder / "store")
    try:
        report = ingest_paths(store, [bundle], quarantine_dir=folder / "q")
    finally:
        store.close()
    return {"rows": sum(f.rows for f in report.files), "words": sum(f.words for f in report.files)}


TEXT_ROWS = 10_000
"""Interactions in the text benchmark (the first ones of the bundle: all of them at ``small``)."""


def _texts(interactions: Path) -> list[str]:
    with interactions.open(encoding="utf-8", newline="") as handle:
        return ["\n".join(filter(None, [r["subject"], r["notes"]])) for r in csv.DictReader(handle)]


def prepare(scale: str, work: Path) -> tuple[Path, Path]:
    """The generated bundle of ``scale`` (made once) and a folder with only its structured files."""
    bundle = work / f"bundle-{scale}"
    if not (bundle / "truth.json").exists():
        generate(bundle, scale=scale, seed=7)
    structured = work / f"structured-{scale}"
    structured.mkdir(parents=True, exist_ok=True)
    for name in STRUCTURED:
        shutil.copy(bundle / name, structured / name)
    return bundle, structured


def run_ingest_benchmarks(bundle: Path, structured: Path, pairs: int, work: Path) -> list[dict[str, Any]]:
    """Structured and text ingest into the embedded store, against their bare references."""
    rows = _raw_rows(bundle, STRUCTURED)
    counted: dict[str, Any] = {}

    def subject() -> float:
        return timed(lambda: counted.update(_ingest(structured, work / "run")))

    ingest_s, bare_s = alternate(subject, lambda: timed(lambda: _bare_write(rows, work / "bare")), pairs)
    lines = [
        {
            "name": f"structured ingest ({counted['rows']:,} rows), embedded store",
            "subject": f"{counted['rows'] / ingest_s:,.0f} rows/s",
            "reference": f"bare batched SQLite write {len(rows) / bare_s:,.0f} rows/s",
            "ratio": ingest_s / bare_s,
            "target": "<= 2.0x the bare write (time)",
            "pass": ingest_s / bare_s <= 2.0,
        }
    ]

    text_only = work / "text"
    text_only.mkdir(exist_ok=True)
    with (
        (bundle / "interactions.csv").open(encoding="utf-8", newline="") as source,
        (text_only / "interactions.csv").open("w", encoding="utf-8", newline="") as sliced,
    ):
        csv.writer(sliced).writerows(itertools.islice(csv.reader(source), TEXT_ROWS + 1))
    texts = _texts(text_only / "interactions.csv")
    blank = {
        "zh": spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}}),
        "en": spacy.blank("en"),
    }
    by_language = {lang: [t for t in texts if language_of(t) == lang] for lang in blank}
    words = {"n": 0}

    def bare_pipe() -> float:
        def run() -> None:
            n = 0
            for lang, nlp in blank.items():
                for doc in nlp.pipe(by_language[lang], batch_size=64):
                    n += sum(1 for t in doc if not t.is_space and not t.is_punct)
            words["n"] = n

        return timed(run)

    def text_ingest() -> float:
        # the master data first (not timed), then only the text-bearing file
        shutil.rmtree(work / "text-run", ignore_errors=True)
        store = EmbeddedStore(work / "text-run" / "store")
        try:
            ingest_paths(store, [structured], quarantine_dir=work / "text-run" / "q")  # not timed
            started = time.perf_counter()
            report = ingest_paths(store, [text_only], quarantine_dir=work / "text-run" / "q")
            counted["text_words"] = sum(f.words for f in report.files)
            return time.perf_counter() - started
        finally:
            store.close()

    text_s, pipe_s = alternate(text_ingest, bare_pipe, pairs)
    ingest_wps, pipe_wps = counted["text_words"] / text_s, words["n"] / pipe_s
    lines.append(
        {
            "name": f"text ingest ({len(texts):,} interactions, zh + en), embedded store",
            "subject": f"{ingest_wps:,.0f} words/s",
            "reference": f"bare nlp.pipe {pipe_wps:,.0f} words/s",
            "ratio": ingest_wps / pipe_wps,
            "target": ">= 0.7x bare nlp.pipe (speed)",
            "pass": ingest_wps / pipe_wps >= 0.7,
        }
    )
    return lines
