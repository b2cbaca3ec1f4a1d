"""The merchant portal at /portal: each client's own staff. Its route table, guard and error pages.

For helpers adding pages: add `(uri, resource)` to `portal_routes` (the tenant walk in
tests/integration/test_merchant_tenant_walk.py finds it by itself); a resource declares `actions`
(see mospay/merchant/web.py), reads `req.context.merchant` (mospay.merchant_roles.MerchantUser) and
scopes every query by its client_id in SQL; templates extend `merchant/base.html`."""

from __future__ import annotations

from . import analytics_pages, batches_pages, dashboard, docs_page, keys_pages as keys, records_pages as records
from . import refunds_pages, reports_pages, session_pages as sp, settings_pages as settings, team
from .web import MerchantGuard, error_handler

__all__ = ["error_handler", "install", "portal_routes"]


def portal_routes(parts) -> list[tuple]:
    config, db = parts.config, parts.db
    return [
        ("/portal", dashboard.Dashboard(db)),
        ("/portal/login", sp.Login(db, config)),
        ("/portal/login/totp", sp.LoginTotp(db, config)),
        ("/portal/logout", sp.Logout(db, config)),
        ("/portal/invite/{token}", sp.Link(db, config, "invite")),
        ("/portal/reset/{token}", sp.Link(db, config, "reset")),
        ("/portal/forgot", sp.Forgot(db, config)),
        ("/portal/team", team.Team(db, config)),
        ("/portal/team/totp", team.TeamTotp(db, config)),
        ("/portal/team/{user_id}/role", team.TeamMember(db, config, "role")),
        ("/portal/team/{user_id}/active", team.TeamMember(db, config, "active")),
        ("/portal/team/{user_id}/invite", team.TeamMember(db, config, "invite")),
        ("/portal/settings", settings.Settings(db, config)),
        ("/portal/settings/password", settings.Password(db, config)),
        ("/portal/settings/sessions", settings.SignOutEverywhere(db, config)),
        ("/portal/settings/totp", settings.Totp(db, config)),
        ("/portal/docs", docs_page.Docs(db, config)),
        # Transactions, API logs, keys and webhooks (records_pages.py, keys_pages.py).
        ("/portal/transactions", records.Transactions(db)),
        ("/portal/transactions.csv", records.TransactionsCsv(db)),
        ("/portal/transactions/{transaction_id}", records.TransactionItem(db)),
        ("/portal/transactions/{transaction_id}/webhooks/{event_id}/resend", records.TransactionResend(db)),
        # Refunds, analytics and statements (refunds_pages.py, analytics_pages.py, reports_pages.py).
        ("/portal/transactions/{transaction_id}/refunds", refunds_pages.TransactionRefund(db, parts.refund_caller())),
        ("/portal/analytics", analytics_pages.Analytics(db)),
        ("/portal/reports", reports_pages.Reports(db)),
        ("/portal/reports/statement", reports_pages.StatementPage(db)),
        ("/portal/reports/statement.csv", reports_pages.StatementCsv(db)),
        # Batches (batches_pages.py): upload, report, progress, downloads, decisions.
        ("/portal/batches", batches_pages.Batches(db, parts)),
        ("/portal/batches/{batch_id}", batches_pages.BatchPage(db)),
        ("/portal/batches/{batch_id}/results.csv", batches_pages.BatchDownload(db, "results")),
        ("/portal/batches/{batch_id}/errors.csv", batches_pages.BatchDownload(db, "errors")),
        ("/portal/batches/{batch_id}/webhooks/{event_id}/resend", batches_pages.BatchWebhookResend(db)),
        *[(f"/portal/batches/{{batch_id}}/{d}", batches_pages.BatchDecision(db, d)) for d in batches_pages.DECISIONS],
        ("/portal/api-logs", records.ApiLogs(db)),
        ("/portal/api-logs/{log_id}", records.ApiLogItem(db)),
        ("/portal/keys", keys.Keys(db, config)),
        ("/portal/webhooks", keys.Webhooks(db, config)),
        ("/portal/webhooks/test", keys.WebhookTest(db, config)),
        ("/portal/webhooks/secret", keys.WebhookSecret(db, config)),
        ("/portal/webhooks/{event_id}/resend", keys.WebhookResend(db, config)),
    ]


def install(app, parts) -> None:
    """Routes and the guard (/static is the admin portal's, shared). The error handlers are create_app's:
    it wraps each in `error_handler`, which answers HTML under /portal."""
    for uri, resource in portal_routes(parts):
        app.add_route(uri, resource)
    app.add_middleware(MerchantGuard(parts.db, parts.config))
