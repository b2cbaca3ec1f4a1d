"""Admin API for alerting: alert rules (CRUD), a test notification per channel, the alert history (keyset
pages with filters), acknowledging an alert, and revealing the secret alert webhooks are signed with."""

from __future__ import annotations

import falcon

from .. import alert_rules, alerts, notify
from ..audit import audit
from .admin import WRITE_ROLES, AdminResource, actor_of
from .admin_records import page_limit, plain, query_params
from .common import strict_body


def rule_view(row: dict, user: dict | None = None) -> dict:
    """Editors see webhook URLs whole (to change them); viewers only their host."""
    return plain(alert_rules.view(row, reveal=user is None or user["role"] in WRITE_ROLES))


def alert_view(row: dict) -> dict:
    return plain({k: row[k] for k in ("id", "rule_id", "rule", "metric", "severity", "service", "app_id", "state",
                                      "value", "observed_count", "op", "threshold", "window_s", "created_at",
                                      "fired_at", "resolved_at", "evaluated_at", "last_notified_at",
                                      "acknowledged_by", "acknowledged_at")})


class _Alerts(AdminResource):
    def __init__(self, db, tokens, config, notifier: notify.Notifier | None = None):
        super().__init__(db, tokens, config)
        self._notifier = notifier


class AlertRules(_Alerts):
    """GET every rule (a short list: no pages); POST a new one."""

    def on_get(self, req, resp):
        user = self._reader(req)
        query_params(req, ())
        resp.media = {"items": [rule_view(r, user) for r in alert_rules.rules(self._db)]}

    def on_post(self, req, resp):
        user = self._writer(req)
        data = strict_body(req, self._config, alert_rules.FIELDS)
        resp.media = rule_view(alert_rules.create(self._db, actor_of(req, user), data))
        resp.status = falcon.HTTP_201


class AlertRule(_Alerts):
    def on_get(self, req, resp, rule_id):
        user = self._reader(req)
        resp.media = rule_view(alert_rules.rule(self._db, rule_id), user)

    def on_patch(self, req, resp, rule_id):
        user = self._writer(req)
        data = strict_body(req, self._config, alert_rules.FIELDS)
        resp.media = rule_view(alert_rules.update(self._db, actor_of(req, user), rule_id, data))

    def on_delete(self, req, resp, rule_id):
        user = self._writer(req)
        alert_rules.delete(self._db, actor_of(req, user), rule_id)
        resp.status = falcon.HTTP_204


class AlertChannelTest(_Alerts):
    """POST: send a test notification to the rule's channel number `index` now; 200 with the channel's
    answer whether it took it or not (delivered: false says why), logged in the delivery log."""

    def on_post(self, req, resp, rule_id, index):
        user = self._writer(req)
        strict_body(req, self._config, (), empty_ok=True)
        row = alert_rules.rule(self._db, rule_id)
        channel = alert_rules.channel(row, index)
        result = self._notifier.test(channel, alerts.test_notice(row))
        audit(self._db, actor_of(req, user), "alert_rule.test_notification", "alert_rule", row["id"], None,
              {"channel": alert_rules.masked(channel), "delivered": result["delivered"]})
        resp.media = result


class AlertCollection(_Alerts):
    """The history, newest first: ?state=pending|firing|resolved|open ?rule_id= ?severity= ?service= ?app_id=
    ?since= (ISO 8601), ?after= ?limit=."""

    def on_get(self, req, resp):
        self._reader(req)
        params = query_params(req, (*alerts.FILTERS, "after", "limit"))
        rows, following = alerts.alerts_page(self._db, params, params.get("after"), page_limit(params))
        resp.media = {"items": [alert_view(r) for r in rows], "next": following}


class AlertItem(_Alerts):
    def on_get(self, req, resp, alert_id):
        self._reader(req)
        row = alerts.alert(self._db, alert_id)
        deliveries = [{**d, "channel": alert_rules.masked(d["channel"])} for d in alerts.deliveries(self._db, row["id"])]
        resp.media = {**alert_view(row), "deliveries": plain(deliveries)}


class AlertAcknowledge(_Alerts):
    """POST: the operator has seen it (audited); no more repeat notices. 409 when resolved or acknowledged."""

    def on_post(self, req, resp, alert_id):
        user = self._writer(req)
        strict_body(req, self._config, (), empty_ok=True)
        resp.media = alert_view(alerts.acknowledge(self._db, actor_of(req, user), alert_id))


class AlertSigningSecret(_Alerts):
    """POST: the secret alert webhooks are signed with (audited; never stored, derived from SECRET_KEY)."""

    def on_post(self, req, resp):
        user = self._writer(req)
        strict_body(req, self._config, (), empty_ok=True)
        audit(self._db, actor_of(req, user), "alert.signing_secret.reveal", "alert_signing_secret", None)
        resp.media = {"signing_secret": notify.signing_secret(self._config.secret_key),
                      "header": "MosPay-Signature", "scheme": "t=<unix>,v1=<hex HMAC-SHA256 of '<t>.<body>'>"}
        resp.cache_control = ["no-store"]
