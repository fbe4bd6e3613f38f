"""Team mode: local stores sync into a shared database idempotently."""

from __future__ import annotations

import pytest

from aitrack import usage
from aitrack.settings import Settings
from aitrack.store import open_store
from aitrack.store.sync import sync
from aitrack.tracker import Tracker


def _count(store, table: str) -> int:
    return store.db.scalar(f"SELECT count(*) FROM {table}")


def test_two_machines_sync_into_one_shared_store_without_duplicates(tmp_path, store_url):
    shared = open_store(store_url)
    laptops = []
    for name in ("ana", "bo"):
        local = Tracker(open_store(str(tmp_path / f"{name}.db")), Settings())
        s, _ = local.start_session(f"{name}'s task", developer=name, tags={"team": "web"})
        local.log_interaction(s["id"], "p", "r", 4)
        local.flag_issue(s["id"], "wrong_api", "d", "low")
        run = local.open_run(s["id"], prompt="go")
        local.record_tool_call(s["id"], "Edit", run_id=run["id"])
        usage.record_api_call(
            local,
            model="gpt-5",
            source="manual",
            session_id=s["id"],
            input_tokens=100,
            output_tokens=10,
        )
        laptops.append((local, s["id"]))
    for local, _ in laptops:
        sync(local.store.db, shared.db)
    assert _count(shared, "sessions") == 2
    # both laptops used the default 'background' lane: both stay active in the shared store
    assert shared.db.scalar("SELECT count(*) FROM sessions WHERE status = 'active'") == 2
    for table in ("interactions", "issues", "runs", "tool_calls", "api_calls"):
        assert _count(shared, table) == 2, table
    assert _count(shared, "tags") == 2

    # a second sync adds nothing; new work and a status change arrive
    local, sid = laptops[0]
    for local_, _ in laptops:
        sync(local_.store.db, shared.db)
    assert _count(shared, "interactions") == 2
    local.log_interaction(sid, "p2", "r2", 5)
    local.end_session(sid, "success")
    sync(local.store.db, shared.db)
    assert _count(shared, "interactions") == 3
    row = shared.records.get_session(sid)
    assert row["status"] == "completed" and row["interaction_count"] == 2

    # a laptop that lost its watermarks pushes everything again: the calls, which have no
    # other key than their ids here, are not stored twice (a SQLite target indexes the ids)
    local.store.db.execute("DELETE FROM sync_state")
    sync(local.store.db, shared.db)
    for table in ("tool_calls", "api_calls"):
        assert _count(shared, table) == 2, table
    shared.close()


def test_sync_from_a_postgres_source_is_refused(tmp_path, store_url):
    source = open_store(store_url)
    if source.db.dialect == "sqlite":
        pytest.skip("only a non-SQLite source is refused")
    from aitrack.errors import StoreError

    with pytest.raises(StoreError, match="local SQLite"):
        sync(source.db, open_store(str(tmp_path / "x.db")).db)


def test_the_sync_command_reports_rows_sent_and_needs_a_target(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from aitrack.cli.main import cli

    monkeypatch.delenv("AITRACK_TEAM_DATABASE_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(cli, ["start", "shared work"]).exit_code == 0
    missing = runner.invoke(cli, ["sync"])
    assert missing.exit_code == 2 and "--to" in missing.output
    target = tmp_path / "team.db"
    result = runner.invoke(cli, ["sync", "--to", str(target), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["data"]["rows"]["sessions"] == 1
    assert open_store(str(target)).records.active_sessions()[0]["name"] == "shared work"
