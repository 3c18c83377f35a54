"""What only the embedded store promises: durability under kill -9, clear version errors, erasure
that leaves no bytes behind on disk."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ckn.graph.embedded_store import DB_FILE, SCHEMA_VERSION, EmbeddedStore
from ckn.graph.errors import StoreUnavailable, StoreVersionError
from ckn.graph.model import Batch, RelType
from tests.factories import assert_reads_dated_work_in_order, customer, dated_work, rel

ROOT = Path(__file__).resolve().parents[2]
BATCH = 400

WRITER = textwrap.dedent(
    f"""
    import sys
    sys.path.insert(0, {str(ROOT)!r})
    from ckn.graph.embedded_store import EmbeddedStore
    from ckn.graph.model import Batch, RelType
    from tests.factories import customer, rel

    store = EmbeddedStore(sys.argv[1])
    start = int(sys.argv[2])
    for i in range(start, start + 1000):
        people = tuple(customer(f"customer:{{i}}-{{j}}", f"客户 {{i}}-{{j}}", n=j) for j in range({BATCH}))
        links = tuple(rel(RelType.KNOWS, people[j].id, people[j + 1].id) for j in range({BATCH} - 1))
        store.write(Batch(entities=people, relations=links))
        print(f"ACK {{i}}", flush=True)
    """
)


def _write_until_killed(home: Path, start: int, acks_before_kill: int) -> list[int]:
    """Run a writer process, SIGKILL it after some acknowledged batches, return the acknowledged ones."""
    acked: list[int] = []
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home), str(start)], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            acked.append(int(line.split()[1]))
            if len(acked) >= acks_before_kill:
                proc.send_signal(signal.SIGKILL)  # very likely in the middle of the next batch
                break
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return acked


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_batch_and_leaves_no_partial_one(tmp_path: Path) -> None:
    home = tmp_path / "store"
    rng = random.Random(7)
    acknowledged: list[int] = []
    start = 0
    for _ in range(3):
        acked = _write_until_killed(home, start, rng.randint(2, 6))
        acknowledged += acked
        start = acked[-1] + 2  # the batch after the last ack may or may not have committed

        store = EmbeddedStore(home)  # reopens cleanly after the kill
        assert store._conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        per_batch: dict[str, int] = {}
        for (entity_id,) in store._conn.execute("SELECT id FROM entities"):
            batch = entity_id.split(":")[1].split("-")[0]
            per_batch[batch] = per_batch.get(batch, 0) + 1
        store.close()

        for i in acknowledged:
            assert per_batch.get(str(i)) == BATCH, f"acknowledged batch {i} is not all there"
        assert set(per_batch.values()) == {BATCH}, "a batch was written in part"


def test_a_store_from_a_newer_ckn_is_refused_with_what_to_do(tmp_path: Path) -> None:
    EmbeddedStore(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_FILE) as conn:
        conn.execute("UPDATE ckn_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))

    with pytest.raises(StoreVersionError, match=r"newer ckn .* upgrade ckn"):
        EmbeddedStore(tmp_path)


def test_a_database_that_is_not_a_ckn_store_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DB_FILE) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StoreVersionError, match="not a ckn store"):
        EmbeddedStore(tmp_path)


def test_reopening_keeps_everything(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    store.write(Batch(entities=(customer("customer:C1", "张伟"), customer("customer:C2"))))
    store.write(Batch(relations=(rel(RelType.REFERRED, "customer:C1", "customer:C2"),)))
    before = store.stats()
    store.close()

    again = EmbeddedStore(tmp_path)
    assert again.stats() == before
    assert again.paths("customer:C1", "customer:C2")[0].length == 1


def test_erasure_leaves_no_trace_in_the_files_on_disk(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    secret_name, secret_mail = "欧阳娜娜 Nana Ouyang", "nana.ouyang@private.example"
    people = [customer(f"customer:{i}", f"客户{i}", city="上海") for i in range(300)]
    target = customer("customer:nana", secret_name, email=secret_mail)
    store.write(Batch(entities=(*people, target)))
    store.write(Batch(relations=tuple(rel(RelType.KNOWS, "customer:nana", p.id) for p in people[:50])))

    store.erase_entity("customer:nana")
    store.scrub()
    store.close()

    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    for secret in (secret_name, secret_mail, "customer:nana"):
        assert secret.encode() not in raw, f"{secret!r} is still on disk"
    assert "客户299".encode() in raw  # the check looks at the real files


def test_a_traversal_does_not_wait_for_the_view_it_reads_the_indexes_while_the_view_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from ckn.graph.store import Limits

    store = EmbeddedStore(tmp_path, limits=Limits(time_budget_s=1.0))
    store.write(
        Batch(
            entities=(customer("customer:a"), customer("customer:b")),
            relations=(rel(RelType.REFERRED, "customer:a", "customer:b"),),
        )
    )
    store._view = None  # as after a restart or a write from another process
    slow = store._build_view

    def slow_build(conn):  # type: ignore[no-untyped-def]
        time.sleep(1.5)  # a large store: longer than the budget of one request
        return slow(conn)

    monkeypatch.setattr(store, "_build_view", slow_build)
    try:
        assert [p.nodes for p in store.paths("customer:a", "customer:b")] == [("customer:a", "customer:b")]
        assert store._view is None  # answered before the view was there
        store._view_building.join()  # type: ignore[union-attr]
        store.write(
            Batch(
                entities=(customer("customer:c"),),
                relations=(rel(RelType.REFERRED, "customer:b", "customer:c"),),
            )
        )
        assert [p.nodes for p in store.paths("customer:a", "customer:c")] == [
            ("customer:a", "customer:b", "customer:c")
        ]
        assert store._view is not None
    finally:
        store.close()


def test_a_commit_that_fails_behind_loses_only_its_batch_and_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EmbeddedStore(tmp_path / "store")
    commit = store._commit

    def disk_full_once(cur: sqlite3.Cursor) -> None:  # the way a commit fails: rolled back, raised
        monkeypatch.setattr(store, "_commit", commit)
        cur.execute("ROLLBACK")
        raise sqlite3.OperationalError("database or disk is full")

    with pytest.raises(StoreUnavailable, match="disk is full"), store.write_behind():
        store.write(Batch(entities=(customer("customer:1"), customer("customer:2"))))
        assert store.neighbourhood("customer:1").distances == {"customer:1": 0}  # the view is built
        monkeypatch.setattr(store, "_commit", disk_full_once)
        store.write(Batch(relations=(rel(RelType.KNOWS, "customer:1", "customer:2"),)))
        store.write(Batch(entities=(customer("customer:3"),)))  # hears of the failure, writes nothing
    with store.write_behind():  # the failure was told once; the block after it works
        store.write(Batch(entities=(customer("customer:4"),)))
    assert store.neighbourhood("customer:1").distances == {"customer:1": 0}  # the view dropped the lost edge
    assert sorted(store.stats().entities.values()) == [3]
    assert store.get_entity("customer:3") is None
    store.close()
    assert EmbeddedStore(tmp_path / "store").stats().relations == {}


def test_a_bulk_write_is_logged_as_one_and_whoever_reads_past_it_builds_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ckn.graph import changelog

    monkeypatch.setattr(changelog, "CHANGES_LISTED_AT_MOST", 3)
    store = EmbeddedStore(tmp_path)
    store.write(Batch(entities=(customer("customer:a"),)))
    before_bulk = store.graph_version()
    store.write(Batch(entities=tuple(customer(f"customer:b{n}") for n in range(5))))
    after_bulk = store.graph_version()
    store.write(Batch(entities=(customer("customer:c"),)))
    try:
        assert store.changes_since(before_bulk) is None
        changes = store.changes_since(after_bulk)
        assert changes is not None and changes.entities == {"customer:c"}
        logged = store._conn.execute("SELECT entities || relations FROM changes").fetchall()
        assert not any("customer:b" in row[0] for row in logged)  # the log stays small
    finally:
        store.close()


def test_a_store_written_before_full_text_search_has_its_texts_indexed_when_opened(tmp_path: Path) -> None:
    from ckn.graph.model import NodeKind
    from tests.factories import entity

    store = EmbeddedStore(tmp_path)
    notes = [
        entity(f"interaction:{n}", NodeKind.INTERACTION, f"拜访 {n}", notes="讨论了知識管理的流程")
        for n in range(3)
    ]
    store.write(Batch(entities=tuple(notes)))
    store.close()
    with sqlite3.connect(tmp_path / DB_FILE) as db:  # as format 3 left it
        db.execute("DROP TABLE search")
        db.execute("DROP TABLE search_rows")
        db.execute("DROP TABLE known")
        db.execute("DROP TABLE work_done")
        db.execute("DROP TABLE ahead")
        db.execute("DROP TABLE pieces")
        db.execute("UPDATE ckn_meta SET value = '3' WHERE key = 'schema_version'")
    store = EmbeddedStore(tmp_path)
    try:
        assert {h.id for h in store.search_text("知识管理", limit=10)} == {n.id for n in notes}
        assert store.search_text("拜访 2", limit=10)[0].id == "interaction:2"
    finally:
        store.close()


def test_a_store_written_before_pieces_were_kept_reads_the_strongest_in_order_once_migrated(
    tmp_path: Path,
) -> None:
    """Format 7 keeps each piece of evidence in the order of its weight; a store from before gets its
    rows when it is opened, and the strongest read from them are a colleague's newest and weightiest."""
    store = EmbeddedStore(tmp_path)
    batch = dated_work()
    store.write(batch)
    store.close()
    with sqlite3.connect(tmp_path / DB_FILE) as db:  # as format 6 left it
        db.execute("DROP TABLE pieces")
        db.execute("UPDATE ckn_meta SET value = '6' WHERE key = 'schema_version'")
    store = EmbeddedStore(tmp_path)
    try:
        rows = store._conn.execute("SELECT item, dated FROM pieces").fetchall()
        assert_reads_dated_work_in_order(store, [(item, bool(dated)) for item, dated in rows])
    finally:
        store.close()


def test_a_reader_that_keeps_the_log_busy_through_an_erasure_is_told_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scrub after an erasure cannot truncate a log another reader is still reading: it says so,
    and the next scrub does it."""
    from ckn.graph import embedded_store

    store = EmbeddedStore(tmp_path)
    store.write(Batch(entities=(customer("customer:nana", "欧阳娜娜", email="nana@private.example"),)))
    store.write(Batch(entities=tuple(customer(f"customer:{i}", f"客户{i}") for i in range(50))))
    reader = sqlite3.connect(tmp_path / "ckn.sqlite3")
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM entities").fetchone()  # a snapshot from before the erasure
    waits = tuple("busy_timeout = 200" if p.startswith("busy_timeout") else p for p in embedded_store.PRAGMAS)
    monkeypatch.setattr(embedded_store, "PRAGMAS", waits)
    store.erase_entity("customer:nana")

    assert store.scrub() is False

    reader.rollback()
    reader.close()
    assert store.scrub() is True
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert "欧阳娜娜".encode() not in raw and b"nana@private.example" not in raw
