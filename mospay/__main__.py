"""The management CLI: `python -m mospay <command>`, printing JSON. Same service layer as the admin API."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from pathlib import Path

from . import __version__, accounts, backup, catalogue, errors, function_commands, migrate as schema
from . import runtime as rt
from .config import Config, ConfigError
from .embedded import EmbeddedUnavailable


# One pass of a scheduler job each (Components.jobs() has them all), for cron where the job's interval is 0.
JOB_COMMANDS = {
    "evaluate-alerts": "one pass of the evaluate_alerts job: every alert rule, notices queued (for cron)",
    "deliver-alerts": "one pass of the deliver_alerts job: send the due alert notices (for cron)",
    "fold-rollups": "one pass of the fold_rollups job: analytics hours before yesterday into days (for cron)",
    "deliver-reports": "one pass of the deliver_reports job: due statements by email (needs MOSPAY_SMTP_URL)",
    "run-batches": "one pass of a run_batches job: pay approved batch rows until none is left to start now",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mospay", description="Manage a MosPay installation.")
    parser.add_argument("--version", action="version", version=f"MosPay {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("migrate", help="bring the database schema to this release's version, printing each step")
    p.add_argument("--dry-run", action="store_true", help="print what would be applied; change nothing")
    p = sub.add_parser("config", help="print the effective configuration (secrets masked)")
    p.add_argument("--json", action="store_true", help="as JSON")
    p = sub.add_parser("backup", help="pg_dump the database (custom format) into FILE")
    p.add_argument("file")
    p = sub.add_parser("restore", help="pg_restore FILE into the database, then migrate it")
    p.add_argument("file")
    p.add_argument("--clean", action="store_true", help="replace the tables of a database that is not empty")
    p = sub.add_parser("create-service", help="create a service with the standard fields f000-f010")
    p.add_argument("name")
    p.add_argument("service_url")
    p.add_argument("--display-name")
    p.add_argument("--currency")
    p.add_argument("--timeout", type=float, dest="timeout_s")
    p = sub.add_parser("create-client", help="create a client; prints its API secret once")
    p.add_argument("company_name")
    p.add_argument("--app-id")
    p.add_argument("--contact-email")
    p.add_argument("--callback-url")
    p = sub.add_parser("assign", help="assign a service and routes to a client (creates its functions)")
    p.add_argument("app_id")
    p.add_argument("service")
    p.add_argument("routes", nargs="+")
    sub.add_parser("reconcile", help="one reconciliation pass over the due transactions (for cron)")
    sub.add_parser("jobs", help="the scheduler's jobs: last run, duration, last error, lease (all instances)")
    p = sub.add_parser("resolve", help="settle a stuck transaction by hand, with a reason (recorded with your user)")
    p.add_argument("transaction_id")
    p.add_argument("status", choices=("SUCCESSFUL", "FAILED"))
    p.add_argument("--user", required=True, help="the operator's admin username")
    p.add_argument("--reason", required=True)
    sub.add_parser("stuck", help="list the transactions waiting for an operator")
    p = sub.add_parser("set-schedule", help="when the reconciler asks a service's provider (seconds after creation)")
    p.add_argument("service")
    p.add_argument("seconds", nargs="+", type=int)
    sub.add_parser("deliver-webhooks", help="one delivery pass over the due webhook events (for cron)")
    for command, text in JOB_COMMANDS.items():
        sub.add_parser(command, help=text)
    p = sub.add_parser("rotate-webhook-secret", help="new webhook secret, printed once; the old one stays valid a while")
    p.add_argument("app_id")
    p.add_argument("--overlap", type=int, default=86400, help="seconds the previous secret stays valid")
    p.add_argument("--user", help="the operator named in the audit trail (default: the OS user)")
    p = sub.add_parser("prune-logs", help="delete api_logs rows older than MOSPAY_LOG_RETENTION_DAYS (batched)")
    p.add_argument("--days", type=int, help="override MOSPAY_LOG_RETENTION_DAYS for this run")
    p = sub.add_parser("create-admin", help="create an admin user")
    p.add_argument("username")
    p.add_argument("--role", default="admin", choices=accounts.ROLES)
    p.add_argument("--password", help="default: read from standard input")
    function_commands.add_parsers(sub)
    return parser


def run(args, runtime) -> object:
    db, config = runtime.db, runtime.config
    if args.command == "migrate":
        return migrate(runtime, dry_run=args.dry_run)
    if args.command == "backup":
        result = backup.backup(runtime.url, db, Path(args.file))
        if not os.environ.get("SECRET_KEY"):
            # The dump holds HMACs of the client secrets, not the secrets: without the same key they are useless.
            print(f"backup: keep a copy of {config.data_dir / 'keys'} with this file: client API secrets and "
                  "tokens only work with the same SECRET_KEY and JWT_SECRET_KEY", file=sys.stderr)
        return result
    if args.command == "restore":
        result = backup.restore(runtime.url, db, Path(args.file), clean=args.clean)
        result = {**result, **migrate(runtime)}
        # pg_restore --no-owner --no-privileges left the client functions MosPay's own: hand them back.
        db.query("functions_confine")
        return result
    if args.command == "create-service":
        data = {"name": args.name, "service_url": args.service_url, "display_name": args.display_name,
                "currency": args.currency, "timeout_s": args.timeout_s}
        return catalogue.create_service(db, data, config.service_url_allow)
    if args.command == "create-client":
        data = {"company_name": args.company_name, "app_id": args.app_id, "contact_email": args.contact_email,
                "callback_url": args.callback_url}
        return accounts.create_client(db, config.secret_key, data)
    if args.command == "assign":
        return catalogue.assign_service(db, args.app_id, {"service": args.service, "routes": args.routes})
    if args.command == "reconcile":
        from .components import Components
        from .egress import parse_allow
        from .provider import Provider
        # Few connections (one pass), but the server's egress rules: MOSPAY_SERVICE_URL_ALLOW holds here too.
        provider = Provider(maxsize=4, url_allow=parse_allow(config.service_url_allow))
        return Components.build(config, db, provider).reconciler().run_once()
    if args.command == "jobs":
        from .scheduler import job_rows
        return [{k: v for k, v in row.items() if not k.endswith("_epoch")} for row in job_rows(db)]
    if args.command in ("resolve", "stuck", "set-schedule"):
        from . import reconciler
        if args.command == "set-schedule":
            return reconciler.set_schedule(db, args.service, args.seconds)
        if args.command == "stuck":
            return reconciler.stuck_queue(db)
        user = db.one("user_by_username", username=args.user)
        if user is None or not user["active"]:
            raise errors.NotFound("no active admin user with this username", field="user", code="user_not_found")
        return reconciler.resolve(db, args.transaction_id, args.status, user["id"], args.reason)
    if args.command == "deliver-webhooks":
        from .webhooks import Deliverer
        return Deliverer(db, config.secret_key).deliver_due()
    if args.command in JOB_COMMANDS:
        return one_pass(args.command, config, db)
    if args.command == "rotate-webhook-secret":  # audited like the portal's and the admin API's rotation
        from .actions import rotate_webhook_secret
        from .function_commands import operator
        return rotate_webhook_secret(db, operator(db, args.user), config.secret_key, args.app_id, args.overlap)
    if args.command == "prune-logs":
        from .retention import prune_logs
        days = config.log_retention_days if args.days is None else args.days
        return {"deleted": prune_logs(db, days), "retention_days": days}
    if args.command.startswith("function-"):
        return function_commands.run(db, args)
    if args.command == "create-admin":
        password = args.password if args.password is not None else sys.stdin.readline().rstrip("\n")
        user = accounts.create_admin(db, {"username": args.username, "password": password, "role": args.role})
        return {"username": user["username"], "role": user["role"]}
    raise AssertionError(args.command)


def one_pass(command: str, config, db) -> dict:
    """What the scheduler's job calls, called once here: the same function on the same parts, so the
    pass does exactly what the job does (JOB_COMMANDS)."""
    from . import alerts, analytics
    from .components import Components
    if command == "evaluate-alerts":
        return alerts.evaluate(db)
    if command == "fold-rollups":
        return {"folded": analytics.fold(db)}
    parts = Components.build(config, db)  # the server's provider client: the same egress rules
    if command == "deliver-alerts":
        return parts.notifier().deliver_due()  # without MOSPAY_SMTP_URL an email notice fails and is retried
    if command == "deliver-reports":
        if not config.smtp_url:  # as the scheduler, which has no such job then: nothing claimed, nothing failed
            print("deliver-reports: MOSPAY_SMTP_URL is not set; no statement was sent", file=sys.stderr)
            return {"sent": 0, "failed": 0, "skipped": "MOSPAY_SMTP_URL is not set"}
        return parts.report_delivery().deliver_due()
    try:
        return parts.batch_runner(f"cli:{socket.gethostname()}:{os.getpid()}").run_once()
    finally:
        parts.provider.close()


def migrate(runtime, dry_run: bool = False) -> dict:
    """Print the plan, then (unless a dry run) apply it step by step; progress goes to stderr."""
    say = lambda text: print(f"migrate: {text}", file=sys.stderr, flush=True)  # noqa: E731
    plan = schema.plan(runtime.db)
    for line in plan.lines():
        say(line)
    if dry_run:
        return {"schema_version": plan.current, "target_version": plan.target, "would_apply": plan.steps}
    steps = schema.apply(runtime.db)
    for step in steps:
        say(f"applied {step}")
    accounts.ensure_default_admin(runtime.db, runtime.config.admin_password)
    version = schema.current_version(runtime.db)
    if steps:
        say(f"up to date at version {version:03d}")
    return {"schema_version": version, "applied": steps}


def print_config(config, as_json: bool) -> None:
    rows = config.effective()
    if as_json:
        print(json.dumps({r["variable"]: {"value": r["value"], "source": r["source"]} for r in rows},
                         indent=2, default=str))
        return
    width = max(len(r["variable"]) for r in rows)
    for r in rows:
        value = "(unset)" if r["value"] in (None, "") else r["value"]
        if value == "(unset)" and r["variable"] in ("SECRET_KEY", "JWT_SECRET_KEY"):
            value = f"(generated into {config.data_dir / 'keys'})"
        elif value == "(unset)" and r["variable"] == "DATABASE_URL":
            value = f"(embedded PostgreSQL in {config.data_dir / 'pgdata'})"
        print(f"{r['variable']:<{width}}  {value!s:<40}  {r['source']}")


def warn_about_role(config) -> None:
    """`config` names a superuser DATABASE_URL on stderr (the embedded cluster's own role is not one)."""
    if not config.database_url:
        return
    from .db import Database
    db = Database(config.database_url, size=1, timeout=5)
    try:
        warning = rt.role_warning(db)
    finally:
        db.close()
    if warning:
        print(f"warning: {warning}", file=sys.stderr)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = Config.from_env()
        if args.command == "config":
            print_config(config, args.json)
            warn_about_role(config)
            return 0
        # migrate/backup/restore report their own steps; a restore must find the database untouched
        runtime = rt.start(config, migrate=args.command not in ("migrate", "backup", "restore"))
    except (ConfigError, EmbeddedUnavailable, errors.MosPayError) as exc:
        print(json.dumps({"error": {"code": "startup_failed", "message": str(exc)}}), file=sys.stderr)
        return 2
    try:
        result = run(args, runtime)
        if isinstance(result, function_commands.SourceText):
            sys.stdout.write(result if result.endswith("\n") else result + "\n")
        else:
            print(json.dumps(result, indent=2, default=str))
        return 0
    except errors.MosPayError as exc:
        print(json.dumps(exc.to_dict()), file=sys.stderr)
        return 1
    finally:
        runtime.close()


if __name__ == "__main__":
    sys.exit(main())
