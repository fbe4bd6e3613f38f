"""The store: the only code that writes SQL. `open_store()` gives a migrated Store."""

from __future__ import annotations

from aitrack.store.aggregates import Aggregates
from aitrack.store.database import Database, connect
from aitrack.store.migrations import migrate
from aitrack.store.records import Records


class Store:
    """A migrated database with its entity records and aggregate queries."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.records = Records(db)
        self.aggregates = Aggregates(db, self.records)

    def close(self) -> None:
        self.db.close()


def open_store(url: str | None = None) -> Store:
    """Open (creating and migrating when needed) the store at url, default the user's.

    Raises:
        StoreError: the file is corrupt or foreign, or the server unreachable.
    """
    if url is None:
        from aitrack.settings import database_url

        url = database_url()
    db = connect(url)
    migrate(db)
    return Store(db)


__all__ = ["Store", "open_store", "Database"]
