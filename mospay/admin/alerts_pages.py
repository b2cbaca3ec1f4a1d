"""Alerting in the portal: open alerts with Acknowledge, the rules (create, edit, delete, a test button per
channel), the delivery log, the webhook signing secret, and the alert history with filters."""

from __future__ import annotations

import falcon

from .. import actions, alert_metrics, alert_rules, alerts, errors, notify
from ..audit import audit
from .web import EDITORS, actor, form, render, see_other

RULE_TEXT = ("name", "metric", "service", "app_id", "op", "threshold", "measure", "window_s", "min_count", "for_s",
             "repeat_s", "severity")


def rule_from_form(data: dict) -> dict:
    """The form's fields as the API's rule: channels from two text areas (one URL / address per line)."""
    # A blank field is None: "the default" (every service, no minimum...), also when editing a rule.
    rule = {k: (data[k].strip() or None) if isinstance(data.get(k), str) else None for k in RULE_TEXT}
    channels = [{"type": "webhook", "url": u.strip()} for u in str(data.get("webhooks") or "").splitlines()
                if u.strip()]
    emails = [a.strip() for a in str(data.get("emails") or "").replace(",", "\n").splitlines() if a.strip()]
    if emails:
        channels.append({"type": "email", "to": emails})
    rule["channels"] = channels
    rule["enabled"] = data.get("enabled") in ("on", "1", "true")
    return rule


def draft_of(row: dict) -> dict:
    """A stored rule as the form shows it."""
    draft = {k: ("" if row.get(k) is None else str(row[k])) for k in RULE_TEXT}
    draft["threshold"] = alerts.number(row["threshold"])
    channels = row.get("channels") or []
    draft["webhooks"] = "\n".join(c["url"] for c in channels if c["type"] == "webhook")
    draft["emails"] = "\n".join(a for c in channels if c["type"] == "email" for a in c["to"])
    draft["enabled"] = row.get("enabled", True)
    return draft


def _context(db) -> dict:
    return {"metrics": alert_metrics.MEANINGS, "severities": alert_rules.SEVERITIES,
            "services": actions.services(db), "units": alert_rules.UNITS}


class Alerts:
    """GET: open alerts, rules, the new-rule form, recent deliveries. POST (admin, super_admin): a new rule."""

    write_roles = EDITORS

    def __init__(self, db, config):
        self._db = db
        self._config = config

    def show(self, req, resp, *, status=falcon.HTTP_200, error=None, draft=None, secret=None):
        open_alerts, _ = alerts.alerts_page(self._db, {"state": "open"}, None, 100)
        render(req, resp, "admin/alerts.html", partial="admin/_alerts_open.html", status=status, error=error,
               draft=draft or {"enabled": True, "op": "<", "severity": "warning", "window_s": "300"},
               rules=alert_rules.rules(self._db), open_alerts=open_alerts, secret=secret,
               deliveries=self._db.query("alert_deliveries_recent", limit=20), **_context(self._db))

    def on_get(self, req, resp):
        self.show(req, resp)

    def on_post(self, req, resp):
        data = form(req)
        try:
            row = alert_rules.create(self._db, actor(req), rule_from_form(data))
        except (errors.InvalidField, errors.NotFound, errors.Conflict) as exc:
            return self.show(req, resp, status=falcon.code_to_http_status(exc.status), error=exc, draft=data)
        see_other(resp, f"/admin/alerts#rule-{row['id']}")


class AlertRulePage:
    """GET: one rule's edit form, its channels with a test button each. POST: save it."""

    write_roles = EDITORS

    def __init__(self, db, config, notifier: notify.Notifier):
        self._db = db
        self._notifier = notifier

    def show(self, req, resp, row, *, status=falcon.HTTP_200, error=None, draft=None, tested=None):
        render(req, resp, "admin/alert_rule.html", status=status, rule=row, draft=draft or draft_of(row),
               error=error, tested=tested, **_context(self._db))

    def on_get(self, req, resp, rule_id):
        self.show(req, resp, alert_rules.rule(self._db, rule_id))

    def on_post(self, req, resp, rule_id):
        row = alert_rules.rule(self._db, rule_id)
        data = form(req)
        try:
            alert_rules.update(self._db, actor(req), row["id"], rule_from_form(data))
        except (errors.InvalidField, errors.NotFound, errors.Conflict) as exc:
            return self.show(req, resp, row, status=falcon.code_to_http_status(exc.status), error=exc, draft=data)
        see_other(resp, f"/admin/alerts#rule-{row['id']}")


class AlertRuleDelete:
    write_roles = EDITORS

    def __init__(self, db):
        self._db = db

    def on_post(self, req, resp, rule_id):
        alert_rules.delete(self._db, actor(req), rule_id)
        see_other(resp, "/admin/alerts")


class AlertChannelTest(AlertRulePage):
    """POST: send a test notification to the channel now; the rule page shows what the channel answered."""

    def on_post(self, req, resp, rule_id, index):
        form(req)
        row = alert_rules.rule(self._db, rule_id)
        channel = alert_rules.channel(row, index)
        result = self._notifier.test(channel, alerts.test_notice(row))
        audit(self._db, actor(req), "alert_rule.test_notification", "alert_rule", row["id"], None,
              {"channel": alert_rules.masked(channel), "delivered": result["delivered"]})
        self.show(req, resp, row, tested={"index": int(index), **result})


class AlertAcknowledge:
    write_roles = EDITORS

    def __init__(self, db):
        self._db = db

    def on_post(self, req, resp, alert_id):
        back = form(req).get("next")
        alerts.acknowledge(self._db, actor(req), alert_id)
        see_other(resp, "/admin/alerts/history" if back == "history" else "/admin/alerts")


class AlertSigningSecret(Alerts):
    """POST: show the secret alert webhooks are signed with, once, on this page (audited)."""

    def on_post(self, req, resp):
        form(req)
        audit(self._db, actor(req), "alert.signing_secret.reveal", "alert_signing_secret", None)
        self.show(req, resp, secret=notify.signing_secret(self._config.secret_key))


class AlertHistory:
    """GET: every alert, newest first, filtered by state, rule, severity, service, client and start date."""

    def __init__(self, db):
        self._db = db

    def on_get(self, req, resp):
        params = {k: (req.get_param(k) or "").strip()[:64] for k in (*alerts.FILTERS, "after")}
        params = {k: v for k, v in params.items() if v}
        try:
            rows, after = alerts.alerts_page(self._db, params, params.get("after"), 50)
            error = None
        except errors.InvalidField as exc:
            rows, after, error = [], None, f"{exc.field}: {exc.message}"
        query = {k: v for k, v in params.items() if k != "after"}
        next_url = ("/admin/alerts/history?" + falcon.to_query_str({**query, "after": after})[1:]) if after else None
        render(req, resp, "admin/alert_history.html", partial="admin/_alert_history_table.html", rows=rows,
               error=error, filters=query, next_url=next_url, rules=alert_rules.rules(self._db),
               severities=alert_rules.SEVERITIES)
