"""All of ckn's settings, in one class, read from ``CKN_*`` environment variables.

Every field is documented here and in the README's configuration reference (a test checks that the two
agree). Settings are validated when the program starts: an unknown ``CKN_`` variable, an unknown store
or Neo4j without a password is an error, never a silent default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ckn.graph.errors import ConfigError

ENV_PREFIX = "CKN_"


def _default_home() -> Path:
    return Path(user_data_dir("ckn", appauthor=False))


class Settings(BaseSettings):
    """ckn's configuration (environment variables ``CKN_<FIELD>``, or CLI flags)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    store: Literal["embedded", "neo4j"] = Field(
        default="embedded", description="Which graph store to use: `embedded` (default) or `neo4j`."
    )
    home: Path = Field(
        default_factory=_default_home,
        description="Data directory of the embedded store (default: the user's data dir, e.g. "
        "`~/.local/share/ckn`).",
    )
    neo4j_uri: str = Field(default="neo4j://localhost:7687", description="Bolt URI of the Neo4j server.")
    neo4j_user: str = Field(default="neo4j", description="Neo4j user name.")
    neo4j_password: SecretStr | None = Field(
        default=None, description="Neo4j password; required when `store` is `neo4j`."
    )
    neo4j_database: str = Field(default="neo4j", description="Neo4j database name.")
    neo4j_timeout_s: float = Field(
        default=30.0, gt=0, description="Timeout of one Neo4j transaction, in seconds."
    )
    neo4j_connect_timeout_s: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="Seconds to connect to Neo4j: how soon a request meets an outage (a 503 with "
        "Retry-After; later requests get it at once until Neo4j answers).",
    )
    neo4j_lock_lease_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds an ingest's write lock on Neo4j outlives its last renewal (renewed every "
        "quarter of it): how long an ingest killed with kill -9 blocks the next one.",
    )
    batch_size: int = Field(default=20_000, ge=1, le=100_000, description="Facts written per transaction.")
    max_depth: int = Field(default=6, ge=1, le=10, description="Deepest traversal any query may ask for.")
    max_page: int = Field(default=1000, ge=1, description="Largest page any list may return.")
    spacy_model_zh: str | None = Field(
        default=None,
        description="A statistical spaCy pipeline (package name or path) for Chinese text; its entities add"
        " to ckn's own extraction.",
    )
    spacy_model_en: str | None = Field(
        default=None, description="A statistical spaCy pipeline (package name or path) for English text."
    )
    match_threshold: int = Field(
        default=90,
        ge=50,
        le=100,
        description="Least name similarity (0-100) that puts two people on the review list.",
    )
    expertise_half_life_days: float = Field(
        default=365.0, gt=0, description="Days after which a piece of evidence of expertise counts half."
    )
    nlp_batch_size: int = Field(default=64, ge=1, description="Texts per `nlp.pipe` batch.")
    nlp_processes: int = Field(default=1, ge=1, description="Processes `nlp.pipe` uses (`n_process`).")
    discover: bool = Field(
        default=True,
        description="Discover topics, people and organisations in long texts (documents, long notes and"
        " feedback), beyond what master data names.",
    )
    write_lock_wait_s: float = Field(
        default=600.0,
        ge=0,
        description="Seconds an ingest waits for another one writing to the same store before it gives up.",
    )
    phone_region: str = Field(
        default="CN",
        pattern=r"^[A-Z]{2}$",
        description="Region (ISO 3166 code) of phone numbers written without a country code, unless the "
        "row's country or city column says otherwise.",
    )
    jwt_issuer: str | None = Field(
        default=None, description="Issuer (`iss`) of the identity provider's bearer tokens (JWT)."
    )
    jwt_audience: str | None = Field(default=None, description="Audience (`aud`) those tokens must name.")
    jwks_url: str | None = Field(
        default=None,
        description="URL of the identity provider's signing keys (JWKS); with the issuer and audience "
        "set, its tokens are accepted beside API keys.",
    )
    jwt_role_claim: str = Field(
        default="ckn_role", description="Claim of a token that names its ckn role (a role, or a list)."
    )
    rate_limit_per_minute: int = Field(
        default=600,
        ge=1,
        description="Requests one API key may make per minute (then 429 with Retry-After).",
    )
    replace_max_share: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="Largest share of a source's facts that `ingest --replace` deletes without `--yes`.",
    )
    time_budget_s: float = Field(
        default=10.0, gt=0, description="Seconds one traversal or answer may take before it stops (422)."
    )
    max_expansion: int = Field(
        default=200_000, ge=1, description="Relationships one traversal may look at before it stops."
    )

    @model_validator(mode="after")
    def _neo4j_needs_password(self) -> Settings:
        if self.store == "neo4j" and not (self.neo4j_password and self.neo4j_password.get_secret_value()):
            raise ValueError("CKN_NEO4J_PASSWORD is required when CKN_STORE=neo4j")
        return self


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, apply overrides (e.g. CLI flags) and validate them.

    Raises:
        ConfigError: an unknown ``CKN_`` variable, or an invalid or missing value.

    """
    known = {f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields}
    unknown = sorted(k for k in os.environ if k.upper().startswith(ENV_PREFIX) and k.upper() not in known)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            (f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper()}: " if e["loc"] else "")
            + str(e["msg"]).removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
