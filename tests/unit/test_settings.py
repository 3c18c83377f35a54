"""Settings fail at start-up, clearly; the README documents every setting and command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ckn.graph.errors import ConfigError
from ckn.graph.settings import Settings, load_settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_defaults_need_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("CKN_"):
            monkeypatch.delenv(name)
    settings = load_settings()
    assert settings.store == "embedded"
    assert settings.max_depth == 6


def test_an_unknown_setting_is_an_error_that_lists_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKN_STOER", "neo4j")
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) CKN_STOER; known: .*CKN_STORE"):
        load_settings()


def test_neo4j_without_a_password_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKN_STORE", "neo4j")
    monkeypatch.delenv("CKN_NEO4J_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="CKN_NEO4J_PASSWORD is required"):
        load_settings()


def test_a_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CKN_MAX_DEPTH", "50")
    with pytest.raises(ConfigError, match="CKN_MAX_DEPTH"):
        load_settings()
    monkeypatch.setenv("CKN_MAX_DEPTH", "3")
    monkeypatch.setenv("CKN_STORE", "mysql")
    with pytest.raises(ConfigError, match="CKN_STORE"):
        load_settings()


def test_every_setting_is_documented_in_the_readme() -> None:
    for name in Settings.model_fields:
        assert f"`CKN_{name.upper()}`" in README, f"CKN_{name.upper()} is missing from the README"


def test_every_cli_command_is_documented_in_the_readme() -> None:
    from ckn.api.cli import app

    commands = {c.name or c.callback.__name__ for c in app.registered_commands}  # type: ignore[union-attr]
    documented = set(re.findall(r"`ckn ([a-z-]+)", README))
    assert commands <= documented, f"undocumented: {sorted(commands - documented)}"
