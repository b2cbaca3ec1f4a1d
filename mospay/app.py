"""create_app: wires configuration, database and provider into a Falcon app; the route table lives here."""

from __future__ import annotations

import http
import json
import logging
import secrets
import time

import falcon

from . import __version__, admin as portal, batches, errors, merchant, migrate
from .api import admin, callbacks as callback_api, docs, guard, health, metrics as metrics_api
from .api import batches as batch_api, credentials as credential_api, payments as payment_api, refunds as refund_api
from .api import admin_alerts, admin_batches, admin_catalogue, admin_clients, admin_functions, admin_keys
from .api import admin_merchant_users, admin_records, admin_refunds, admin_reports, admin_roster, admin_statements
from .api import admin_users
from .auth import Tokens
from .components import Components
from .observe import RequestObserver
from .payments import RequestMeta
from .provider import Provider
from .proxy import TrustedProxies
from .redact import mask
from .security import RateLimits, storable

log = logging.getLogger("mospay.app")


def routes(parts: Components, schema_version: int | None = None):
    config, db = parts.config, parts.db
    tokens = Tokens(config.jwt_secret_key, config.token_ttl_s, api_key_secret=config.secret_key)
    rate_limits = RateLimits(config.rate_limit_per_minute, db)
    gateway = parts.gateway
    item = payment_api.PaymentItem(gateway, tokens, config.max_body_bytes)
    activation = admin_clients.ClientActivation(db, tokens, config)
    notifier = parts.notifier()  # test notifications sent from the admin API
    return [
        ("/healthz", health.Health(__version__, schema_version, migrate.SCHEMA_VERSION), {}),
        ("/readyz", health.Ready(db), {}),
        ("/api/v1/auth/token", payment_api.TokenResource(db, tokens, config.secret_key, rate_limits), {}),
        ("/api/v1/payment/process", payment_api.PaymentCollection(gateway, tokens, config.max_body_bytes), {}),
        ("/api/v1/payment/status", item, {"suffix": "status"}),
        ("/api/v1/payment/{f010}", item, {}),
        ("/api/v1/payment/{f010}/refund",
         refund_api.PaymentRefund(db, parts.refund_caller(), tokens, config.secret_key, config.max_body_bytes), {}),
        # Batches: many payments from one upload (mospay/batches.py).
        ("/api/v1/batches", batch_api.BatchCollection(db, gateway, tokens, config), {}),
        ("/api/v1/batches/{batch_id}", batch_api.BatchItem(db, gateway, tokens, config), {}),
        ("/api/v1/batches/{batch_id}/errors", batch_api.BatchErrors(db, gateway, tokens, config), {}),
        ("/api/v1/batches/{batch_id}/results", batch_api.BatchResults(db, gateway, tokens, config), {}),
        *[(f"/api/v1/batches/{{batch_id}}/{d}", batch_api.BatchAction(db, gateway, tokens, config, d), {})
          for d in batches.CLIENT_DECISIONS],
        ("/api/v1/admin/batches", admin_batches.BatchCollection(db, tokens, config), {}),
        ("/api/v1/admin/batches/{batch_id}", admin_batches.BatchItem(db, tokens, config), {}),
        ("/api/v1/admin/batches/{batch_id}/errors", admin_batches.BatchErrors(db, tokens, config), {}),
        ("/api/v1/admin/batches/{batch_id}/results", admin_batches.BatchResults(db, tokens, config), {}),
        *[(f"/api/v1/admin/batches/{{batch_id}}/{d}", admin_batches.BatchAction(db, tokens, config, d), {})
          for d in batches.DECISIONS],
        ("/api/v1/admin/clients/{app_id}/batch-settings", admin_batches.ClientBatchSettings(db, tokens, config), {}),
        ("/api/v1/admin/services/{service}/batch-limits", admin_batches.ServiceBatchLimits(db, tokens, config), {}),
        ("/api/v1/admin/token", admin.AdminToken(db, tokens, config), {}),
        ("/api/v1/admin/password", admin.AdminPassword(db, tokens, config), {}),
        # These four also answer GET now (subclasses of the POST/PUT resources, in the modules below).
        ("/api/v1/admin/services", admin_catalogue.ServiceCollection(db, tokens, config), {}),
        ("/api/v1/admin/clients", admin_clients.ClientCollection(db, tokens, config), {}),
        ("/api/v1/admin/clients.csv", admin_roster.ClientsCsv(db, tokens, config), {}),
        ("/api/v1/admin/clients/{app_id}/services", admin_clients.ClientAssignments(db, tokens, config), {}),
        ("/api/v1/admin/clients/{app_id}/limits", admin_clients.ClientLimitsView(db, tokens, config), {}),
        ("/api/v1/admin/services/{service}/credentials",
         credential_api.ServiceCredentials(db, tokens, config, parts.credentials()), {}),
        ("/api/v1/admin/services/{service}/credentials/{name}",
         credential_api.ServiceCredential(db, tokens, config, parts.credentials()), {}),
        # Admin API: services and fields, clients, functions (the portal's actions, mospay/actions.py).
        ("/api/v1/admin/services/{service}", admin_catalogue.ServiceItem(db, tokens, config), {}),
        ("/api/v1/admin/services/{service}/fields", admin_catalogue.ServiceFields(db, tokens, config), {}),
        ("/api/v1/admin/services/{service}/fields/{code}", admin_catalogue.ServiceField(db, tokens, config), {}),
        ("/api/v1/admin/clients/{app_id}", admin_clients.ClientItem(db, tokens, config), {}),
        ("/api/v1/admin/clients/{app_id}/deactivate", activation, {"suffix": "deactivate"}),
        ("/api/v1/admin/clients/{app_id}/reactivate", activation, {"suffix": "reactivate"}),
        ("/api/v1/admin/clients/{app_id}/rotate-secret", admin_clients.ClientSecretRotation(db, tokens, config), {}),
        ("/api/v1/admin/clients/{app_id}/secrets", admin_clients.ClientSecretGenerations(db, tokens, config), {}),
        ("/api/v1/admin/clients/{app_id}/rotate-webhook-secret",
         admin_clients.ClientWebhookSecretRotation(db, tokens, config), {}),
        ("/api/v1/admin/clients/{app_id}/services/{service}", admin_clients.ClientAssignment(db, tokens, config), {}),
        ("/api/v1/admin/clients/{app_id}/services/{service}/routes/{route}",
         admin_clients.ClientRoute(db, tokens, config), {}),
        ("/api/v1/admin/functions", admin_functions.FunctionCollection(db, tokens, config), {}),
        ("/api/v1/admin/functions/{name}", admin_functions.FunctionItem(db, tokens, config), {}),
        ("/api/v1/admin/functions/{name}/dry-run", admin_functions.FunctionDryRun(db, tokens, config), {}),
        ("/api/v1/admin/functions/{name}/versions", admin_functions.FunctionVersions(db, tokens, config), {}),
        ("/api/v1/admin/functions/{name}/versions/{version}", admin_functions.FunctionVersion(db, tokens, config), {}),
        ("/api/v1/admin/functions/{name}/versions/{version}/restore",
         admin_functions.FunctionRestore(db, tokens, config), {}),
        # Admin API, records: transactions (stuck ones: ?stuck=true), webhook resends, logs, audit.
        ("/api/v1/admin/transactions", admin_records.Transactions(db, tokens, config), {}),
        ("/api/v1/admin/transactions.csv", admin_records.TransactionsCsv(db, tokens, config), {}),
        ("/api/v1/admin/transactions/{transaction_id}", admin_records.TransactionItem(db, tokens, config), {}),
        ("/api/v1/admin/transactions/{transaction_id}/resolve",
         admin_records.TransactionResolve(db, tokens, config), {}),
        ("/api/v1/admin/transactions/{transaction_id}/refunds",
         admin_refunds.TransactionRefunds(db, tokens, config, parts.refund_caller()), {}),
        ("/api/v1/admin/transactions/{transaction_id}/refunds/{refund}/resolve",
         admin_refunds.RefundResolve(db, tokens, config), {}),
        ("/api/v1/admin/webhook-events/{event_id}/resend", admin_records.WebhookResend(db, tokens, config), {}),
        ("/api/v1/admin/api-logs", admin_records.ApiLogs(db, tokens, config), {}),
        ("/api/v1/admin/api-logs/{log_id}", admin_records.ApiLogItem(db, tokens, config), {}),
        ("/api/v1/admin/security-events", admin_records.SecurityEvents(db, tokens, config), {}),
        ("/api/v1/admin/audit", admin_records.Audit(db, tokens, config), {}),
        # Admin API keys for automation, and admin users.
        ("/api/v1/admin/api-keys", admin_keys.ApiKeys(db, tokens, config), {}),
        ("/api/v1/admin/api-keys/{key_id}", admin_keys.ApiKey(db, tokens, config), {}),
        ("/api/v1/admin/users", admin_users.Users(db, tokens, config), {}),
        ("/api/v1/admin/users/{username}", admin_users.User(db, tokens, config), {}),
        ("/api/v1/admin/users/{username}/reset-password", admin_users.UserPasswordReset(db, tokens, config), {}),
        # Provider statements and their exception queue.
        ("/api/v1/admin/services/{service}/statements", admin_statements.ServiceStatements(db, tokens, config), {}),
        ("/api/v1/admin/services/{service}/statement-format",
         admin_statements.StatementFormat(db, tokens, config), {}),
        ("/api/v1/admin/statements", admin_statements.StatementCollection(db, tokens, config), {}),
        ("/api/v1/admin/statements/{statement_id}", admin_statements.StatementItem(db, tokens, config), {}),
        ("/api/v1/admin/statement-exceptions", admin_statements.ExceptionCollection(db, tokens, config), {}),
        ("/api/v1/admin/statement-exceptions/{exception_id}",
         admin_statements.ExceptionItem(db, tokens, config), {}),
        ("/api/v1/admin/statement-exceptions/{exception_id}/resolve",
         admin_statements.ExceptionResolve(db, tokens, config), {}),
        ("/api/v1/admin/statement-exceptions/{exception_id}/settle",
         admin_statements.ExceptionSettle(db, tokens, config), {}),
        # A client's merchant-portal users (mospay/merchant_accounts.py).
        ("/api/v1/admin/clients/{app_id}/users", admin_merchant_users.MerchantUsers(db, tokens, config), {}),
        ("/api/v1/admin/clients/{app_id}/users/{email}", admin_merchant_users.MerchantUser(db, tokens, config), {}),
        ("/api/v1/admin/clients/{app_id}/users/{email}/reset-password",
         admin_merchant_users.MerchantUserPasswordReset(db, tokens, config), {}),
        # Alerting: rules, test notifications, the alert history, acknowledgement, the signing secret.
        ("/api/v1/admin/alert-rules", admin_alerts.AlertRules(db, tokens, config), {}),
        ("/api/v1/admin/alert-rules/{rule_id}", admin_alerts.AlertRule(db, tokens, config), {}),
        ("/api/v1/admin/alert-rules/{rule_id}/channels/{index}/test",
         admin_alerts.AlertChannelTest(db, tokens, config, notifier), {}),
        ("/api/v1/admin/alerts", admin_alerts.AlertCollection(db, tokens, config), {}),
        ("/api/v1/admin/alerts/{alert_id}", admin_alerts.AlertItem(db, tokens, config), {}),
        ("/api/v1/admin/alerts/{alert_id}/acknowledge", admin_alerts.AlertAcknowledge(db, tokens, config), {}),
        ("/api/v1/admin/alert-signing-secret", admin_alerts.AlertSigningSecret(db, tokens, config), {}),
        # Analytics, client statements and their scheduled email delivery.
        ("/api/v1/admin/analytics", admin_reports.Analytics(db, tokens, config), {}),
        ("/api/v1/admin/reports/statement", admin_reports.Statement(db, tokens, config), {}),
        ("/api/v1/admin/reports/statement.csv", admin_reports.StatementCsv(db, tokens, config), {}),
        ("/api/v1/admin/report-recipients", admin_reports.Recipients(db, tokens, config), {}),
        ("/api/v1/admin/report-recipients/{recipient_id}", admin_reports.Recipient(db, tokens, config), {}),
        ("/api/v1/admin/report-deliveries", admin_reports.Deliveries(db, tokens, config), {}),
        # The API reference and operations endpoints.
        ("/api/v1/openapi.json", docs.OpenApiDocument(), {}),
        ("/docs", docs.DocsPage(), {}),
        ("/docs/docs.css", docs.DocsStyle(), {}),
        ("/metrics", metrics_api.Metrics(config.metrics_token, parts.metrics), {}),
        ("/api/v1/callbacks/{service}",
         callback_api.ProviderCallbacks(db, parts.reconciler(), config), {}),
    ]


def create_app(config, db, provider: Provider | None = None, *, parts: Components | None = None,
               schema_version: int | None = None) -> falcon.App:
    """The app. `parts` (breakers, metrics, jobs) is built here from the config unless the caller
    (run.py) built it to share with the scheduler: either way with Components.build. schema_version:
    what start-up found in the database (runtime.Runtime), shown by /healthz."""
    parts = parts or Components.build(config, db, provider)
    # RequestObserver first: its timing and access log wrap everything, the api_logs insert included.
    app = falcon.App(middleware=[RequestObserver(config.trusted_proxies, parts.metrics), ApiLog(db),
                                 *guard.middleware(config, db, parts.metrics)])
    app.req_options.strip_url_path_trailing_slash = True
    for uri, resource, kwargs in routes(parts, schema_version):
        app.add_route(uri, resource, **kwargs)
    portal.install(app, parts)
    merchant.install(app, parts)
    # Registered once, here: under /admin and /portal they answer HTML, elsewhere the JSON bodies below.
    for exception, handler in ((Exception, _unexpected_error), (falcon.HTTPError, _http_error),
                               (errors.MosPayError, _mospay_error)):
        app.add_error_handler(exception, merchant.error_handler(portal.error_handler(handler)))
    return app


def served_app(config, db, *, schema_version: int | None = None):
    """What run.py serves, and what the API tests call in-process: the app behind TrustedProxies
    (X-Forwarded-* believed only from MOSPAY_TRUSTED_PROXIES), and its Components, whose scheduler
    (breakers and metrics shared with the app) the caller starts."""
    parts = Components.build(config, db)
    app = create_app(config, db, parts=parts, schema_version=schema_version)
    return TrustedProxies(app, config.trusted_proxies), parts


def _mospay_error(req, resp, exc, params):
    if getattr(exc, "log_facts", None) is not None:  # a refused payment says what its log row should hold
        req.context.log_facts = exc.log_facts
    resp.status = falcon.code_to_http_status(exc.status)
    resp.media = exc.to_dict()
    for name, value in exc.headers.items():
        resp.set_header(name, value)


def _http_error(req, resp, exc, params):
    """Falcon's own errors (unknown route, wrong method...) in the same JSON shape as ours."""
    resp.status = exc.status
    phrase = http.HTTPStatus(exc.status_code).phrase
    resp.media = {"error": {"code": phrase.lower().replace(" ", "_").replace("-", "_"),
                            "message": exc.description or phrase}}
    for name, value in (exc.headers or {}).items():
        resp.set_header(name, value)


def _unexpected_error(req, resp, exc, params):
    # The detail goes to the server log under the request id; the client gets the id, never the detail.
    log.exception("unhandled error in %s %s [request %s]", req.method, req.path,
                  getattr(req.context, "request_id", "-"))
    resp.status = falcon.HTTP_500
    resp.media = {"error": {"code": "internal_error",
                            "message": "internal error; quote the X-Request-ID header when reporting it"}}


class ApiLog:
    """Request id on every response, and one api_logs row per /api/ call (payments write their own)."""

    def __init__(self, db):
        self._db = db

    def process_request(self, req, resp):
        # RequestObserver has already chosen the id (possibly a trusted proxy's).
        req.context.request_id = getattr(req.context, "request_id", None) or secrets.token_hex(8)
        # storable(): a path like /api/v1/payment/%00 or a NUL in a header must not lose the log row.
        req.context.request = RequestMeta(request_id=req.context.request_id, endpoint=storable(req.path, 200),
                                          method=req.method, ip=req.remote_addr,
                                          user_agent=storable(req.user_agent or "", 300) or None,
                                          started=time.perf_counter())
        # What API resources learn about the caller (client_id, a Bearer caller's app_id).
        req.context.log = {"app_id": storable(req.get_header("App-ID") or req.get_header("X-App-ID") or "", 64) or None}

    def process_response(self, req, resp, resource, req_succeeded):
        resp.set_header("X-Request-ID", req.context.request_id)
        # The payment domain reports what it learned (LogFacts): on its outcome, or on the refusal it raised.
        facts = getattr(req.context, "log_facts", None)
        if (facts is not None and facts.written) or not req.path.startswith("/api/"):
            return
        meta, entry = req.context.request, req.context.log
        client_id = facts.client_id if facts is not None and facts.client_id else entry.get("client_id")
        generation = facts.key_generation if facts is not None and facts.client_id else entry.get("key_generation")
        try:
            self._db.query(
                "insert_api_log", **meta.log_row(client_id, entry["app_id"], generation if client_id else None),
                status_code=int(resp.status_code),
                request_body=_json(facts.request_body if facts else None), response_body=_json(mask(resp.media)))
        except Exception:  # an unwritable log must not turn an answer into a 500, but it is a gap: ERROR
            log.error("could not write api_logs row for request %s", meta.request_id, exc_info=True)


def _json(value):
    return None if value is None else json.dumps(value, default=str)
