"""Connection pool over pg8000.native, transactions, named queries and driver-error translation."""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import socket
import ssl
import threading
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from . import errors

log = logging.getLogger("mospay.db")

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schema.sql"
MIGRATIONS_DIR = ROOT / "migrations"
SCHEMA_VERSION = 1
_SCHEMA_LOCK = 7_271_001  # advisory lock id: one process migrates at a time


def load_queries(path: Path) -> dict[str, str]:
    """Parse `-- name: x` blocks once at import; every query the code runs is in that file."""
    queries, name, lines = {}, None, []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"--\s*name:\s*(\w+)\s*$", line)
        if match:
            if name:
                queries[name] = "\n".join(lines).strip()
            name, lines = match.group(1), []
        elif name:
            lines.append(line)
    if name:
        queries[name] = "\n".join(lines).strip()
    return queries


QUERIES = load_queries(Path(__file__).with_name("queries.sql"))
# Named queries are prepared once per connection (parse + plan once, then only Bind/Execute): the
# payment path's statements run thousands of times a second with the same text. Other modules add
# their own hot query files' texts here with `prepare_texts`.
PREPARED: set[str] = set(QUERIES.values())
_PREPARED_LIMIT = 200  # per connection: a bound on server-side memory, far above what MosPay uses
_STALE_PLAN_STATES = ("0A000", "26000")  # cached plan changed result type; statement vanished


def prepare_texts(texts) -> None:
    PREPARED.update(texts)


def connect_params(url: str) -> dict:
    """Turn a libpq-style URL into pg8000 keyword arguments (TCP, unix socket, sslmode)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise errors.MosPayError("DATABASE_URL must start with postgresql://")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    # parse_qs has already decoded query values; only the URL's own parts need unquote.
    params = {
        "user": unquote(parts.username) if parts.username else query.get("user", "postgres"),
        "database": unquote(parts.path.lstrip("/")) or query.get("dbname", "postgres"),
        "application_name": "mospay",
        "timeout": 30,
    }
    password = unquote(parts.password) if parts.password is not None else query.get("password")
    if password:
        params["password"] = password
    host = unquote(parts.hostname or "") or query.get("host", "")
    port = parts.port or int(query.get("port", 5432))
    if host.startswith("/") or re.fullmatch(r"[A-Za-z]:[\\/].*", host):  # a socket directory
        params["unix_sock"] = str(Path(host) / f".s.PGSQL.{port}")
    else:
        params["host"], params["port"] = host or "localhost", port
    sslmode = query.get("sslmode", "disable" if "unix_sock" in params else "prefer")
    if sslmode in ("require", "verify-ca", "verify-full"):
        context = ssl.create_default_context()
        if sslmode == "require":
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        params["ssl_context"] = context
    return params


def translate(exc: Exception) -> Exception:
    """Map a driver error to the domain error a client may see; the rest stay internal (500)."""
    if isinstance(exc, (InterfaceError, OSError, socket.timeout)):
        return errors.ServiceUnavailable("the database is unavailable; try again shortly")
    if not isinstance(exc, DatabaseError) or not exc.args or not isinstance(exc.args[0], dict):
        return exc
    info = exc.args[0]
    state = info.get("C", "")
    if state == "23505":
        err = errors.Conflict("a record with this key already exists", code="already_exists")
    elif state in ("23503", "MP001"):
        err = errors.Conflict("the change conflicts with existing records", code="conflict")
    elif state == "23514" or state.startswith("22"):
        err = errors.InvalidField("a value is out of range or malformed", code="invalid_value")
    elif state in ("MP002", "MP003"):
        # The client's amount limits (schema.sql, check_amount_limits): our own fixed messages.
        err = errors.InvalidField("the amount is over your per-transaction limit" if state == "MP002"
                                  else "the amount would take you over your daily limit",
                                  field="f004", code="amount_limit_exceeded")
    elif state == "42883":
        err = errors.FunctionError("the client's PostgreSQL function is missing", code="function_missing")
    elif state == "P0001":
        # Raised on purpose by an operator's function: its message is meant for the client.
        err = errors.FunctionError(info.get("M", "rejected by the function")[:300], code="function_rejected",
                                   status=422)
    elif state.startswith(("08", "57P", "53")):
        err = errors.ServiceUnavailable("the database is unavailable; try again shortly")
    elif state in ("40001", "40P01", "55P03"):
        err = errors.ServiceUnavailable("the database is busy; try again", code="busy")
    else:
        return exc
    err.sqlstate, err.constraint = state, info.get("n")
    return err


class Database:
    """A small thread-safe pool: one connection per request, discarded after a network error."""

    def __init__(self, url: str, size: int = 10, timeout: float = 5.0):
        self.url = url
        self._params = connect_params(url)
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._timeout = timeout
        self._closed = False
        self._connected_once = False
        self.size = size
        self.in_use = 0
        self.waiting = 0  # requests blocked on a free connection (the /metrics pool gauge)
        self._waiting_lock = threading.Lock()  # also guards in_use: += is not atomic across threads

    def _new_connection(self):
        try:
            conn = pg8000.native.Connection(**self._params)
        except (InterfaceError, OSError, DatabaseError) as exc:
            detail = _reason(exc)
            if self._connected_once:  # at start-up the caller reports it, once
                log.warning("database connection failed: %s", detail)
            err = errors.ServiceUnavailable("the database is unavailable; try again shortly")
            err.detail = detail
            raise err from exc
        self._connected_once = True
        return conn

    @contextlib.contextmanager
    def connection(self):
        if not self._slots.acquire(blocking=False) and not self._wait_for_slot():
            raise errors.ServiceUnavailable("all database connections are busy; try again", code="busy")
        with self._waiting_lock:
            self.in_use += 1
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._new_connection()
            yield conn
        except (InterfaceError, OSError) as exc:
            self._discard(conn)
            conn = None
            self._discard_idle()
            raise translate(exc) from exc
        except DatabaseError as exc:
            if exc.args and isinstance(exc.args[0], dict) and exc.args[0].get("C", "").startswith(("08", "57P")):
                self._discard(conn)
                conn = None
                self._discard_idle()
            raise
        except errors.MosPayError:
            raise
        except Exception:
            # Anything else may have come from inside the driver half-way through a message (pg8000
            # failing to encode a lone surrogate while sending a parameter did): the protocol is then out
            # of step and the next statement would read this one's answers. Such a connection is never reused.
            self._discard(conn)
            conn = None
            raise
        finally:
            if conn is not None and not self._closed:
                self._idle.put(conn)
            elif conn is not None:
                self._discard(conn)
            with self._waiting_lock:
                self.in_use -= 1
            self._slots.release()

    def _wait_for_slot(self) -> bool:
        """The slow path only: count the waiter, so the free-slot fast path pays nothing for the gauge."""
        with self._waiting_lock:
            self.waiting += 1
        try:
            return self._slots.acquire(timeout=self._timeout)
        finally:
            with self._waiting_lock:
                self.waiting -= 1

    def _discard_idle(self):
        """One dead connection usually means the server restarted: the idle ones are dead too, and
        each would otherwise cost a failed request before the pool heals."""
        while True:
            try:
                self._discard(self._idle.get_nowait())
            except queue.Empty:
                return

    @staticmethod
    def _discard(conn):
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def run(self, sql: str, /, **params) -> list[dict]:
        """One statement in autocommit; rows as dicts. Driver errors become domain errors."""
        # Translated outside `connection()`, so that it sees the driver's error and can tell a dead
        # connection (08xxx, 57Pxx: the server restarted) from a statement that merely failed.
        try:
            with self.connection() as conn:
                return _execute(conn, sql, params)
        except DatabaseError as exc:
            raise translate(exc) from exc

    def query(self, name: str, /, **params) -> list[dict]:
        return self.run(QUERIES[name], **params)

    def one(self, name: str, /, **params) -> dict | None:
        rows = self.query(name, **params)
        return rows[0] if rows else None

    @contextlib.contextmanager
    def transaction(self):
        """BEGIN ... COMMIT on one connection; any exception rolls back and is translated (as in run())."""
        try:
            with self.connection() as conn:
                conn.run("BEGIN")
                try:
                    yield Transaction(conn)
                except BaseException:
                    with contextlib.suppress(Exception):
                        conn.run("ROLLBACK")
                    raise
                conn.run("COMMIT")
        except DatabaseError as exc:
            raise translate(exc) from exc

    def ping(self) -> bool:
        try:
            return self.run("SELECT 1 AS ok")[0]["ok"] == 1
        except errors.MosPayError:
            return False

    def close(self):
        self._closed = True
        self._discard_idle()


class Transaction:
    """The statements of one database transaction; errors are translated by Database.transaction."""

    def __init__(self, conn):
        self._conn = conn

    def run(self, sql: str, /, **params) -> list[dict]:
        return _execute(self._conn, sql, params)

    def query(self, name: str, /, **params) -> list[dict]:
        return self.run(QUERIES[name], **params)

    def one(self, name: str, /, **params) -> dict | None:
        rows = self.query(name, **params)
        return rows[0] if rows else None


def _reason(exc: Exception) -> str:
    """The server's own message (e.g. password authentication failed), never the URL or password."""
    if isinstance(exc, DatabaseError) and exc.args and isinstance(exc.args[0], dict):
        return exc.args[0].get("M", "database error")
    return str(exc)


def _execute(conn, sql: str, params: dict) -> list[dict]:
    """Run one statement; a named query goes through the connection's cache of prepared statements."""
    if sql not in PREPARED:
        return _as_dicts(conn.columns if (rows := conn.run(sql, **params)) else None, rows)
    cache = conn.__dict__.setdefault("_mospay_prepared", {})
    statement = cache.get(sql)
    if statement is None:
        if len(cache) >= _PREPARED_LIMIT:
            return _as_dicts(conn.columns if (rows := conn.run(sql, **params)) else None, rows)
        statement = cache[sql] = conn.prepare(sql)
    try:
        rows = statement.run(**params)
    except DatabaseError as exc:
        state = exc.args[0].get("C", "") if exc.args and isinstance(exc.args[0], dict) else ""
        if state not in _STALE_PLAN_STATES or getattr(conn, "_transaction_status", None) != b"I":
            raise
        # The schema changed under the cached statement (a migration replaced a function's result
        # type): forget it and run the text once more, as pg8000's unnamed path would have.
        cache.pop(sql, None)
        with contextlib.suppress(Exception):
            statement.close()
        return _as_dicts(conn.columns if (rows := conn.run(sql, **params)) else None, rows)
    return _as_dicts(statement.columns if rows else None, rows)


def _as_dicts(columns, rows) -> list[dict]:
    if not rows:
        return []
    names = [c["name"] for c in columns]
    return [dict(zip(names, row)) for row in rows]


def apply_schema(db: Database, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply schema.sql and any pending migrations, once, under an advisory lock. Returns the steps."""
    steps = []
    with db.transaction() as tx:
        tx.run("SELECT pg_advisory_xact_lock(:lock)", lock=_SCHEMA_LOCK)
        # schema.sql is the baseline: applied to a database that has none. Re-running it on a migrated
        # database would put back the definitions later migrations replaced (functions, indexes).
        baseline = tx.run("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")[0]["present"]
        if not baseline or not tx.run("SELECT 1 AS one FROM schema_migrations WHERE version = :v", v=SCHEMA_VERSION):
            tx._conn.run(SCHEMA_FILE.read_text(encoding="utf-8"))
        done = {r["version"] for r in tx.run("SELECT version FROM schema_migrations")}
        if SCHEMA_VERSION not in done:
            tx.run("INSERT INTO schema_migrations (version, name) VALUES (:v, 'baseline schema.sql')",
                   v=SCHEMA_VERSION)
            steps.append(f"{SCHEMA_VERSION:03d} baseline schema.sql")
        for path in sorted(migrations_dir.glob("[0-9][0-9][0-9]_*.sql")) if migrations_dir.exists() else []:
            version = int(path.name[:3])
            if version not in done and version > SCHEMA_VERSION:
                tx._conn.run(path.read_text(encoding="utf-8"))
                tx.run("INSERT INTO schema_migrations (version, name) VALUES (:v, :n)", v=version, n=path.stem)
                steps.append(path.stem)
    return steps
