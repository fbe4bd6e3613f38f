"""Shared fixtures: every test gets its own data dir; store tests run on SQLite and, when
AITRACK_TEST_DATABASE_URL is set, on PostgreSQL (each test in its own schema)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from aitrack.settings import Settings
from aitrack.store import open_store
from aitrack.tracker import Tracker

PG_URL = os.environ.get("AITRACK_TEST_DATABASE_URL")


@pytest.fixture(autouse=True)
def aitrack_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "aitrack-home"
    monkeypatch.setenv("AITRACK_HOME", str(home))
    for var in (
        "AITRACK_DATABASE_URL",
        "AI_OUTPUT_DIR",
        "AITRACK_LANE",
        "AI_MAX_SESSION_DURATION_HOURS",
        "AITRACK_IDLE_MINUTES",
    ):
        monkeypatch.delenv(var, raising=False)
    return home


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"  # type: ignore[operator]
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh, empty database URL for each backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "store.db")
        return
    if not PG_URL:
        pytest.skip("AITRACK_TEST_DATABASE_URL not set (make test sets it when PostgreSQL runs)")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield _pg_schema_url(schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def store(store_url: str):
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def tracker(store) -> Tracker:
    return Tracker(store, Settings())
