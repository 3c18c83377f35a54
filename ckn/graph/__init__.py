"""The graph core: domain model, the storage port and its embedded and Neo4j adapters."""
