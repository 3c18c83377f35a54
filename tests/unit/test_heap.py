"""Bulk work pauses the cyclic garbage collector and hands it back as it found it."""

from __future__ import annotations

import gc
import threading

from ckn.graph.heap import collect_young, paused_gc, settle


def test_the_collector_is_paused_inside_and_back_on_after_the_last_block() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():  # nested (a projection inside an ingest)
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_someone_else_turned_off_stays_off() -> None:
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_blocks_in_two_threads_leave_the_collector_on_when_both_end() -> None:
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with paused_gc():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    with paused_gc():
        pass
    assert not gc.isenabled()  # the other thread's block is still open
    release.set()
    thread.join()
    assert gc.isenabled()


def test_an_error_inside_still_turns_the_collector_back_on() -> None:
    try:
        with paused_gc():
            raise ValueError("bad row")
    except ValueError:
        pass
    assert gc.isenabled()


def test_an_ingest_hands_the_collector_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ckn.graph.embedded_store import EmbeddedStore
    from ckn.ingest.pipeline import ingest_paths

    rows = "employee_id,name,hired_at\nE1,王芳,2024-03-01\nE2,Li Na,下周一\n"
    (tmp_path / "employees.csv").write_text(rows, encoding="utf-8")
    store = EmbeddedStore(tmp_path / "store")
    try:
        report = ingest_paths(store, [tmp_path / "employees.csv"], quarantine_dir=tmp_path / "q")
    finally:
        store.close()
    assert report.quarantined == 1  # the row with a date no one can read
    assert gc.isenabled()


def test_what_the_work_built_is_out_of_the_collectors_sight_after() -> None:
    """The next collections do not scan it again (seconds for a traversal view of millions of edges)."""
    before = gc.get_freeze_count()
    with paused_gc():
        built = [[f"edge {i}"] for i in range(1000)]  # lists are always tracked by the collector
    assert gc.get_freeze_count() >= before + len(built)


def test_what_is_settled_inside_a_block_is_not_scanned_by_the_young_collections_after_it() -> None:
    """The resolver's index, built first, is not looked at again by each batch's collection."""
    with paused_gc():
        index = [[f"customer:{i}"] for i in range(1000)]
        settle()
        batch = [["interaction"]]
        young = gc.get_objects(generation=0)
        assert any(o is batch for o in young)
        assert not any(o is index or o is index[0] for o in young)
        del young
        collect_young()
        assert index[0] == ["customer:0"]  # alive, only out of sight
