"""Team mode: `sync` pushes the local store into a shared PostgreSQL database."""

from __future__ import annotations

import os

import click

from aitrack.cli.common import emit, json_option, table, tracker


@click.command()
@click.option(
    "--to",
    "target_url",
    default=None,
    metavar="URL",
    help="The shared database, e.g. postgresql://me@team-db/aitrack "
    "(default $AITRACK_TEAM_DATABASE_URL).",
)
@json_option
def sync(target_url, as_json):
    """Copy this machine's sessions and everything recorded in them into a shared database.

    Idempotent: ids are global, so running it again (or from many machines) adds only what
    the shared database lacks. Then point the dashboard or reports at the shared database
    with AITRACK_DATABASE_URL to see the whole team."""
    from aitrack.store import open_store
    from aitrack.store.sync import sync as run_sync

    url = target_url or os.environ.get("AITRACK_TEAM_DATABASE_URL")
    if not url:
        raise click.UsageError(
            "give the shared database: --to postgresql://… or set AITRACK_TEAM_DATABASE_URL"
        )
    source = tracker().store
    target = open_store(url)
    try:
        counts = run_sync(source.db, target.db)
    finally:
        target.close()
    emit(
        f"Synced to {target.db.location}",
        {"target": target.db.location, "rows": counts},
        lambda: table(
            ["table", "rows sent"], sorted(counts.items()), title=f"Synced to {target.db.location}"
        ),
    )
