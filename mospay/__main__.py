"""The management CLI: `python -m mospay <command>`, printing JSON. Same service layer as the admin API."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import errors, onboarding, runtime as rt
from .config import Config, ConfigError
from .embedded import EmbeddedUnavailable


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mospay", description="Manage a MosPay installation.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply schema.sql and pending migrations")
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
    p = sub.add_parser("prune-logs", help="delete api_logs rows older than MOSPAY_LOG_RETENTION_DAYS (batched)")
    p.add_argument("--days", type=int, help="override MOSPAY_LOG_RETENTION_DAYS for this run")
    p = sub.add_parser("create-admin", help="create an admin user")
    p.add_argument("username")
    p.add_argument("--role", default="admin", choices=onboarding.ROLES)
    p.add_argument("--password", help="default: read from standard input")
    return parser


def run(args, runtime) -> object:
    db, config = runtime.db, runtime.config
    if args.command == "migrate":
        return {"schema": "up to date"}
    if args.command == "create-service":
        data = {"name": args.name, "service_url": args.service_url, "display_name": args.display_name,
                "currency": args.currency, "timeout_s": args.timeout_s}
        return onboarding.create_service(db, data)
    if args.command == "create-client":
        data = {"company_name": args.company_name, "app_id": args.app_id, "contact_email": args.contact_email,
                "callback_url": args.callback_url}
        return onboarding.create_client(db, config.secret_key, data)
    if args.command == "assign":
        return onboarding.assign_service(db, args.app_id, {"service": args.service, "routes": args.routes})
    if args.command == "prune-logs":
        from .retention import prune_logs
        days = config.log_retention_days if args.days is None else args.days
        return {"deleted": prune_logs(db, days), "retention_days": days}
    if args.command == "create-admin":
        password = args.password if args.password is not None else sys.stdin.readline().rstrip("\n")
        user = onboarding.create_admin(db, {"username": args.username, "password": password, "role": args.role})
        return {"username": user["username"], "role": user["role"]}
    raise AssertionError(args.command)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        runtime = rt.start(Config.from_env())
    except (ConfigError, EmbeddedUnavailable, errors.MosPayError) as exc:
        print(json.dumps({"error": {"code": "startup_failed", "message": str(exc)}}), file=sys.stderr)
        return 2
    try:
        print(json.dumps(run(args, runtime), indent=2, default=str))
        return 0
    except errors.MosPayError as exc:
        print(json.dumps(exc.to_dict()), file=sys.stderr)
        return 1
    finally:
        runtime.close()


if __name__ == "__main__":
    sys.exit(main())
