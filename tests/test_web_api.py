"""The dashboard's REST API and pages, in-process through httpx.ASGITransport, over a store
seeded through the tracker (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from aitrack.settings import Settings
from aitrack.store import open_store
from aitrack.tracker import Tracker
from aitrack.web.app import create_app
from dashboard_seed import REPO_A, REPO_B, AsgiClient, seed

BASE = "http://127.0.0.1:8050"


@pytest.fixture
def seeded(store_url):
    store = open_store(store_url)
    tracker = Tracker(store, Settings())
    data = seed(tracker)
    store.close()
    return store_url, data


@pytest.fixture
def client(seeded):
    store_url, _ = seeded
    c = AsgiClient(create_app(store_url, Settings()), BASE)
    yield c
    c.close()


def _direct(store_url: str, sql: str, params=()):
    store = open_store(store_url)
    try:
        return store.db.query(sql, params)
    finally:
        store.close()


def test_overview_kpis_match_what_was_recorded(client, seeded):
    store_url, _ = seeded
    d = client.get("/api/v1/overview").json()
    k = d["kpis"]
    assert k["sessions"] == 6
    assert k["active_now"] == 1
    assert k["issues"] == 2
    calls = _direct(
        store_url,
        "SELECT count(*) AS n, sum(cost_usd) AS c, "
        "sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS u "
        "FROM api_calls WHERE session_id IS NOT NULL",
    )[0]
    assert k["api_calls"] == calls["n"] == 21
    assert k["unpriced_calls"] == calls["u"] == 4  # local-coder has no price
    assert k["api_cost_usd"] == pytest.approx(calls["c"], rel=1e-9)
    assert k["average_rating"] == pytest.approx((5 + 4 + 4) * 4 / 15 + (5 + 4 + 2) / 15, rel=1e-3)
    assert k["roi_multiplier"] > 1  # estimates exceed tracked time
    assert d["effectiveness"] == {"1": 0, "2": 1, "3": 0, "4": 9, "5": 5}


def test_overview_series_add_up_to_the_totals(client):
    d = client.get("/api/v1/overview").json()
    cost = sum(sum(v) for v in d["series"]["cost_by_model"].values())
    assert cost == pytest.approx(d["kpis"]["api_cost_usd"], rel=1e-9)
    outcomes = d["series"]["sessions_by_outcome"]
    assert sum(outcomes["success"]) == 3
    assert sum(outcomes["failed"]) == 1
    assert sum(outcomes["active"]) == 1
    assert len(d["buckets"]["labels"]) == 30  # one bar per local day
    assert {t["task_type"] for t in d["task_types"]} >= {"debugging", "testing"}
    assert [s["name"] for s in d["active_sessions"]] == ["Speed up search"]


def test_filters_change_every_figure(client):
    all_ = client.get("/api/v1/overview").json()["kpis"]
    a = client.get("/api/v1/overview", params={"repo": REPO_A}).json()["kpis"]
    b = client.get("/api/v1/overview", params={"repo": REPO_B}).json()["kpis"]
    assert a["sessions"] + b["sessions"] == all_["sessions"]
    assert a["api_calls"] + b["api_calls"] == all_["api_calls"]
    codex = client.get("/api/v1/overview", params={"agent": "codex"}).json()["kpis"]
    assert codex["sessions"] == 2
    today = client.get("/api/v1/overview", params={"period": "today"}).json()["kpis"]
    assert today["sessions"] == 1


def test_session_list_filters_sorts_and_pages(client):
    d = client.get("/api/v1/sessions").json()
    assert d["total"] == 6 and d["pages"] == 1
    assert d["sessions"][0]["name"] == "Speed up search"  # newest first
    by_cost = client.get("/api/v1/sessions", params={"sort": "cost", "order": "desc"}).json()
    costs = [s["cost_usd"] or 0 for s in by_cost["sessions"]]
    assert costs == sorted(costs, reverse=True)
    page2 = client.get("/api/v1/sessions", params={"per_page": 4, "page": 2}).json()
    assert page2["pages"] == 2 and len(page2["sessions"]) == 2
    found = client.get("/api/v1/sessions", params={"q": "refund"}).json()
    assert [s["name"] for s in found["sessions"]] == ["Add refund webhook"]
    assert found["sessions"][0]["tags"] == {"ticket": "PAY-42"}
    tagged = client.get("/api/v1/sessions", params={"tag": "ticket=PAY-42"}).json()
    assert tagged["total"] == 1
    failed = client.get("/api/v1/sessions", params={"outcome": "failed"}).json()
    assert [s["name"] for s in failed["sessions"]] == ["Investigate flaky test"]
    unpriced = [s for s in d["sessions"] if s["name"] == "Document the API"][0]
    assert unpriced["cost_usd"] is None and unpriced["unpriced_calls"] == 4


def test_session_detail_has_its_timeline_and_roi(client, seeded):
    _, data = seeded
    sid = data.sessions["Add refund webhook"]
    d = client.get(f"/api/v1/sessions/{sid[:12]}").json()
    assert d["id"] == sid
    assert len(d["interactions"]) == 3 and len(d["api_calls"]) == 4
    assert d["counts"]["api_calls"] == 4 and d["commit_count"] == 1
    kinds = {e["kind"] for e in d["timeline"]}
    assert {"start", "interaction", "api", "commit", "end"} <= kinds
    assert d["summary"]["roi"]["sessions"] == 1
    assert d["summary"]["api_cost_usd"] > 0
    assert d["usage_by_model"][0]["model"] == "claude-sonnet-4-5"
    limited = client.get(f"/api/v1/sessions/{sid}", params={"limit": 1}).json()
    assert len(limited["api_calls"]) == 1 and limited["counts"]["api_calls"] == 4


def test_models_repos_quality_budgets_and_pricing_answer(client):
    models = client.get("/api/v1/models").json()
    names = [m["model"] for m in models["models"]]
    assert set(names) == {"claude-sonnet-4-5", "gpt-5", "local-coder", "claude-opus-4-1"}
    assert [m["model"] for m in models["unpriced_models"]] == ["local-coder"]
    assert [m["model"] for m in models["outside_sessions"]] == ["gpt-5-mini"]
    assert models["totals"]["cache_hit_ratio"] > 0.5
    repos = client.get("/api/v1/repos").json()["repositories"]
    payments = next(r for r in repos if r["repo_path"] == REPO_A)
    assert payments["sessions"] == 3 and payments["commits"] == 3
    assert payments["lines_added"] == 20 + 21 + 24
    assert {b["branch"] for b in payments["branches"]} == {"main", "feat/refunds"}
    assert payments["cost_per_commit_usd"] is not None
    quality = client.get("/api/v1/quality").json()
    assert quality["issues_by_type"] == {"hallucination": 2}
    assert quality["worst_sessions"][0]["name"] == "Investigate flaky test"
    budgets = client.get("/api/v1/budgets").json()
    assert budgets["rules"] == [] and len(budgets["daily_spend"]["spend_usd"]) == 30
    pricing = client.get("/api/v1/pricing", params={"search": "sonnet"}).json()
    in_use = {p["model"]: p for p in pricing["in_use"]}
    assert in_use["local-coder"]["source"] == "unpriced"
    assert in_use["claude-sonnet-4-5"]["input_mtok"] == pytest.approx(3.0)
    assert in_use["claude-sonnet-4-5"]["cache_write_1h_mtok"] == pytest.approx(6.0)  # 2x input
    assert "gpt-5-mini" in in_use  # its one call is outside any session
    assert all(
        "sonnet" in m["model"] or "sonnet" in (m["name"] or "").lower()
        for m in pricing["catalog"]["models"]
    )


def test_month_projection_counts_calls_outside_sessions(client, seeded):
    store_url, _ = seeded
    month = client.get("/api/v1/overview").json()["month"]
    spent = _direct(
        store_url, "SELECT sum(cost_usd) AS c FROM api_calls WHERE ts >= ?", (month_start(),)
    )[0]["c"]
    assert month["spend_usd"] == pytest.approx(spent, abs=1e-4)
    assert month["projected_usd"] >= month["spend_usd"]


def month_start() -> int:
    from aitrack.clock import month_start_ms

    return month_start_ms()


def test_every_page_renders_html(client, seeded):
    _, data = seeded
    for path in (
        "/",
        "/sessions",
        "/models",
        "/repos",
        "/quality",
        "/budgets",
        "/pricing",
        f"/sessions/{data.active}",
        "/api/docs",
    ):
        r = client.get(path, headers={"accept": "text/html"})
        assert r.status_code == 200, path
        assert '<main id="content"' in r.text and "</html>" in r.text, path
    page = client.get("/").text
    assert 'class="mark' in page  # charts have drawn marks
    partial = client.get("/sessions", headers={"hx-request": "true", "hx-target": "content"})
    assert partial.text.lstrip().startswith('<main id="content"')
    assert "<html" not in partial.text


def test_exports_stream_csv_and_json(client):
    r = client.get("/api/v1/export", params={"format": "csv", "repo": REPO_B})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(row["name"] for row in rows) == sorted(
        ["Refactor checkout form", "Investigate flaky test", "Speed up search"]
    )
    j = client.get("/api/v1/export", params={"format": "json"}).json()
    assert j["format"] == "aitrack-export" and len(j["sessions"]) == 6
    assert len(j["unattached_api_calls"]) == 1


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/v1/nothing-here", 404, "not_found"),
        ("GET", "/api/v1/sessions/ZZZZZZZZZZZZ", 404, "not_found"),
        ("GET", "/api/v1/sessions?period=fortnight", 422, "invalid_request"),
        ("GET", "/api/v1/sessions?per_page=0", 422, "invalid_request"),
        ("GET", "/api/v1/overview?since=yesterday-ish", 422, "invalid_value"),
        ("GET", "/api/v1/overview?tz=Mars/Olympus", 422, "invalid_value"),
        ("DELETE", "/api/v1/sessions", 405, "method_not_allowed"),
        ("PUT", "/api/v1/overview", 405, "method_not_allowed"),
    ],
)
def test_every_error_has_one_json_shape(client, method, path, status, code):
    csrf = client.get("/api/v1/csrf").json()["csrf_token"]
    r = client.request(method, path, headers={"x-csrf-token": csrf})
    assert r.status_code == status
    body = r.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code and body["error"]["status"] == status
    assert body["error"]["message"]


def test_pages_answer_errors_in_html_for_browsers(client):
    r = client.get("/sessions/ZZZZZZZZZZZZ", headers={"accept": "text/html"})
    assert r.status_code == 404 and "<h1>404</h1>" in r.text
    r = client.get("/sessions/ZZZZZZZZZZZZ", headers={"accept": "application/json"})
    assert r.json()["error"]["code"] == "not_found"


def test_writes_end_tag_and_annotate_a_session(client, seeded):
    store_url, data = seeded
    csrf = {"x-csrf-token": client.get("/api/v1/csrf").json()["csrf_token"]}
    sid = data.active
    r = client.post(f"/api/v1/sessions/{sid}/tags", json={"tag": "team=core"}, headers=csrf)
    assert r.status_code == 200 and r.json()["session"]["tags"] == {"team": "core"}
    r = client.post(f"/api/v1/sessions/{sid}/notes", json={"message": "halfway"}, headers=csrf)
    assert r.status_code == 200
    r = client.post(f"/api/v1/sessions/{sid}/end", json={"outcome": "partial"}, headers=csrf)
    assert r.status_code == 200 and r.json()["session"]["outcome"] == "partial"
    again = client.post(f"/api/v1/sessions/{sid}/end", json={"outcome": "success"}, headers=csrf)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    bad = client.post(f"/api/v1/sessions/{sid}/end", json={"outcome": "great"}, headers=csrf)
    assert bad.status_code == 422
    row = _direct(store_url, "SELECT status, outcome FROM sessions WHERE id = ?", (sid,))[0]
    assert row == {"status": "completed", "outcome": "partial"}
    notes = _direct(store_url, "SELECT message FROM notes WHERE session_id = ?", (sid,))
    assert [n["message"] for n in notes] == ["halfway"]


def test_budgets_can_be_set_and_cleared(client):
    csrf = {"x-csrf-token": client.get("/api/v1/csrf").json()["csrf_token"]}
    r = client.post("/api/v1/budgets", json={"scope": "monthly", "amount_usd": 0.01}, headers=csrf)
    assert r.status_code == 200
    d = client.get("/api/v1/budgets").json()
    assert [(r["scope"], r["over"]) for r in d["rules"]] == [("monthly", True)]
    assert d["over_budget"] is True
    assert client.get("/api/v1/overview").json()["month"]["budget_usd"] == 0.01
    r = client.post("/api/v1/budgets/clear", json={"scope": "monthly"}, headers=csrf)
    assert r.json()["removed"] == 1
    assert client.get("/api/v1/budgets").json()["budgets"] == []


def test_live_marker_moves_when_another_process_writes(client, seeded):
    store_url, _ = seeded
    before = client.get("/api/v1/live").json()
    assert before["active_sessions"] == 1
    other = open_store(store_url)
    Tracker(other, Settings()).start_session("From elsewhere", lane="elsewhere")
    other.close()
    after = client.get("/api/v1/live").json()
    assert after["marker"] != before["marker"]
    assert after["active_sessions"] == 2


def test_openapi_documents_the_api(client):
    schema = client.get("/api/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/overview",
        "/api/v1/sessions",
        "/api/v1/sessions/{session_id}",
        "/api/v1/models",
        "/api/v1/repos",
        "/api/v1/quality",
        "/api/v1/budgets",
        "/api/v1/pricing",
        "/api/v1/export",
    ):
        assert "get" in paths[path], path
    params = {p["name"] for p in paths["/api/v1/sessions"]["get"]["parameters"]}
    assert {"period", "repo", "agent", "q", "page", "per_page", "sort", "order"} <= params
    assert json.dumps(schema)  # serialisable
