"""Operator actions, shared by the portal and the admin API: edits, (de)activation, unassignment, field
definitions, user management, and the audit trail every change writes. No HTTP here."""

from __future__ import annotations

import re

from . import accounts, auth, catalogue, egress, errors, functions, patterns, reconciler, reports, validators, webhooks
from .audit import Actor, audit
from .db import Database

FIELD_TYPES = ("string", "amount", "msisdn", "integer")
# The routing fields the payment flow itself relies on: their definitions may be edited, not removed.
CORE_FIELDS = frozenset(f"f{n:03d}" for n in range(11))


def _flag(data: dict, key: str) -> bool:
    """HTML checkboxes: present ("on", "true", "1") or absent."""
    value = data.get(key)
    return value is True or (isinstance(value, str) and value.lower() in ("on", "true", "1", "yes"))


def client(db: Database, app_id: str) -> dict:
    functions.check_app_id(app_id)
    rows = db.query("client_detail", app_id=app_id)
    if not rows:
        raise errors.NotFound("no client with this app_id", code="client_not_found")
    return rows[0]


def _client_view(row: dict) -> dict:
    return {k: row[k] for k in ("app_id", "company_name", "contact_email", "callback_url", "active")}


def create_client(db: Database, actor: Actor, secret_key: str, data: dict) -> dict:
    created = accounts.create_client(db, secret_key, data)
    audit(db, actor, "client.create", "client", created["app_id"], None, created)
    return created


def update_client(db: Database, actor: Actor, app_id: str, data: dict) -> None:
    before = _client_view(client(db, app_id))
    values = {"company_name": validators.text(data, "company_name"),
              "contact_email": validators.text(data, "contact_email", required=False, max_length=254),
              "callback_url": validators.url(data, "callback_url", required=False),
              "active": _flag(data, "active")}
    db.query("client_update", app_id=app_id, **values)
    audit(db, actor, "client.update", "client", app_id, before, {"app_id": app_id, **values})


def set_client_active(db: Database, actor: Actor, app_id: str, active: bool) -> None:
    """A deactivated client's credentials and tokens are refused at once (the payment path checks)."""
    before = client(db, app_id)
    db.query("client_set_active", app_id=app_id, active=active)
    audit(db, actor, "client.activate" if active else "client.deactivate", "client", app_id,
          {"active": before["active"]}, {"active": active})


def rotate_credentials(db: Database, actor: Actor, secret_key: str, app_id: str, overlap_s: int = 0) -> dict:
    """The operator's rotation (overlap 0 by default: the old secret and its tokens stop at once) and the
    merchant portal's roll (an overlap the user picks): one audited domain function."""
    rotated = accounts.rotate_credentials(db, secret_key, app_id, overlap_s)
    audit(db, actor, "client.rotate_credentials", "client", app_id, None, rotated)
    return rotated


def client_assignments(db: Database, client_id: int) -> list[dict]:
    return db.query("client_assignments", client_id=client_id)


def client_stats(db: Database, client_id: int) -> dict:
    stats = db.query("client_stats", client_id=client_id)[0]
    stats["success_rate"] = (round(100 * stats["successful"] / stats["settled"], 1)
                             if stats["settled"] else None)
    return stats


def assign_service(db: Database, actor: Actor, app_id: str, service: str, routes_text: str) -> dict:
    routes = [r for r in re.split(r"[\s,]+", routes_text or "") if r]
    result = catalogue.assign_service(db, app_id, {"service": service, "routes": routes})
    audit(db, actor, "client.assign_service", "client", app_id, None, result)
    return result


def unassign_service(db: Database, actor: Actor, app_id: str, service: str) -> None:
    """Remove the assignment and drop the functions of every route it had, in one transaction."""
    functions.check_app_id(app_id)
    functions.check_name(service, "service")
    with db.transaction() as tx:
        rows = tx.query("assignment_delete", app_id=app_id, service=service)
        if not rows:
            raise errors.NotFound("this service is not assigned to this client")
        for route in rows[0]["routes"]:
            for statement in functions.drop_function_ddl(app_id, service, route):
                tx.run(statement)
        for statement in functions.drop_refund_function_ddl(app_id, service):
            tx.run(statement)
        audit(tx, actor, "client.unassign_service", "client", app_id,
              {"service": service, "routes": rows[0]["routes"]}, None)


def unassign_route(db: Database, actor: Actor, app_id: str, service: str, route: str) -> None:
    """Remove one route and drop its two functions; removing the last route removes the assignment."""
    functions.request_function_name(app_id, service, route)  # validates all three names
    with db.transaction() as tx:
        rows = tx.query("assignment_remove_route", app_id=app_id, service=service, route=route)
        if not rows:
            raise errors.NotFound("this route is not assigned to this client")
        if not rows[0]["routes"]:
            tx.query("assignment_delete", app_id=app_id, service=service)
            for statement in functions.drop_refund_function_ddl(app_id, service):
                tx.run(statement)
        for statement in functions.drop_function_ddl(app_id, service, route):
            tx.run(statement)
        audit(tx, actor, "client.unassign_route", "client", app_id, {"service": service, "route": route}, None)


def services(db: Database) -> list[dict]:
    return db.query("services_all")


def service(db: Database, name: str) -> dict:
    functions.check_name(name, "service")
    row = db.one("service_by_name", name=name)
    if row is None:
        raise errors.NotFound("no service with this name", code="service_not_found")
    return row


def create_service(db: Database, actor: Actor, data: dict, url_allow: tuple = ()) -> dict:
    created = catalogue.create_service(db, data, url_allow)
    audit(db, actor, "service.create", "service", created["name"], None, created)
    return created


def update_service(db: Database, actor: Actor, name: str, data: dict, url_allow: tuple = ()) -> None:
    row = service(db, name)
    before = {k: row[k] for k in ("display_name", "service_url", "timeout_s", "active", "refund_window_days")}
    values = {"display_name": validators.text(data, "display_name"),
              "service_url": egress.check_service_url(validators.url(data, "service_url", required=True), url_allow),
              "timeout_s": validators.seconds(data, "timeout_s", 300) or row["timeout_s"],
              "active": _flag(data, "active"),
              "refund_window_days": _refund_window(data.get("refund_window_days"), row["refund_window_days"])}
    db.query("service_update", name=name, **values)
    audit(db, actor, "service.update", "service", name, before, values)


def _refund_window(value, current: int) -> int:
    """Days after a payment in which it may be refunded (0: no refunds); absent or "" keeps the current one."""
    if value is None or value == "":
        return current
    text = str(value).strip() if not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 3650:
        raise errors.InvalidField("must be a whole number of days from 0 to 3650", field="refund_window_days")
    return int(text)


def service_fields(db: Database, name: str) -> list[dict]:
    return db.query("service_fields", service=name)


def save_field(db: Database, actor: Actor, name: str, data: dict) -> dict:
    """Add or replace one field definition; the pattern must compile, as the payment path uses it."""
    service(db, name)
    code = validators.field_code(validators.text(data, "code", max_length=4))
    field_type = data.get("field_type") or "string"
    if field_type not in FIELD_TYPES:
        raise errors.InvalidField(f"must be one of {', '.join(FIELD_TYPES)}", field="field_type")
    pattern = validators.text(data, "pattern", required=False, max_length=500)
    if pattern is not None:  # only patterns whose worst case is small (mospay.patterns)
        patterns.check(pattern)
    max_length = (data.get("max_length") or "").strip() if isinstance(data.get("max_length"), str) else None
    if max_length:
        if not (max_length.isascii() and max_length.isdigit()) or not 1 <= int(max_length) <= 4096:  # not "²"
            raise errors.InvalidField("must be a whole number from 1 to 4096", field="max_length")
    values = {"code": code, "label": validators.text(data, "label", max_length=100), "field_type": field_type,
              "required": _flag(data, "required"), "max_length": int(max_length) if max_length else None,
              "pattern": pattern, "secret": _flag(data, "secret") or code in ("f007", "f008")}
    before = {f["code"]: f for f in service_fields(db, name)}.get(code)
    db.query("field_upsert", service=name, **values)
    audit(db, actor, "service.field_save", "service", name,
          None if before is None else {k: before[k] for k in values}, values)
    return values


def delete_field(db: Database, actor: Actor, name: str, code: str) -> None:
    if code in CORE_FIELDS:
        raise errors.InvalidField("the standard fields f000-f010 can be edited but not removed", field="code")
    rows = db.query("field_delete", service=name, code=code)
    if not rows:
        raise errors.NotFound("no such field")
    audit(db, actor, "service.field_delete", "service", name, rows[0], None)


def users(db: Database) -> list[dict]:
    return db.query("users_all")


def create_user(db: Database, actor: Actor, data: dict) -> dict:
    """New users get the password the super_admin typed and must change it at first login."""
    row = accounts.create_admin(db, data, must_change=True)
    audit(db, actor, "user.create", "user", row["username"], None,
          {"username": row["username"], "role": row["role"]})
    return row


def _user(db: Database, user_id: str) -> dict:
    if not re.fullmatch(r"\d{1,18}", str(user_id)):
        raise errors.NotFound("no such user")
    rows = db.query("user_by_id", id=int(user_id))
    if not rows:
        raise errors.NotFound("no such user")
    return rows[0]


def set_user_active(db: Database, actor: Actor, user_id: str, active: bool) -> None:
    user = _user(db, user_id)
    if user["id"] == actor.id:
        raise errors.Forbidden("you cannot deactivate yourself", code="self_deactivation")
    db.query("user_set_active", id=user["id"], active=active)
    if not active:
        db.query("sessions_delete_user", user_id=user["id"], keep=None)
    audit(db, actor, "user.activate" if active else "user.deactivate", "user", user["username"],
          {"active": user["active"]}, {"active": active})


def set_user_role(db: Database, actor: Actor, user_id: str, role) -> None:
    """Takes effect on the user's next request (every request reads the role); never one's own, so the
    last super_admin cannot demote themselves by mistake."""
    user = _user(db, user_id)
    if role not in accounts.ROLES:
        raise errors.InvalidField(f"must be one of {', '.join(accounts.ROLES)}", field="role")
    if user["id"] == actor.id:
        raise errors.Forbidden("you cannot change your own role", code="self_role_change")
    if role == user["role"]:
        return
    db.query("user_set_role", id=user["id"], role=role)
    audit(db, actor, "user.set_role", "user", user["username"], {"role": user["role"]}, {"role": role})


def reset_password(db: Database, actor: Actor, user_id: str, password) -> None:
    """A temporary password: the user must choose a new one at next login; their sessions end now."""
    user = _user(db, user_id)
    validators.password(password)
    db.query("user_reset_password", id=user["id"], password_hash=auth.hash_password(password))
    db.query("sessions_delete_user", user_id=user["id"], keep=None)
    audit(db, actor, "user.reset_password", "user", user["username"], None, {"password": password})


def audit_page(db: Database, q: str | None, before_at, before_id, limit: int = 50,
               show_source: bool = True) -> list[dict]:
    """A page of the audit trail; a function's source in it only when show_source (a role that may read
    the source on the function's own page)."""
    rows = db.query("audit_page", q=q, before_at=before_at, before_id=before_id, limit=limit)
    if not show_source:
        for row in rows:
            for key in ("before", "after"):
                if row["target_type"] == "function" and isinstance(row[key], dict) and "source" in row[key]:
                    row[key] = {**row[key], "source": "(hidden: your role may not read function source)"}
    return rows


def resolve_transaction(db: Database, actor: Actor, public_id: str, status, reason) -> dict:
    """An operator settles an open transaction. reconciler.resolve writes the state and the status history
    (with the user and the reason) atomically; the audit row follows, like every other portal change."""
    before = reports.transaction(db, public_id)["status"]  # 404 for an unknown id, before anything else
    result = reconciler.resolve(db, public_id, status, actor.id, reason)
    audit(db, actor, "transaction.resolve", "transaction", public_id, {"status": before},
          {"status": result["status"], "reason": reason.strip()})
    return result


def resend_webhook(db: Database, actor: Actor, public_id: str, event_id: str) -> dict:
    """Queue one of this transaction's webhook events again (same event id: clients deduplicate on it)."""
    if event_id not in {e["event_id"] for e in webhooks.events_of_transaction(db, public_id)}:
        raise errors.NotFound("this transaction has no such webhook event", code="event_not_found")
    result = webhooks.resend(db, event_id)
    audit(db, actor, "webhook.resend", "transaction", public_id, None, {"event_id": event_id})
    return result


def resend_batch_webhook(db: Database, actor: Actor, batch_id: str, event_id: str) -> dict:
    """Queue one of this batch's own events again (batch.completed, batch.failed; same event id), audited
    against the batch as a payment's event is against its transaction."""
    if event_id not in {e["event_id"] for e in webhooks.events_of_batch(db, batch_id)}:
        raise errors.NotFound("this batch has no such webhook event", code="event_not_found")
    result = webhooks.resend(db, event_id)
    audit(db, actor, "webhook.resend", "batch", batch_id, None, {"event_id": event_id})
    return result


def resend_webhook_event(db: Database, actor: Actor, event_id: str) -> dict:
    """resend_webhook by event id alone (the admin API's shape): the same queueing and the same audit row.
    A batch's event goes as on the batch page; a test event (the merchant portal's test.ping) has neither
    transaction nor batch: it is queued and audited by itself."""
    event = webhooks.event(db, event_id)
    if event["transaction_id"] is not None:
        return resend_webhook(db, actor, event["transaction_id"], event_id)
    if event["batch_id"] is not None:
        return resend_batch_webhook(db, actor, event["batch_id"], event_id)
    result = webhooks.resend(db, event_id)
    audit(db, actor, "webhook.resend", "webhook_event", event_id, None, {"event_id": event_id})
    return result


def services_page(db: Database, after: str | None, limit: int) -> tuple[list[dict], str | None]:
    """The admin API's services, newest first, in keyset pages."""
    after_at, after_id = validators.cursor(after)
    return reports.keyset_page(db, "services_after", {"after_at": after_at, "after_id": after_id}, limit)


def clients_page(db: Database, q: str | None, after: str | None, limit: int) -> tuple[list[dict], str | None]:
    """The admin API's clients: the portal's search (app_id, company, email), newest first, keyset pages."""
    after_at, after_id = validators.cursor(after)
    return reports.keyset_page(db, "clients_after", {"q": q, "after_at": after_at, "after_id": after_id}, limit)


def rotate_webhook_secret(db: Database, actor: Actor, secret_key: str, app_id: str,
                          overlap_s: int = 86400) -> dict:
    """A new webhook secret, shown this once (the audit row masks it); the old one signs too for overlap_s."""
    client(db, app_id)
    rotated = webhooks.rotate_secret(db, secret_key, app_id, overlap_s)
    audit(db, actor, "client.rotate_webhook_secret", "client", app_id, None, rotated)
    return rotated
