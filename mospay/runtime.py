"""Start-up and shutdown shared by run.py, the CLI, tests and the benchmark: database, schema, keys."""

from __future__ import annotations

import dataclasses
import logging

from . import accounts, errors, migrate as schema
from .config import Config
from .db import Database
from .embedded import EmbeddedPostgres

log = logging.getLogger("mospay")
logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl call at INFO


@dataclasses.dataclass
class Runtime:
    config: Config
    db: Database
    embedded: EmbeddedPostgres | None = None
    url: str = ""  # the database actually used (the embedded cluster's when DATABASE_URL is unset)
    schema_version: int | None = None  # found after migrating at start-up; /healthz shows it

    def close(self) -> None:
        self.db.close()
        log.info("database pool closed")
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None
            log.info("embedded PostgreSQL stopped")


def start(config: Config, *, migrate: bool = True) -> Runtime:
    """Connect (starting the embedded cluster when DATABASE_URL is unset), migrate, create the admin."""
    config = config.with_keys()
    embedded = None
    url = config.database_url
    if not url:
        embedded = EmbeddedPostgres(config.data_dir)
        url = embedded.start()
        log.info("embedded PostgreSQL running in %s", embedded.pgdata)
    db = Database(url, size=config.pool_size, timeout=config.pool_timeout_s)
    runtime = Runtime(config, db, embedded, url)
    try:
        if migrate:
            for step in schema.apply(db):
                log.info("schema: applied %s", step)
            runtime.schema_version = schema.current_version(db)
            accounts.ensure_default_admin(db, config.admin_password)
    except BaseException:
        runtime.close()
        raise
    return runtime


def role_warning(db: Database) -> str | None:
    """What to tell the operator when MosPay's own database role may do more than run MosPay: a superuser
    reads every file the server can, runs programs and creates roles, whatever a bug lets through."""
    try:
        row = db.one("database_role")
    except errors.MosPayError:
        return None
    if row is None or not (row["superuser"] or row["createrole"]):
        return None
    what = "a superuser" if row["superuser"] else "allowed to create roles (CREATEROLE)"
    return (f"MosPay's database role {row['name']!r} is {what}: give MosPay a role of its own without "
            "SUPERUSER or CREATEROLE (docs/database-roles.md)")
