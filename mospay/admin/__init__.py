"""The HTMX admin portal at /admin: its route table, static files, guard middleware and error pages."""

from __future__ import annotations

from . import clients, dashboard, functions_pages as fn, operations as ops, records, services, session_pages as sp
from . import alerts_pages, analytics_pages, api_keys_pages, batches_pages, credentials_pages
from . import merchant_users_pages as mu, refunds_pages, reports_pages, roster_pages, statements_pages, users
from .web import ROOT, PortalGuard, error_handler

__all__ = ["error_handler", "install", "portal_routes"]


def portal_routes(parts) -> list[tuple]:
    config, db = parts.config, parts.db
    notifier = parts.notifier()  # the alert rules' "Send test notification" buttons
    return [
        ("/", sp.Home()),
        ("/admin", dashboard.Dashboard(db, parts.breakers, parts.metrics)),
        ("/admin/login", sp.Login(db, config)),
        ("/admin/logout", sp.Logout(db, config)),
        ("/admin/password", sp.Password(db)),
        ("/admin/clients", clients.Clients(db, config)),
        ("/admin/clients/new", clients.ClientNew()),
        ("/admin/clients.csv", roster_pages.ClientsCsv(db)),
        ("/admin/client-import", roster_pages.ClientImport(db, config)),
        ("/admin/clients/{app_id}", clients.ClientItem(db)),
        ("/admin/clients/{app_id}/edit", clients.ClientEdit(db)),
        ("/admin/clients/{app_id}/active", clients.ClientActive(db)),
        ("/admin/clients/{app_id}/rotate", clients.ClientRotate(db, config)),
        ("/admin/clients/{app_id}/services", clients.ClientServices(db)),
        ("/admin/clients/{app_id}/services/{service}/delete", clients.ClientServiceDelete(db)),
        ("/admin/clients/{app_id}/services/{service}/routes/{route}/delete", clients.ClientRouteDelete(db)),
        ("/admin/clients/{app_id}/portal-users", mu.PortalUsers(db, config)),
        ("/admin/clients/{app_id}/portal-users/{user_id}/role", mu.PortalUser(db, config, "role")),
        ("/admin/clients/{app_id}/portal-users/{user_id}/active", mu.PortalUser(db, config, "active")),
        ("/admin/clients/{app_id}/portal-users/{user_id}/reset", mu.PortalUser(db, config, "reset")),
        ("/admin/services", services.Services(db, config)),
        ("/admin/services/new", services.ServiceNew()),
        ("/admin/services/{name}", services.ServiceItem(db, config)),
        ("/admin/services/{name}/fields", services.ServiceFields(db)),
        ("/admin/services/{name}/fields/{code}/delete", services.ServiceFieldDelete(db)),
        ("/admin/functions", fn.Functions(db)),
        ("/admin/functions/{name}", fn.FunctionItem(db)),
        ("/admin/functions/{name}/dry-run", fn.FunctionDryRun(db)),
        ("/admin/functions/{name}/versions/{version_id}", fn.FunctionVersion(db)),
        ("/admin/functions/{name}/versions/{version_id}/restore", fn.FunctionRestore(db)),
        ("/admin/transactions", records.Transactions(db)),
        ("/admin/transactions.csv", records.TransactionsCsv(db)),
        ("/admin/transactions/{public_id}", ops.TransactionItem(db)),
        ("/admin/transactions/{public_id}/resolve", ops.TransactionResolve(db)),
        ("/admin/transactions/{public_id}/webhooks/{event_id}/resend", ops.WebhookResend(db)),
        ("/admin/transactions/{public_id}/refunds", refunds_pages.TransactionRefund(db, parts.refund_caller())),
        ("/admin/transactions/{public_id}/refunds/{refund}/resolve", refunds_pages.RefundResolve(db)),
        ("/admin/stuck", ops.Stuck(db)),
        ("/admin/security", records.SecurityEvents(db)),
        ("/admin/api-logs", records.ApiLogs(db)),
        ("/admin/api-logs/{log_id}", records.ApiLogItem(db)),
        ("/admin/users", users.Users(db)),
        ("/admin/users/{user_id}/active", users.UserActive(db)),
        ("/admin/users/{user_id}/password", users.UserPassword(db)),
        ("/admin/audit", users.Audit(db)),
        ("/admin/api-keys", api_keys_pages.ApiKeys(db, config)),
        ("/admin/api-keys/{key_id}/revoke", api_keys_pages.ApiKeyRevoke(db)),
        ("/admin/credentials", credentials_pages.ProviderCredentials(db, parts.credentials())),
        ("/admin/credentials/delete", credentials_pages.ProviderCredentialDelete(db, parts.credentials())),
        ("/admin/batches", batches_pages.Batches(db)),
        ("/admin/batches/{batch_id}", batches_pages.BatchPage(db)),
        ("/admin/batches/{batch_id}/results.csv", batches_pages.BatchDownload(db, "results")),
        ("/admin/batches/{batch_id}/errors.csv", batches_pages.BatchDownload(db, "errors")),
        ("/admin/batches/{batch_id}/webhooks/{event_id}/resend", batches_pages.BatchWebhookResend(db)),
        *[(f"/admin/batches/{{batch_id}}/{d}", batches_pages.BatchDecision(db, d)) for d in
          ("approve", "reject", "pause", "resume", "cancel")],
        ("/admin/statements", statements_pages.Statements(db, config)),
        ("/admin/statements/exceptions/{exception_id}/resolve",
         statements_pages.StatementExceptionAction(db, config, "resolve")),
        ("/admin/statements/exceptions/{exception_id}/settle",
         statements_pages.StatementExceptionAction(db, config, "settle")),
        ("/admin/alerts", alerts_pages.Alerts(db, config)),
        ("/admin/alerts/history", alerts_pages.AlertHistory(db)),
        ("/admin/alerts/signing-secret", alerts_pages.AlertSigningSecret(db, config)),
        ("/admin/alerts/rules/{rule_id}", alerts_pages.AlertRulePage(db, config, notifier)),
        ("/admin/alerts/rules/{rule_id}/delete", alerts_pages.AlertRuleDelete(db)),
        ("/admin/alerts/rules/{rule_id}/channels/{index}/test", alerts_pages.AlertChannelTest(db, config, notifier)),
        ("/admin/alerts/{alert_id}/acknowledge", alerts_pages.AlertAcknowledge(db)),
        ("/admin/analytics", analytics_pages.AnalyticsPage(db)),
        ("/admin/reports", reports_pages.Reports(db)),
        ("/admin/reports/statement", reports_pages.StatementPage(db)),
        ("/admin/reports/statement.csv", reports_pages.StatementCsv(db)),
        ("/admin/reports/recipients", reports_pages.RecipientAdd(db)),
        ("/admin/reports/recipients/{recipient_id}/delete", reports_pages.RecipientDelete(db)),
    ]


def install(app, parts) -> None:
    """Routes, /static and the guard. The error handlers are create_app's: it wraps each in
    `error_handler`, which answers HTML under /admin."""
    for uri, resource in portal_routes(parts):
        app.add_route(uri, resource)
    app.add_static_route("/static", str(ROOT / "static"))
    app.add_middleware(PortalGuard(parts.db, parts.config))
