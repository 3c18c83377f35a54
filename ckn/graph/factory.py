"""The composition root of the storage layer: settings in, a store out."""

from __future__ import annotations

from ckn.graph.settings import Settings
from ckn.graph.store import GraphStore, Limits


def limits_from(settings: Settings) -> Limits:
    """The traversal caps the settings ask for."""
    return Limits(
        max_depth=settings.max_depth,
        max_page=settings.max_page,
        max_expansion=settings.max_expansion,
        time_budget_s=settings.time_budget_s,
    )


def open_store(settings: Settings) -> GraphStore:
    """Open the store the settings name; Neo4j's driver is imported only when it is asked for."""
    if settings.store == "neo4j":
        from ckn.graph.neo4j_store import Neo4jStore

        assert settings.neo4j_password is not None  # Settings refuses neo4j without one
        return Neo4jStore(
            settings.neo4j_uri,
            settings.neo4j_user,
            settings.neo4j_password.get_secret_value(),
            database=settings.neo4j_database,
            timeout_s=settings.neo4j_timeout_s,
            connect_timeout_s=settings.neo4j_connect_timeout_s,
            limits=limits_from(settings),
            lock_lease_s=settings.neo4j_lock_lease_s,
        )
    from ckn.graph.embedded_store import EmbeddedStore

    return EmbeddedStore(settings.home, limits=limits_from(settings))
