"""A property-based run of the dashboard's OpenAPI schema (schemathesis, in-process over ASGI):
whatever the parameters and bodies, no endpoint answers 5xx, and every API error has the one
JSON shape."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from aitrack.settings import Settings
from aitrack.store import open_store
from aitrack.tracker import Tracker
from aitrack.web.app import create_app
from dashboard_seed import seed

# schemathesis reads the schema when the module loads, so the app is built here, over its own
# seeded store in a temporary directory.
_DIR = Path(tempfile.mkdtemp(prefix="aitrack-schema-"))
atexit.register(shutil.rmtree, _DIR, True)
_store = open_store(str(_DIR / "store.db"))
SEEDED = seed(Tracker(_store, Settings()))
_store.close()
APP = create_app(str(_DIR / "store.db"), Settings(), allowed_hosts=("testserver",))
CSRF = APP.state.security.csrf_token
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_dashboard_fail(case):
    response = case.call(headers={"x-csrf-token": CSRF})
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400 and case.path.startswith("/api/"):
        error = response.json()["error"]
        assert set(error) >= {"code", "message", "status"}
        assert error["status"] == response.status_code
