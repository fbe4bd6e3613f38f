"""Who may read and change data through the dashboard: Host checks against DNS rebinding,
same-origin and CSRF checks on writes, and the token on non-loopback binds."""

from __future__ import annotations

import pytest

from aitrack.settings import Settings
from aitrack.store import open_store
from aitrack.tracker import Tracker
from aitrack.web.app import create_app
from dashboard_seed import AsgiClient


@pytest.fixture
def session_id(tmp_path):
    store = open_store(str(tmp_path / "s.db"))
    sid = Tracker(store, Settings()).start_session("Guarded", lane="guarded")[0]["id"]
    store.close()
    return sid


def _app(tmp_path, **kwargs):
    return create_app(str(tmp_path / "s.db"), Settings(), **kwargs)


@pytest.fixture
def local(tmp_path, session_id):
    c = AsgiClient(_app(tmp_path), "http://127.0.0.1:8050")
    yield c
    c.close()


def _csrf(client) -> dict[str, str]:
    return {"x-csrf-token": client.get("/api/v1/csrf").json()["csrf_token"]}


def _status(tmp_path, sid: str) -> str:
    store = open_store(str(tmp_path / "s.db"))
    try:
        return store.db.scalar("SELECT status FROM sessions WHERE id = ?", (sid,))
    finally:
        store.close()


@pytest.mark.parametrize("host", ["127.0.0.1:8050", "localhost:8050", "[::1]:8050", "localhost"])
def test_loopback_names_are_served(local, host):
    assert local.get("/api/v1/live", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example:8050", "attacker.test", "192.168.1.20:8050", ""])
def test_other_host_headers_are_refused_so_dns_rebinding_fails(local, host):
    r = local.get("/api/v1/sessions", headers={"host": host})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "bad_host"


def test_a_write_without_the_csrf_token_is_refused(local, tmp_path, session_id):
    r = local.post(f"/api/v1/sessions/{session_id}/end", json={"outcome": "success"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    r = local.post(
        f"/api/v1/sessions/{session_id}/end",
        json={"outcome": "success"},
        headers={"x-csrf-token": "guessed"},
    )
    assert r.status_code == 403
    assert _status(tmp_path, session_id) == "active"


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://127.0.0.1:9999", "http://localhost:3000", "null"]
)
def test_a_write_from_another_origin_is_refused_even_with_the_token(
    local, tmp_path, session_id, origin
):
    headers = {**_csrf(local), "origin": origin}
    r = local.post(
        f"/api/v1/sessions/{session_id}/end", json={"outcome": "success"}, headers=headers
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "cross_origin"
    referer = {**_csrf(local), "referer": "https://evil.example/page"}
    r = local.post(
        f"/api/v1/sessions/{session_id}/end", json={"outcome": "success"}, headers=referer
    )
    assert r.status_code == 403
    assert _status(tmp_path, session_id) == "active"


def test_a_simple_cross_site_form_post_cannot_end_a_session(local, tmp_path, session_id):
    r = local.post(
        f"/api/v1/sessions/{session_id}/end",
        content=b"outcome=success",
        headers={
            "origin": "https://evil.example",
            "content-type": "application/x-www-form-urlencoded",
        },
    )
    assert r.status_code == 403
    assert _status(tmp_path, session_id) == "active"


def test_a_write_from_the_dashboard_itself_is_accepted(local, tmp_path, session_id):
    headers = {**_csrf(local), "origin": "http://127.0.0.1:8050"}
    r = local.post(
        f"/api/v1/sessions/{session_id}/end", json={"outcome": "success"}, headers=headers
    )
    assert r.status_code == 200
    assert _status(tmp_path, session_id) == "completed"


def test_reads_never_change_data(local, tmp_path, session_id):
    for path in (
        "/",
        "/sessions",
        f"/sessions/{session_id}",
        "/api/v1/overview",
        f"/api/v1/sessions/{session_id}",
        "/api/v1/budgets",
    ):
        assert local.get(path).status_code == 200
    assert local.get(f"/api/v1/sessions/{session_id}/end").status_code == 405
    assert _status(tmp_path, session_id) == "active"


def test_a_non_loopback_bind_generates_a_token_and_requires_it(tmp_path, session_id):
    app = _app(tmp_path, host="0.0.0.0")
    token = app.state.security.token
    assert token and len(token) >= 24
    c = AsgiClient(app, "http://10.1.2.3:8050")
    try:
        r = c.get("/api/v1/overview")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert c.get("/", headers={"accept": "text/html"}).status_code == 401
        assert c.get("/api/v1/overview", params={"token": "wrong"}).status_code == 401
        ok = c.get("/api/v1/overview", headers={"authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        assert c.get("/static/app.css").status_code == 200  # assets carry no data
    finally:
        c.close()


def test_the_token_in_the_url_becomes_a_strict_http_only_cookie(tmp_path, session_id):
    app = _app(tmp_path, host="0.0.0.0")
    token = app.state.security.token
    c = AsgiClient(app, "http://10.1.2.3:8050")
    try:
        r = c.get("/sessions", params={"token": token, "period": "7d"})
        assert r.status_code == 303
        assert r.headers["location"] == "/sessions?period=7d"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert c.get("/sessions?period=7d").status_code == 200  # the cookie is kept
    finally:
        c.close()


def test_a_bearer_token_authenticates_writes_without_csrf(tmp_path, session_id):
    app = _app(tmp_path, host="0.0.0.0", token="s3cret-token-for-tests")
    c = AsgiClient(app, "http://dashboard.team:8050")
    try:
        r = c.post(
            f"/api/v1/sessions/{session_id}/notes",
            json={"message": "from a script"},
            headers={"authorization": "Bearer s3cret-token-for-tests"},
        )
        assert r.status_code == 200
        r = c.post(
            f"/api/v1/sessions/{session_id}/notes",
            json={"message": "forged"},
            headers={"authorization": "Bearer nope"},
        )
        assert r.status_code == 401
    finally:
        c.close()


def test_a_loopback_bind_with_an_explicit_token_requires_it_too(tmp_path, session_id):
    c = AsgiClient(_app(tmp_path, token="local-token-123456"), "http://127.0.0.1:8050")
    try:
        assert c.get("/api/v1/overview").status_code == 401
        ok = c.get("/api/v1/overview", headers={"authorization": "Bearer local-token-123456"})
        assert ok.status_code == 200
    finally:
        c.close()


def test_a_named_bind_host_is_accepted_and_others_refused(tmp_path, session_id):
    c = AsgiClient(
        _app(tmp_path, host="192.168.1.20", token="t0ken-for-lan-tests"), "http://192.168.1.20:8050"
    )
    auth = {"authorization": "Bearer t0ken-for-lan-tests"}
    try:
        assert c.get("/api/v1/live", headers=auth).status_code == 200
        r = c.get("/api/v1/live", headers={**auth, "host": "rebound.example:8050"})
        assert r.status_code == 400
    finally:
        c.close()
