"""Provider statements in headless Chromium: an operator uploads a statement from the portal's form, sees
each discrepancy with its reason, and resolves one with a reason from the exception queue."""

from __future__ import annotations

import pytest

from mospay.db import Database
from tests.browser.conftest import admin_sign_in
from tests.integration.portal_support import PASSWORD, password_hash
from tests.integration.test_admin_api_statements import plant, planted

pytestmark = pytest.mark.browser


class Books:
    def __init__(self, ids):
        self.ids = ids


def test_operator_uploads_a_statement_and_resolves_an_exception(browser, live, tmp_path):
    db = Database(live["db_url"], size=1)
    try:
        db.one("insert_user", username="recon", password_hash=password_hash(), role="admin", must_change=False)
        books = Books(plant(db, "s" * 32, "stmtpay", "stmtother", "stmtshop"))  # apart from other tests' names
    finally:
        db.close()
    statement = tmp_path / "november.csv"
    statement.write_text(planted(books), encoding="utf-8")

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    admin_sign_in(page, live["url"], "recon", PASSWORD)

    page.click("nav.main-nav >> text=Statements")
    page.wait_for_url("**/admin/statements")
    page.select_option("#upload select[name=service]", "stmtpay")
    page.set_input_files("#upload input[name=file]", str(statement))
    page.click("#upload button:has-text('Upload and match')")
    page.wait_for_url("**/admin/statements?statement=*")
    assert page.locator("#statements td:has-text('november.csv')").count() == 1
    assert page.locator("#exceptions tbody tr").count() == 9
    row = page.locator("#exceptions tr", has_text="amount mismatch")
    assert row.locator("text=the provider's amount differs beyond the tolerance").count() == 1

    row.locator("input[name=reason]").fill("the provider deducted its fee")
    row.locator("button:has-text('Resolve')").click()
    page.wait_for_function("() => document.querySelectorAll('#exceptions tbody tr').length === 8")
    assert page.locator("#exceptions tr", has_text="amount mismatch").count() == 0
    context.close()

    db = Database(live["db_url"], size=1)
    try:
        audit = db.run("SELECT action, after FROM audit_log WHERE username = 'recon' ORDER BY id")
    finally:
        db.close()
    assert [a["action"] for a in audit] == ["statement.upload", "statement_exception.resolve"]
    assert audit[-1]["after"]["reason"] == "the provider deducted its fee"
