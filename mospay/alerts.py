"""Alerts: each rule evaluated on its metric, one alert per (rule, service, client) going pending -> firing
(after for_s) -> resolved, with a notice queued per channel on firing, every repeat_s while firing and
unacknowledged, and on resolving; acknowledgement, the history and one alert's delivery log."""

from __future__ import annotations

import datetime as dt
import json
import logging

from . import alert_metrics, alert_rules, errors, reports, validators
from .audit import Actor, audit
from .db import Database

log = logging.getLogger("mospay.alerts")
STATES = ("pending", "firing", "resolved")
FILTERS = ("state", "rule_id", "severity", "service", "app_id", "since")


def evaluate(db: Database, now: dt.datetime | None = None) -> dict:
    """One pass over every rule (the scheduler's evaluate_alerts job). `now`: None is the database's
    clock; tests pass a time to step through for_s and repeat_s. A rule whose query fails is logged and
    skipped: it never stops the others. Notices are only queued here (mospay/notify.py sends them)."""
    at = db.one("alert_now", now=now)["now"]
    counts = {"rules": 0, "pending": 0, "firing": 0, "resolved": 0, "notices": 0, "errors": 0}
    for rule in alert_rules.rules(db):
        counts["rules"] += 1
        try:
            _evaluate_rule(db, rule, at, counts)
        except errors.MosPayError as exc:
            counts["errors"] += 1
            log.warning("alert rule %s (%s) not evaluated: %s", rule["id"], rule["name"], exc.message)
    return counts


def _evaluate_rule(db: Database, rule: dict, at: dt.datetime, counts: dict) -> None:
    # A disabled rule observes nothing: its open alerts resolve (and say so) like any other.
    observed = {(r["service"], r["app_id"]): r for r in alert_metrics.measure(db, rule, at)} if rule["enabled"] else {}
    with db.transaction() as tx:
        open_alerts = {(a["service"], a["app_id"]): a for a in tx.query("alerts_open_of_rule", rule_id=rule["id"])}
        for key in sorted(observed.keys() | open_alerts.keys(), key=lambda k: (k[0] or "", k[1] or "")):
            row, alert = observed.get(key), open_alerts.get(key)
            breach = row is not None and alert_metrics.breaching(rule, row)
            value, n = (row["value"], row["n"]) if row is not None else (None, None)
            state, kind = _next(rule, alert, breach, at)
            if state is None:
                continue
            if state == "forget":
                tx.query("alert_forget", id=alert["id"])
                continue
            counts[state] += 1
            if alert is None:
                alert_id = tx.one("alert_open", rule_id=rule["id"], service=key[0], app_id=key[1], state=state,
                                  value=_text(value), n=n, now=at, notified=kind is not None)["id"]
            else:
                alert_id = alert["id"]
            # alert_open leaves last_notified_at to this update, as every later step does.
            tx.query("alert_observe", id=alert_id, state=state, value=_text(value), n=n, now=at,
                     notified=kind is not None)
            if kind is not None:
                counts["notices"] += queue_notices(tx, rule, tx.one("alert_detail", id=alert_id), kind)


def _next(rule: dict, alert: dict | None, breach: bool, at: dt.datetime) -> tuple[str | None, str | None]:
    """(the alert's next state, or "forget", or None for no alert; the notice to send, or None)."""
    if alert is None:
        if not breach:
            return None, None
        return ("firing", "firing") if rule["for_s"] == 0 else ("pending", None)
    if not breach:
        return ("forget", None) if alert["state"] == "pending" else ("resolved", "resolved")
    if alert["state"] == "pending":
        held = (at - alert["created_at"]).total_seconds()
        return ("firing", "firing") if held >= rule["for_s"] else ("pending", None)
    last = alert["last_notified_at"] or alert["fired_at"]
    due = alert["acknowledged_at"] is None and (at - last).total_seconds() >= rule["repeat_s"]
    return "firing", ("repeat" if due else None)


def _text(value) -> str | None:
    return None if value is None else str(value)


def describe(alert: dict, kind: str) -> tuple[str, str]:
    """(subject, text) of a notice: one line a chat channel shows, the same as the email's first line."""
    unit = alert_rules.UNITS.get(alert["metric"], "")
    value = "no data" if alert["value"] is None else f"{number(alert['value'])}{unit}"
    scope = ", ".join(p for p in (f"service {alert['service']}" if alert["service"] else "",
                                  f"client {alert['app_id']}" if alert["app_id"] else "") if p) or "all traffic"
    head = {"firing": "FIRING", "repeat": "STILL FIRING", "resolved": "RESOLVED", "test": "TEST"}[kind]
    subject = f"[{head}] {alert['severity']}: {alert['rule']} ({scope})"
    text = (f"{head} {alert['severity']}: {alert['rule']}: {alert['metric']} = {value} "
            f"(rule: {alert['op']} {number(alert['threshold'])}{unit} over {alert['window_s']} s) for {scope}")
    if kind == "resolved":
        text += f"; resolved at {_when(alert['resolved_at'])}"
    elif alert.get("fired_at"):
        text += f"; firing since {_when(alert['fired_at'])}"
    return subject, f"{text}. Alert #{alert['id']}."


def number(value) -> str:
    text = f"{value:f}" if value is not None else ""
    return text.rstrip("0").rstrip(".") if "." in text else text


def _when(value) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def message(alert: dict, kind: str) -> dict:
    """What a webhook receives (Slack and Mattermost show `text`) and what the delivery keeps."""
    _, text = describe(alert, kind)
    fields = ("id", "rule_id", "rule", "metric", "severity", "state", "service", "app_id", "value", "op",
              "threshold", "window_s", "created_at", "fired_at", "resolved_at", "acknowledged_by")
    detail = {k: (v.isoformat() if isinstance(v, dt.datetime) else _text(v) if k in ("value", "threshold") else v)
              for k, v in ((k, alert.get(k)) for k in fields)}
    return {"text": text, "kind": kind, "alert": detail}


def queue_notices(tx, rule: dict, alert: dict, kind: str) -> int:
    """One delivery per channel of the rule, in the caller's transaction (with the state change)."""
    subject, _ = describe(alert, kind)
    body = json.dumps(message(alert, kind))
    for channel in rule["channels"] or []:
        tx.query("alert_delivery_insert", alert_id=alert["id"], rule_id=rule["id"], kind=kind,
                 channel=json.dumps(channel), subject=subject, message=body)
    return len(rule["channels"] or [])


def alert(db: Database, alert_id) -> dict:
    key = validators.row_id(alert_id)
    row = db.one("alert_detail", id=key) if key is not None else None
    if row is None:
        raise errors.NotFound("no such alert", code="alert_not_found")
    return row


def deliveries(db: Database, alert_id: int) -> list[dict]:
    return db.query("alert_deliveries_of_alert", alert_id=alert_id)


def acknowledge(db: Database, actor: Actor, alert_id) -> dict:
    """An operator has seen it: no more repeat notices for this alert (the resolve notice still goes)."""
    before = alert(db, alert_id)
    if before["state"] == "resolved":
        raise errors.Conflict("the alert is resolved", code="alert_resolved")
    if db.one("alert_acknowledge", id=before["id"], username=actor.username) is None:
        raise errors.Conflict("the alert is already acknowledged (or resolved)", code="alert_acknowledged")
    after = alert(db, before["id"])
    audit(db, actor, "alert.acknowledge", "alert", before["id"],
          {"state": before["state"]}, {"acknowledged_by": actor.username, "rule": before["rule"]})
    return after


def check_filters(params: dict) -> dict:
    """The history's filters (API query string, portal form) as query parameters; a bad one is a 422."""
    found = {k: None for k in FILTERS}
    state = params.get("state") or None
    if state is not None and state not in (*STATES, "open"):
        raise errors.InvalidField("must be pending, firing, resolved or open", field="state")
    found["state"] = state
    if params.get("rule_id"):
        found["rule_id"] = validators.row_id(params["rule_id"])
        if found["rule_id"] is None:
            raise errors.InvalidField("must be a rule id", field="rule_id")
    severity = params.get("severity") or None
    if severity is not None and severity not in alert_rules.SEVERITIES:
        raise errors.InvalidField("must be info, warning or critical", field="severity")
    found["severity"] = severity
    for key in ("service", "app_id"):
        found[key] = validators.text(params, key, required=False, max_length=64)
    if params.get("since"):
        try:
            since = dt.datetime.fromisoformat(str(params["since"])[:40])
        except ValueError:
            raise errors.InvalidField("must be a date or time (ISO 8601)", field="since") from None
        found["since"] = since if since.tzinfo else since.replace(tzinfo=dt.timezone.utc)
    return found


def alerts_page(db: Database, params: dict, after: str | None, limit: int) -> tuple[list[dict], str | None]:
    """The history, newest first, in keyset pages."""
    before_at, before_id = validators.cursor(after)
    return reports.keyset_page(db, "alerts_page", {**check_filters(params), "before_at": before_at,
                                                   "before_id": before_id}, limit)


def test_notice(rule: dict) -> dict:
    """The message a test notification carries: the rule's, marked TEST."""
    sample = {"id": 0, "rule_id": rule["id"], "rule": rule["name"], "metric": rule["metric"],
              "severity": rule["severity"], "state": "test", "service": rule.get("service"),
              "app_id": rule.get("app_id"), "value": None, "op": rule["op"], "threshold": rule["threshold"],
              "window_s": rule["window_s"], "created_at": None, "fired_at": None, "resolved_at": None}
    subject, _ = describe(sample, "test")
    return {"subject": subject, "message": message(sample, "test")}
