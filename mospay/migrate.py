"""Schema versions: a fresh database gets schema/*.sql, an existing one its pending migrations/NNN_*.sql.

Forward-only. Version 1 is v0.1.0's schema; every later version is one numbered migration file, applied
in its own database transaction under an advisory lock and recorded in schema_migrations. schema/ always
describes the latest version, so a fresh install records every known version as applied. A database
with a version this code does not know is refused: it was upgraded by a newer MosPay."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from pg8000.exceptions import DatabaseError

from . import errors
from .db import Database, reason

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "schema"
MIGRATIONS_DIR = ROOT / "migrations"
BASELINE = (1, "baseline schema.sql")  # v0.1.0's schema.sql, as v0.1.0 recorded it
LOCK = 7_271_001  # advisory lock id: one process changes the schema at a time
_FILE = re.compile(r"([0-9]{3})_[a-z0-9_]+\.sql")


class SchemaError(errors.MosPayError):
    status, code = 500, "schema_error"


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str  # the file's stem, e.g. 002_clients_note; recorded in schema_migrations
    path: Path | None = None  # None for the baseline, which has no file

    def label(self) -> str:
        return self.name if self.path else f"{self.version:03d} {self.name}"


@dataclasses.dataclass(frozen=True)
class Plan:
    current: int | None  # the database's version; None for an empty database
    target: int
    steps: list[str]  # what would run, in order
    fresh: bool

    def lines(self) -> list[str]:
        found = "is empty" if self.fresh else f"is at version {self.current:03d}"
        head = f"the database {found}; this code is at version {self.target:03d}"
        return [head, *(f"pending: {step}" for step in self.steps)] if self.steps else [head, "nothing to do"]


def known(migrations_dir: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The baseline and every migration file, by version; two files with one number are refused."""
    found = [Migration(*BASELINE)]
    for path in sorted(migrations_dir.glob("*.sql")) if migrations_dir.is_dir() else []:
        match = _FILE.fullmatch(path.name)
        if match is None:
            raise SchemaError(f"{path.name}: a migration is named NNN_lowercase_name.sql")
        version = int(match.group(1))
        if version <= BASELINE[0] or version in {m.version for m in found}:
            raise SchemaError(f"{path.name}: version {version:03d} is the baseline's or already taken")
        found.append(Migration(version, path.stem, path))
    return found


SCHEMA_VERSION = known()[-1].version  # the version this code brings a database to


def schema_files(schema_dir: Path = SCHEMA_DIR) -> list[Path]:
    return sorted(schema_dir.glob("*.sql"))


def applied(db_or_tx) -> list[int] | None:
    """The versions recorded in the database; None when it has no version table (a fresh database)."""
    if not db_or_tx.run("SELECT to_regclass('public.schema_migrations') IS NOT NULL AS ok")[0]["ok"]:
        return None
    return [r["version"] for r in db_or_tx.run("SELECT version FROM schema_migrations ORDER BY version")]


def _pending(versions: list[int] | None, migrations: list[Migration]) -> list[Migration]:
    if versions is None:
        return []
    unknown = sorted(set(versions) - {m.version for m in migrations})
    if unknown:
        raise SchemaError(
            f"the database is at schema version {max(versions):03d}, which this MosPay (schema version "
            f"{migrations[-1].version:03d}) does not know: it was upgraded by a newer release. Run that release "
            "or restore a backup taken before the upgrade; MosPay never downgrades a schema.",
            code="schema_too_new")
    return [m for m in migrations if m.version not in versions]


def plan(db: Database, migrations_dir: Path = MIGRATIONS_DIR, schema_dir: Path = SCHEMA_DIR) -> Plan:
    """What `apply` would do now, changing nothing (migrate --dry-run)."""
    migrations = known(migrations_dir)
    versions = applied(db)
    target = migrations[-1].version
    if versions is None:
        files = ", ".join(p.name for p in schema_files(schema_dir))
        return Plan(None, target, [f"fresh install of version {target:03d}: {schema_dir.name}/ ({files})"], True)
    steps = [m.label() for m in _pending(versions, migrations)]
    return Plan(max(versions, default=0), target, steps, False)


def apply(db: Database, migrations_dir: Path = MIGRATIONS_DIR, schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Bring the database to the latest version; returns the steps applied (none when up to date).

    Each step is one database transaction that first takes the advisory lock and reads the versions
    again: a second process migrating at the same time waits, then finds the step done. A step runs
    on a connection of its own that waits for the server however long the step takes (a backfill over
    millions of rows), where a pool connection gives up after 30 s."""
    migrations = known(migrations_dir)
    done = []
    for _ in range(len(migrations) + 1):  # at most a fresh install or one step per migration
        with db.transaction(unbounded=True) as tx:
            tx.run("SELECT pg_advisory_xact_lock(:lock)", lock=LOCK)
            versions = applied(tx)
            if versions is None:
                for path in schema_files(schema_dir):
                    _run(tx, f"{schema_dir.name}/{path.name}", path.read_text(encoding="utf-8"))
                for m in migrations:
                    tx.run("INSERT INTO schema_migrations (version, name) VALUES (:v, :n)", v=m.version, n=m.name)
                done.append(f"fresh install of version {migrations[-1].version:03d} from {schema_dir.name}/")
                continue
            pending = _pending(versions, migrations)
            if not pending:
                return done
            step = pending[0]
            if step.path is None:
                raise SchemaError("the database has no baseline version: it was not created by MosPay")
            _run(tx, step.name, step.path.read_text(encoding="utf-8"))
            tx.run("INSERT INTO schema_migrations (version, name) VALUES (:v, :n)", v=step.version, n=step.name)
            done.append(step.label())
    return done


def _run(tx, name: str, sql: str) -> None:
    """Run a whole file; a failure names the step and the server's message (the transaction rolls back)."""
    try:
        tx.run(sql)
    except DatabaseError as exc:
        raise SchemaError(f"{name} failed and was rolled back: {reason(exc)}",
                          code="migration_failed") from exc


def current_version(db: Database) -> int | None:
    """The highest version recorded; None when the database has none or cannot be read."""
    try:
        versions = applied(db)
    except errors.MosPayError:
        return None
    return max(versions) if versions else None
