"""The CLI's function commands (show, save, dry-run): a client function kept in version control goes
through the portal editor's own checks (function_editor) and leaves an audit row naming the operator."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from . import errors, function_editor as fe
from .audit import Actor, audit
from .db import Database


class SourceText(str):
    """A function's source, printed as it is (not as JSON) so that `> FILE` gives a file function-save takes."""


def add_parsers(sub) -> None:
    user = {"help": "the operator named in the audit trail (default: your OS user)"}
    p = sub.add_parser("function-show", help="print a client function's CREATE OR REPLACE statement")
    p.add_argument("name", help="e.g. akaliza_mtnmomorwa_collection or RESPONSE_akaliza_mtnmomorwa_collection")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.add_argument("--user", **user)
    p = sub.add_parser("function-save", help="save a client function from FILE (its full CREATE OR REPLACE "
                                             "statement), keeping the current one as a version")
    p.add_argument("name")
    p.add_argument("file", help="the statement, or - for standard input")
    p.add_argument("--user", **user)
    p = sub.add_parser("function-dry-run", help="run FILE's function on sample arguments, then roll everything back")
    p.add_argument("name")
    p.add_argument("file", help="the statement, or - for standard input")
    p.add_argument("--data-input", help="the request fields as JSON (default: the editor's sample)")
    p.add_argument("--code", help="RESPONSE functions: the provider's HTTP status (default 200)")
    p.add_argument("--data-output", help="RESPONSE functions: the provider's body as JSON")
    p.add_argument("--user", **user)


def run(db: Database, args) -> object:
    actor = operator(db, args.user)
    row = fe.check_known(db, args.name)
    if args.command == "function-show":
        source = fe.definition(db, args.name) or ""
        audit(db, actor, "function.show", "function", args.name)
        return {"name": args.name, "source": source} if args.json else SourceText(source)
    source = read_source(args.file)
    if args.command == "function-save":
        version = fe.save(db, actor, args.name, source)
        return {"name": args.name, "saved": True, "previous_version": version}
    sample = fe.sample_arguments(args.name, row["app_id"], row["service"], row["route"])
    given = {"data_input": args.data_input, "code": args.code, "data_output": args.data_output}
    return fe.dry_run(db, args.name, {**sample, **{k: v for k, v in given.items() if v is not None}}, source,
                      actor=actor)


def operator(db: Database, username: str | None) -> Actor:
    """The CLI's operator: --user or the OS user; linked to the admin user of that name when there is one."""
    name = (username or getpass.getuser() or "").strip()
    if not name or len(name) > 100:
        raise errors.InvalidField("must be 1-100 characters", field="user")
    user = db.one("user_by_username", username=name)
    return Actor(user["id"] if user else None, name, "cli")


def read_source(file: str) -> str:
    try:
        return sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise errors.InvalidField("is not UTF-8 text", field="file") from None
    except OSError as exc:
        raise errors.InvalidField(f"cannot be read: {exc.strerror}", field="file") from None
