"""FastAPI dependencies shared by every route module."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ckn.graph.settings import Settings
from ckn.graph.store import GraphStore


def get_store(request: Request) -> GraphStore:
    """The store the app was built with."""
    store: GraphStore = request.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[GraphStore, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
