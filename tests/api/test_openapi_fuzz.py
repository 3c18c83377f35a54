"""The API's answers, whatever schemathesis sends, keep to its OpenAPI document (every store).

Every operation is called with requests generated from the document; each answer must be no server
error and must match the status codes, content types and schema the document declares for it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ckn.api.app import create_app
from ckn.api.demo import load_sample
from ckn.graph.settings import Settings
from ckn.graph.store import GraphStore

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.slow
def test_every_answer_keeps_to_the_openapi_document(store: GraphStore, tmp_path: Path) -> None:
    load_sample(store, tmp_path / "quarantine")
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(Settings(home=tmp_path), store=store))
    broken: dict[str, str] = {}
    for found in schema.get_all_operations():
        operation = found.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(checks=CHECKS)

        try:
            call()
        except Exception as exc:  # every operation is tried, all failures reported together
            broken[f"{operation.method.upper()} {operation.path}"] = str(exc)[:2000]
    assert broken == {}
