"""The benchmark harness reports what it measured, honestly (figures come from `make bench`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import spacy
from typer.testing import CliRunner

from ckn.api.cli import app
from ckn.bench.analysis_bench import COMMUNITY, synthetic_edges
from ckn.bench.common import line
from ckn.bench.run import chart, table


def test_the_synthetic_network_has_unique_edges_and_community_structure() -> None:
    edges = synthetic_edges(2_000)
    assert len(np.unique(edges, axis=0)) == len(edges) and (edges[:, 0] < edges[:, 1]).all()
    inside = (edges[:, 0] // COMMUNITY == edges[:, 1] // COMMUNITY).mean()
    assert inside > 0.75  # most ties stay within a community
    assert 9 * 2_000 < len(edges) < 11 * 2_000  # about ten per node, as at a million edges


def test_the_table_and_chart_say_pass_or_miss_per_line(tmp_path: Path) -> None:
    results = {
        "scale": "tiny",
        "pairs": 5,
        "seconds": 3,
        "versions": {"python": "3.11"},
        "lines": [
            line("PageRank", "ckn 0.3 s", "igraph 0.25 s", 1.2, "<= 1.5x igraph (time)", True),
            line("structured ingest", "2,000 rows/s", "bare 200,000 rows/s", 100.0, "<= 2.0x", False),
            line("store on disk", "700 MB", "-", None, "reported", True),
        ],
    }
    rows = table(results).splitlines()
    assert rows[-3].endswith("| <= 1.5x igraph (time) | pass |")
    assert rows[-2].endswith("| <= 2.0x | MISS |") and "| 100.00 |" in rows[-2]
    assert rows[-1].endswith("| reported | - |")
    chart(results, tmp_path / "results.png")
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_refuses_unknown_parts() -> None:
    result = CliRunner().invoke(app, ["bench", "--only", "everything"])
    assert result.exit_code == 2 and "unknown part(s) everything" in result.output


def _graph_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """The graph rows of a store database (without write times: a recording encodes them again)."""
    conn = sqlite3.connect(path)
    try:
        return {
            "entities": sorted(conn.execute("SELECT id, kind, name, props FROM entities")),
            "relations": sorted(conn.execute("SELECT id, type, source, target, key, props FROM relations")),
            "provenance": sorted(conn.execute("SELECT * FROM provenance")),
        }
    finally:
        conn.close()


def test_the_bare_write_reference_writes_exactly_the_rows_ckn_stored(tmp_path: Path) -> None:
    from ckn.bench.ingest_bench import Transaction, _bare_graph_write, _ingest

    transactions: list[Transaction] = []
    _ingest(
        Path(__file__).resolve().parents[2] / "ckn" / "ingest" / "samples" / "bundle",
        tmp_path / "ckn",
        transactions,
    )
    _bare_graph_write(transactions, tmp_path / "bare")

    stored = _graph_rows(tmp_path / "ckn" / "store" / "ckn.sqlite3")
    bare = _graph_rows(tmp_path / "bare" / "bare.sqlite3")
    assert stored == bare
    assert len(stored["relations"]) > 100


def test_the_text_floor_writes_what_the_text_ingest_stored_onto_the_same_master_data(tmp_path: Path) -> None:
    """The reference under the text target: the rows the text ingest added, written bare onto a copy
    of the master data, make the same tables as the ingest itself."""
    import shutil

    from ckn.bench.ingest_bench import STRUCTURED, Transaction, _bare_graph_write, _ingest, _open
    from ckn.ingest.pipeline import ingest_paths

    sample = Path(__file__).resolve().parents[2] / "ckn" / "ingest" / "samples" / "bundle"
    (tmp_path / "structured").mkdir()
    (tmp_path / "text").mkdir()
    for name in STRUCTURED:
        if (sample / name).exists():
            shutil.copy(sample / name, tmp_path / "structured" / name)
    shutil.copy(sample / "interactions.csv", tmp_path / "text" / "interactions.csv")
    _ingest(tmp_path / "structured", tmp_path / "master")
    shutil.copytree(tmp_path / "master", tmp_path / "ckn")
    stored: list[Transaction] = []
    store = _open(tmp_path / "ckn" / "store", stored)
    try:
        ingest_paths(store, [tmp_path / "text"], quarantine_dir=tmp_path / "q")
    finally:
        store.close()
    _bare_graph_write(stored, tmp_path / "bare", onto=tmp_path / "master" / "store" / "ckn.sqlite3")

    master = _graph_rows(tmp_path / "master" / "store" / "ckn.sqlite3")
    ingested = _graph_rows(tmp_path / "ckn" / "store" / "ckn.sqlite3")
    bare = _graph_rows(tmp_path / "bare" / "bare.sqlite3")
    assert ingested == bare
    assert len(ingested["relations"]) > len(master["relations"])  # the interactions brought their own


def test_the_benchmark_s_statistical_pipelines_load_as_configured_models_and_learn_what_ckn_finds(
    tmp_path: Path,
) -> None:
    """The stand-in for an installed model: a trained NER that ckn loads as ``CKN_SPACY_MODEL_*``."""
    from ckn.bench.ingest_bench import statistical_models
    from ckn.ingest.nlp import GAZETTEER, Gazetteer, TextAnalyzer, build_pipeline

    phones = ["+86 130-0006-0021", "0086 150 0008 4988", "+86 190-0002-7874", "+86 140-0009-5211"]
    texts = {
        "zh": [f"客户咨询校 准，已远程处理，回访电话{p}" for p in phones] * 10,
        "en": [f"Customer asked about calibration; call back on {p}." for p in phones] * 10,
    }
    found = TextAnalyzer(Gazetteer({}, {})).pipelines  # ckn's own patterns find the phones
    models = statistical_models(tmp_path, texts, found)

    for lang, path in models.items():
        nlp = build_pipeline(lang, path)
        assert nlp.pipe_names.index("ner") < nlp.pipe_names.index(GAZETTEER)
        learned = spacy.load(path)(texts[lang][0]).ents  # the model alone, without ckn's components
        assert [(e.text, e.label_) for e in learned] == [(phones[0], "PHONE")]
