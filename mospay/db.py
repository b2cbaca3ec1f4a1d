"""Connection pool over pg8000.native, transactions, named queries and driver-error translation.

Named queries: every `-- name: x` block of every file in mospay/sql/ is loaded once, at import, into
mospay.sql.QUERIES (a name defined twice is an import error). Code runs them by name only, `db.query(name, ...)`,
`db.one(name, ...)`, `tx.query(...)`, `tx.one(...)`; no other module reads a .sql file. `db.run(sql)`
is for one-off text (DDL built by functions.py, tests, the benchmark's own probes).

Which statements are prepared: exactly those whose header says so, `-- name: x (prepared)`. A prepared
statement is parsed and planned once per connection (at most _PREPARED_LIMIT per connection), then each
run is only Bind/Execute. Mark the hot ones: the payment path, the reconciler, webhook delivery, provider
callbacks, the portal's per-page session check. Leave unmarked the rare statements and the portal's
filtered lists (`CAST(:x AS text) IS NULL OR ...`), where PostgreSQL's generic plan for a prepared
statement cannot drop the unused filters and a fresh plan per run is the better one. pg8000 prepares
without parameter types, so the server must infer every parameter's type from the text: write a CAST
wherever it cannot (tests/integration/test_named_queries.py prepares every marked query to prove it).
"""

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
from .config import ConfigError
from .sql import QUERIES

log = logging.getLogger("mospay.db")

_PREPARED_LIMIT = 200  # per connection: a bound on server-side memory, far above what MosPay marks
_STALE_PLAN_STATES = ("0A000", "26000")  # cached plan changed result type; statement vanished


def connect_params(url: str) -> dict:
    """Turn a libpq-style URL into pg8000 keyword arguments (TCP, unix socket, sslmode)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError("DATABASE_URL must start with postgresql://")  # an operator's fault, not a client's
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
    elif state == "23514" and info.get("n") == "batches_four_eyes":
        # Maker-checker (schema/96_batches.sql): whoever uploaded a batch cannot approve it.
        err = errors.Forbidden("the approver must be a different person from the uploader", code="same_person")
    elif state in ("MPB01", "MPB02"):
        err = errors.Conflict("a batch with invalid rows cannot be approved" if state == "MPB02" else
                              "the batch is not in a state that allows this", code="batch_state")
    elif state == "23514" or state.startswith("22"):
        err = errors.InvalidField("a value is out of range or malformed", code="invalid_value")
    elif state in ("MP002", "MP003"):
        # The client's amount limits (mospay.check_amount_limits in schema/30_transactions.sql): our own fixed messages.
        err = errors.InvalidField("the amount is over your per-transaction limit" if state == "MP002"
                                  else "the amount would take you over your daily limit",
                                  field="f004", code="amount_limit_exceeded")
    elif state == "42883":
        err = errors.FunctionError("the client's PostgreSQL function is missing", code="function_missing")
    elif state == "MPF01":
        # mospay.call_*_function refused a function not confined to the role mospay_function.
        err = errors.FunctionError("the client's PostgreSQL function was changed outside MosPay and may not run; "
                                   "save it again through MosPay", code="function_refused")
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

    def _new_connection(self, **overrides):
        try:
            conn = pg8000.native.Connection(**{**self._params, **overrides})
        except (InterfaceError, OSError, DatabaseError) as exc:
            detail = reason(exc)
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
        return self._autocommit(sql, params, prepared=False)

    def query(self, name: str, /, **params) -> list[dict]:
        """The named query `name` (mospay/sql/) in autocommit; rows as dicts."""
        query = QUERIES[name]
        return self._autocommit(query.text, params, prepared=query.prepared)

    def one(self, name: str, /, **params) -> dict | None:
        rows = self.query(name, **params)
        return rows[0] if rows else None

    def _autocommit(self, sql: str, params: dict, prepared: bool) -> list[dict]:
        # Translated outside `connection()`, so that it sees the driver's error and can tell a dead
        # connection (08xxx, 57Pxx: the server restarted) from a statement that merely failed.
        try:
            with self.connection() as conn:
                return _execute(conn, sql, params, prepared)
        except DatabaseError as exc:
            raise translate(exc) from exc

    @contextlib.contextmanager
    def transaction(self, *, rollback: bool = False, unbounded: bool = False):
        """BEGIN ... COMMIT on one connection; any exception rolls back and is translated (as in run()).

        With rollback=True the block always ends in ROLLBACK, also when it succeeds: a rehearsal (the
        function editor's dry run) that may run anything and must leave nothing behind.
        With unbounded=True it runs on a connection of its own, outside the pool, that waits for the
        server's answer however long the work takes (a migration's backfill over millions of rows); a
        pool connection gives up on a read after 30 s. Never for a request."""
        try:
            with (self._unbounded_connection() if unbounded else self.connection()) as conn:
                conn.run("BEGIN")
                try:
                    yield Transaction(conn)
                except BaseException:
                    with contextlib.suppress(Exception):
                        conn.run("ROLLBACK")
                    raise
                conn.run("ROLLBACK" if rollback else "COMMIT")
        except DatabaseError as exc:
            raise translate(exc) from exc

    @contextlib.contextmanager
    def _unbounded_connection(self):
        conn = self._new_connection(timeout=None)
        try:
            yield conn
        finally:
            self._discard(conn)

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
        return _execute(self._conn, sql, params, prepared=False)

    def query(self, name: str, /, **params) -> list[dict]:
        query = QUERIES[name]
        return _execute(self._conn, query.text, params, query.prepared)

    def one(self, name: str, /, **params) -> dict | None:
        rows = self.query(name, **params)
        return rows[0] if rows else None

    def run_verbatim(self, sql: str) -> None:
        """One statement sent exactly as written: no `:name` parameters are looked for (a function body's
        text stays intact), and the extended protocol refuses a second statement in the text."""
        self._conn.execute_unnamed(sql)

    @contextlib.contextmanager
    def operator_sql(self, field: str):
        """Statements in this block run SQL an operator wrote (a function's source, a call into it): the
        server's refusal is the operator's to fix, so it becomes a 422 on `field` that carries
        PostgreSQL's own message, DETAIL and CONTEXT. A lost connection stays a 503."""
        try:
            yield
        except DatabaseError as exc:
            info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
            if info.get("C", "").startswith(("08", "57P", "53")):
                raise
            raise errors.InvalidField(_server_message(exc), field=field, code="sql_error") from None


def reason(exc: Exception) -> str:
    """The server's own message (e.g. password authentication failed), never the URL or password."""
    if isinstance(exc, DatabaseError) and exc.args and isinstance(exc.args[0], dict):
        return exc.args[0].get("M", "database error")
    return str(exc)


def _server_message(exc: Exception) -> str:
    """PostgreSQL's message with its DETAIL and CONTEXT lines, as psql would show them (bounded)."""
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    text = info.get("M") or str(exc)
    if info.get("D"):
        text += f"\nDETAIL: {info['D']}"
    if info.get("W"):
        text += f"\nCONTEXT: {info['W']}"
    return text[:2000]


def _execute(conn, sql: str, params: dict, prepared: bool) -> list[dict]:
    """Run one statement; a prepared one goes through the connection's cache of prepared statements."""
    if not prepared:
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
