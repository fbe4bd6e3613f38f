"""Screenshots of every dashboard page, light and dark, into docs/screenshots/, taken by the
system Chromium (Playwright) over realistic demo data: a team of ten over 60 days.

    .venv/bin/python bench/screenshots.py [--out docs/screenshots] [--keep /tmp/demo.db]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from aitrack.settings import Settings  # noqa: E402
from demo_data import fill  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ("overview", "/"),
    ("sessions", "/sessions"),
    ("session", None),  # one session's detail, picked below
    ("models", "/models"),
    ("repos", "/repos"),
    ("quality", "/quality"),
    ("budgets", "/budgets"),
    ("pricing", "/pricing?search=claude-sonnet"),
]


def build(path: Path) -> None:
    from aitrack import budgets
    from aitrack.clock import now_ms
    from aitrack.store import open_store
    from aitrack.store.spend import SpendRecords
    from aitrack.tracker import Tracker

    fill(path, sessions=2_400, interactions=26_000, api_calls=60_000, days=60, active=3, seed=11)
    store = open_store(str(path))
    tracker = Tracker(store, Settings())
    budgets.set_budgets(tracker, {"daily": 60.0, "monthly": 1200.0})
    budgets.set_budgets(tracker, {"monthly": 300.0}, "/home/dev/src/payments-api", enforce=True)
    with store.db.transaction():
        SpendRecords(store.db).set_user_price(
            {
                "model": "gpt-5-mini",
                "provider": "openai",
                "input_mtok": 0.2,
                "output_mtok": 1.6,
                "cache_read_mtok": 0.02,
                "cache_write_mtok": None,
                "updated_at": now_ms(),
            }
        )
    store.close()


def shoot(db: Path, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from aitrack.web.app import serve

    handle = serve("127.0.0.1", 0, in_thread=True, store_url=str(db), settings=Settings())
    assert handle is not None
    written = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            for scheme in ("light", "dark"):
                context = browser.new_context(
                    viewport={"width": 1440, "height": 900}, color_scheme=scheme
                )
                page = context.new_page()
                page.goto(handle.url + "api/v1/sessions?sort=cost&per_page=1&period=7d")
                sid = page.evaluate("JSON.parse(document.body.innerText).sessions[0].id")
                for name, path in PAGES:
                    page.goto(handle.url.rstrip("/") + (path or f"/sessions/{sid}"))
                    page.wait_for_timeout(250)
                    target = out / f"{name}-{scheme}.png"
                    page.screenshot(path=str(target), full_page=True)
                    written.append(target)
                context.close()
            browser.close()
    finally:
        handle.stop()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--keep", default=None, help="Build (or reuse) the demo store here.")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.keep) if args.keep else Path(tmp) / "demo.db"
        if not db.exists():
            build(db)
        for path in shoot(db, out):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
