"""The catalogue: services, their field definitions, and which client may use which service and
routes (with the per-client functions each route needs). Shared by the admin API, the CLI and the portal."""

from __future__ import annotations

import re
from decimal import Decimal

from . import egress, errors, function_editor, functions
from .db import Database
from .payments import STANDARD_FIELDS
from .validators import seconds, text, url


def create_service(db: Database, data: dict, url_allow: tuple = ()) -> dict:
    """A service with the eleven standard field definitions f000-f010. url_allow: MOSPAY_SERVICE_URL_ALLOW
    (empty: any URL but link-local and cloud-metadata addresses)."""
    name = functions.check_name(text(data, "name", max_length=24), "name")
    currency = text(data, "currency", required=False, max_length=3) or "RWF"
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise errors.InvalidField("must be a 3-letter ISO code like RWF", field="currency")
    values = {
        "name": name,
        "display_name": text(data, "display_name", required=False) or name,
        "service_url": egress.check_service_url(url(data, "service_url", required=True), url_allow),
        "currency": currency,
        "timeout_s": seconds(data, "timeout_s", 300) or Decimal("30"),
        "connect_timeout_s": seconds(data, "connect_timeout_s", 60) or Decimal("5"),
    }
    try:
        with db.transaction() as tx:
            service = tx.one("insert_service", **values)
            for code, label, kind, required, max_length, pattern, secret in STANDARD_FIELDS:
                tx.query("insert_service_field", service_id=service["id"], code=code, label=label,
                         field_type=kind, required=required, max_length=max_length, pattern=pattern,
                         secret=secret)
    except errors.Conflict:
        raise errors.Conflict("a service with this name already exists", field="name",
                              code="already_exists") from None
    return _public_service(service)


def _public_service(row: dict) -> dict:
    return {"name": row["name"], "display_name": row["display_name"], "service_url": row["service_url"],
            "currency": row["currency"], "timeout_s": float(row["timeout_s"]),
            "connect_timeout_s": float(row["connect_timeout_s"]), "active": row["active"],
            "created_at": row["created_at"].isoformat()}


def assign_service(db: Database, app_id: str, data: dict) -> dict:
    """Assign a service with its routes and (re)create the request, RESPONSE and Status function of each
    route, and the client's refund functions for the service."""
    functions.check_app_id(app_id)
    service = functions.check_name(text(data, "service", max_length=24), "service")
    routes = data.get("routes")
    if not isinstance(routes, list) or not routes or len(routes) > 20:
        raise errors.InvalidField("must be a list of 1-20 routes", field="routes")
    for route in routes:
        functions.check_name(route, "routes")
    ddl = [stmt for route in sorted(set(routes)) for stmt in functions.create_function_ddl(app_id, service, route)]
    ddl += functions.create_refund_function_ddl(app_id, service)  # one refund set per client and service
    with db.transaction() as tx:
        client = tx.one("client_by_app_id", app_id=app_id)
        if client is None:
            raise errors.NotFound("no client with this app_id", field="app_id", code="client_not_found")
        svc = tx.one("service_by_name", name=service)
        if svc is None:
            raise errors.NotFound("no service with this name", field="service", code="service_not_found")
        assignment = tx.one("upsert_assignment", client_id=client["client_id"], service_id=svc["id"],
                            routes=sorted(set(routes)))
        names = [functions.request_function_name(app_id, service, r) for r in sorted(set(routes))]
        created = [n for name in names
                   for n in (name, functions.response_function_name_unchecked(name), name + "Status")]
        created += list(functions.refund_function_names(app_id, service) or ())
        function_editor.install(tx, ddl, created)
    return {"app_id": app_id, "service": service, "routes": assignment["routes"], "functions": created}
