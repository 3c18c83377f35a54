"""The production path the README promises: docker compose with Neo4j 5.26 and the API on it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_neo4j_5_26_with_a_volume_and_a_healthcheck_and_the_api_on_it() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    neo4j, api = compose["services"]["neo4j"], compose["services"]["api"]

    assert neo4j["image"] == "neo4j:5.26-community"
    assert "healthcheck" in neo4j and any(v.endswith(":/data") for v in neo4j["volumes"])
    assert api["environment"]["CKN_STORE"] == "neo4j"
    assert api["environment"]["CKN_NEO4J_URI"] == "neo4j://neo4j:7687"
    assert api["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert api["ports"] == ["127.0.0.1:8000-8001:8000"]  # `--scale api=2`: a host port a replica
    assert (ROOT / "Dockerfile").read_text(encoding="utf-8").count("requirements.lock") == 2


def test_compose_and_the_test_server_group_relationships_alike() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    grouping = compose["services"]["neo4j"]["environment"]["NEO4J_db_relationship__grouping__threshold"]
    sys.path.insert(0, str(ROOT / "scripts"))
    import neo4j_dev

    assert int(grouping) == neo4j_dev.RELATIONSHIP_GROUPING < 50  # Neo4j's default: 50


def test_the_neo4j_test_server_is_the_5_26_lts_line() -> None:
    pom = (ROOT / "scripts" / "neo4j" / "pom.xml").read_text(encoding="utf-8")
    assert "<neo4j.version>5.26." in pom


def test_the_package_installs_one_top_level_name_with_its_sample(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("ckn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"ckn"}
    assert "ckn/ingest/samples/bundle/customers.csv" in names  # `ckn demo` works from an install
