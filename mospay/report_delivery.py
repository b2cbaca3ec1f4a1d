"""Scheduled statements by email: the recipients operators pick per client (audited), and the scheduler
job that mails yesterday's daily and last month's monthly statement once per period, with a delivery log."""

from __future__ import annotations

import datetime as dt
import logging

from . import client_reports, errors, functions, validators
from .audit import Actor, audit
from .db import Database
from .mail import Mailer, MailError

log = logging.getLogger("mospay.reports")
INTERVAL_S = 300.0  # how often the job looks for a statement to send
LEASE_S = 600  # a delivery claimed by a run that died is taken over after this
MAX_ATTEMPTS = 5  # per delivery, one per run; then it is given up (the log says why)
KINDS = ("daily", "monthly")


def _flag(data: dict, key: str) -> bool:
    value = data.get(key, True)
    if isinstance(value, bool):
        return value
    if value in ("on", "true", "1"):
        return True
    if value in ("", "off", "false", "0", None):
        return False
    raise errors.InvalidField("must be true or false", field=key)


def email_address(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise errors.InvalidField("is required", field="email")
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    if (len(value) > 254 or not local or "." not in domain or value.count("@") != 1
            or any(c in value for c in "\r\n<>,; \t\"'\x00")):
        raise errors.InvalidField("must be one plain address like finance@example.com", field="email")
    return value


def recipients(db: Database, client_id: int | None = None) -> list[dict]:
    return db.query("report_recipients", client_id=client_id)


def add_recipient(db: Database, actor: Actor, data: dict) -> dict:
    """{"client": app_id, "email", "daily"?, "monthly"?} (both default true); the same address again
    changes which statements it gets."""
    app_id = validators.text(data, "client", max_length=64)
    functions.check_app_id(app_id, "client")
    email = email_address(data.get("email"))
    daily, monthly = _flag(data, "daily"), _flag(data, "monthly")
    if not daily and not monthly:
        raise errors.InvalidField("choose daily, monthly or both", field="daily")
    client = db.query("report_scope_client", app_id=app_id)
    if not client:
        raise errors.NotFound("no client with this app id", field="client", code="client_not_found")
    row = db.one("add_report_recipient", client_id=client[0]["id"], email=email, daily=daily, monthly=monthly,
                 created_by=actor.username)
    audit(db, actor, "report_recipient.save", "client", app_id, after={"email": email, "daily": daily,
                                                                       "monthly": monthly})
    return recipient(db, row["id"])


def recipient(db: Database, recipient_id) -> dict:
    rows = db.query("report_recipient", id=_id(recipient_id))
    if not rows:
        raise errors.NotFound("no such report recipient")
    return rows[0]


def remove_recipient(db: Database, actor: Actor, recipient_id) -> dict:
    row = recipient(db, recipient_id)
    db.query("delete_report_recipient", id=row["id"])
    audit(db, actor, "report_recipient.delete", "client", row["app_id"], before={"email": row["email"]})
    return row


def _id(value) -> int:
    key = validators.row_id(value or "", digits=18)
    if key is None:
        raise errors.NotFound("no such report recipient")
    return key


def deliveries_page(db: Database, after: str | None, limit: int, client_id: int | None = None):
    before_at, before_id = validators.cursor(after)
    rows = db.query("report_deliveries_page", client_id=client_id, after_at=before_at, after_id=before_id,
                    limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (validators.cursor_text(rows[-1]) if more else None)


class ReportDelivery:
    """The scheduler job: each run claims this period's deliveries (daily: yesterday, monthly: last month,
    UTC), builds each client's statement once and mails it to each of its recipients."""

    def __init__(self, db: Database, mailer: Mailer, clock=None):
        self._db = db
        self._mailer = mailer
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))

    def deliver_due(self) -> dict:
        """{"sent": n, "failed": n}; a failing relay fails those deliveries, never the run."""
        counts = {"sent": 0, "failed": 0}
        now = self._clock()
        for kind in KINDS:
            p = client_reports.previous(kind, now)
            claimed = self._db.query("claim_report_deliveries", kind=kind, period_start=p.start.date(),
                                     period_end=p.end, lease_s=LEASE_S, max_attempts=MAX_ATTEMPTS)
            built: dict[int, tuple] = {}
            for row in claimed:
                error = self._send(row, p, built)
                self._db.query("finish_report_delivery", id=row["id"], error=error, max_attempts=MAX_ATTEMPTS)
                counts["failed" if error else "sent"] += 1
        return counts

    def _send(self, row: dict, p, built: dict) -> str | None:
        try:
            if row["client_id"] not in built:
                app_id = self._db.query("report_recipient_client", client_id=row["client_id"])[0]["app_id"]
                sc = client_reports.scope(self._db, app_id)
                data = client_reports.statement(self._db, sc, p, now=self._clock())
                body = b"".join(client_reports.statement_csv(self._db, sc, p, data))
                built[row["client_id"]] = (data, body)
            data, body = built[row["client_id"]]
            subject = (f"MosPay {p.kind} statement {p.label}: "
                       f"{data['scope']['company_name'] or data['scope']['client']}")
            self._mailer.send(row["email"], subject, client_reports.text(data),
                              attachments=[(client_reports.filename(data), "text/csv", body)])
            return None
        except (MailError, errors.MosPayError) as exc:
            message = str(getattr(exc, "message", None) or exc)[:500]
            log.warning("statement %s %s to %s: not sent: %s", p.kind, p.label, row["email"], message)
            return message
