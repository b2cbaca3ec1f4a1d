"""Viewing, dry-running, editing and restoring the per-client request/RESPONSE functions (portal and CLI).

A save must redefine exactly the function being edited: the text must start with its exact
CREATE OR REPLACE header, runs as one statement (extended protocol refuses a second one), and
pg_proc is compared before and after so any other change rolls the whole save back. Every statement
that defines a function in mospay_fn runs as the role mospay_function and is then sealed (install()):
the function runs as that role, whatever MosPay's own role may do.
"""

from __future__ import annotations

import json
import re

from . import errors, functions
from .audit import Actor, audit
from .db import Database

MAX_SOURCE = 100_000
SAMPLE_INPUT = {"f000": "mtnmomorwa", "f001": "collection", "f002": "collection", "f003": "app",
                "f004": "1000.00", "f005": "+250788123456", "f006": "customer123", "f007": "***",
                "f008": "***", "f009": "device_abc123", "f010": "dryrun-1"}
SAMPLE_OUTPUT = {"status": "SUCCESSFUL", "financialTransactionId": "123456789"}


def is_response(name: str) -> bool:
    return name.startswith("RESPONSE_")


def catalogue(db: Database) -> list[dict]:
    """One row per client × service × route, with both function names."""
    rows = db.query("function_list")
    for row in rows:
        row["request"] = functions.request_function_name(row["app_id"], row["service"], row["route"])
        row["response"] = functions.response_function_name_unchecked(row["request"])
    return rows


def check_known(db: Database, name: str) -> dict:
    """Only functions that belong to an assignment can be viewed or edited (the name is never SQL here): a
    route's request and RESPONSE functions, and the client's refund request and RESPONSE functions."""
    for row in catalogue(db):
        if name in (row["request"], row["response"]) or name in _refund_pair(row):
            return row
    raise errors.NotFound("no such client function", code="function_not_found")


def _refund_pair(row: dict) -> tuple[str, ...]:
    names = functions.refund_function_names(row["app_id"], row["service"])
    return names[:2] if names else ()


def definition(db: Database, name: str) -> str | None:
    rows = db.query("function_definition", name=name)
    return rows[0]["source"] if rows else None


def sample_arguments(name: str, app_id: str, service: str, route: str) -> dict:
    data = {**SAMPLE_INPUT, "f000": service, "f002": route, "f003": app_id}
    args = {"unique_id": data["f010"], "data_input": json.dumps(data, indent=2)}
    if is_response(name):
        args.update(code="200", data_output=json.dumps(SAMPLE_OUTPUT, indent=2))
    return args


def _header_re(name: str) -> re.Pattern:
    quoted = re.escape(functions.quote_ident(name))
    plain = re.escape(name) if name == name.lower() else quoted  # unquoted names fold to lower case
    return re.compile(rf"\s*(?i:create\s+or\s+replace\s+function)\s+(?i:mospay_fn)\s*\.\s*(?:{quoted}|{plain})\s*\(")


def check_source(name: str, source) -> str:
    if not isinstance(source, str) or not source.strip():
        raise errors.InvalidField("the function source is required", field="source")
    if len(source) > MAX_SOURCE or "\x00" in source:
        raise errors.InvalidField(f"must be at most {MAX_SOURCE} characters", field="source")
    if not _header_re(name).match(source):
        raise errors.InvalidField(f'must start with CREATE OR REPLACE FUNCTION mospay_fn."{name}"(',
                                  field="source", code="wrong_function")
    return source.replace("\r\n", "\n")


def describe(exc: errors.InvalidField) -> str:
    """One wording for an editor error, whether a dry run or a save raised it: PostgreSQL's own message
    for the source, the field's name first for any other input."""
    return exc.message if exc.field == "source" else f"{exc.field}: {exc.message}"


def _parse_json(value, field: str):
    try:
        return json.loads(value or "null")
    except RecursionError:  # "[[[[..." thousands deep: a 500 before
        raise errors.InvalidField("is nested too deeply", field=field) from None
    except ValueError as exc:
        raise errors.InvalidField(f"is not valid JSON: {exc}", field=field) from None


def install(tx, statements: list[str], names: list[str]) -> None:
    """Run CREATE OR REPLACE statements for functions of mospay_fn as the role mospay_function, then seal
    the functions `names` (owner mospay_function, SECURITY DEFINER, fixed search_path). Creating as that
    role means PostgreSQL itself refuses what it may not do, such as a C or other untrusted language."""
    tx.query("functions_seal", names=names)  # one changed behind MosPay's back is that role's again first
    tx.query("function_schema_open")
    tx.query("function_role_enter")
    for statement in statements:
        tx.run_verbatim(statement)
    tx.query("function_role_leave")
    tx.query("functions_seal", names=names)


def dry_run(db: Database, name: str, args: dict, source: str | None = None, *, actor: Actor | None = None) -> dict:
    """_run_dry, with its outcome in the audit trail when an actor (portal user, CLI operator) ran it."""
    try:
        run = _run_dry(db, name, args, source)
    except errors.InvalidField as exc:
        if actor is not None and exc.field == "source":
            audit(db, actor, "function.dry_run", "function", name, None,
                  {"source": source, "ok": False, "error": exc.message})
        raise
    if actor is not None:
        audit(db, actor, "function.dry_run", "function", name, None, {"source": source, **run})
    return run


def _run_dry(db: Database, name: str, args: dict, source: str | None = None) -> dict:
    """Run the function (the edited source when given) on sample arguments, then roll everything back.

    Returns {"ok": True, "result": <json>}. A source PostgreSQL refuses, or a function that fails on these
    arguments, raises the same InvalidField (field "source", code "sql_error", PostgreSQL's message) that
    save() raises for the same text.
    """
    data_input = _parse_json(args.get("data_input"), "data_input")
    unique_id = (args.get("unique_id") or "dryrun-1")[:64]
    params = {"name": name, "uid": unique_id, "data": json.dumps(data_input)}
    if is_response(name):
        code = str(args.get("code") or "200")
        if not re.fullmatch(r"[0-9]{3}", code) or not 100 <= int(code) <= 599:  # isdigit() took "²" (a 500)
            raise errors.InvalidField("must be an HTTP status from 100 to 599", field="code")
        params.update(code=int(code), output=json.dumps(_parse_json(args.get("data_output"), "data_output")))
        call = "dry_run_response"
    else:
        call = "dry_run_request"
    if source is not None:
        source = check_source(name, source)
    # Always rolled back: a dry run never leaves anything behind, whatever the function did.
    with db.transaction(rollback=True) as tx:
        tx.query("dry_run_timeout")
        with tx.operator_sql(field="source"):
            if source is not None:
                install(tx, [source], [name])
            return {"ok": True, "result": tx.query(call, **params)[0]["result"]}


def save(db: Database, actor: Actor, name: str, source: str, action: str = "function.save") -> int:
    """CREATE OR REPLACE the function, keeping the current source as a version. Returns the version id."""
    source = check_source(name, source)
    current = definition(db, name)
    with db.transaction() as tx:
        before = _fingerprints(tx)
        with tx.operator_sql(field="source"):
            install(tx, [source], [name])
        _check_only_changed(name, before, _fingerprints(tx))
        version = tx.one("function_version_insert", name=name, source=current or "",
                         created_by=actor.username)["id"]
    audit(db, actor, action, "function", name, {"source": current}, {"source": source})
    return version


def _fingerprints(tx) -> dict:
    return {(r["name"], r["arguments"]): (r["oid"], r["digest"], r["returns"])
            for r in tx.query("function_fingerprints")}


def _check_only_changed(name: str, before: dict, after: dict) -> None:
    if set(before) != set(after):
        added = sorted(f"{n}({a})" for n, a in set(after) - set(before))
        raise errors.InvalidField("the statement must keep the function's name and arguments; it would create "
                                  + ", ".join(added or ["a different set of functions"]),
                                  field="source", code="wrong_function")
    changed = [key for key in before if before[key] != after[key] and key[0] != name]
    if changed:
        raise errors.InvalidField("the statement changed another function", field="source", code="wrong_function")


def versions(db: Database, name: str) -> list[dict]:
    return db.query("function_versions", name=name)


def version(db: Database, name: str, version_id: str) -> dict:
    if not re.fullmatch(r"\d{1,18}", version_id or ""):
        raise errors.NotFound("no such version")
    rows = db.query("function_version", name=name, id=int(version_id))
    if not rows:
        raise errors.NotFound("no such version")
    return rows[0]


def restore(db: Database, actor: Actor, name: str, version_id: str) -> int:
    return save(db, actor, name, version(db, name, version_id)["source"], action="function.restore")
