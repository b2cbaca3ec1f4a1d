"""Batches in headless Chromium: a client's batch (uploaded through the same upload code as the API) is
approved by a second person, an operator, from the portal; the HTMX-polled progress bar follows it to
COMPLETED without a reload, and the results download is offered."""

from __future__ import annotations

import hashlib

import pytest

from mospay import accounts, batch_upload, catalogue
from mospay.audit import Actor
from mospay.db import Database
from mospay.payments import PaymentGateway
from mospay.provider import Provider
from tests.browser.conftest import admin_sign_in
from tests.integration.portal_support import PASSWORD, password_hash

pytestmark = pytest.mark.browser
ROWS = 20


def _upload(db, simulator_url: str) -> str:
    catalogue.create_service(db, {"name": "brwpay", "service_url": simulator_url, "timeout_s": 5})
    db.run("DELETE FROM service_fields f USING services s WHERE s.id = f.service_id AND s.name = 'brwpay' "
           "AND f.code IN ('f007', 'f008')")  # no secret field: this test's process does not hold the server's key
    accounts.create_client(db, "k" * 32, {"app_id": "brwshop", "company_name": "Browser Shop"})
    catalogue.assign_service(db, "brwshop", {"service": "brwpay", "routes": ["collection"]})
    rows = [(i, {"f000": "brwpay", "f001": "collection", "f002": "collection", "f004": "250.00",
                 "f005": "+250788123456", "f006": "payee", "f009": "dev", "f010": f"brw-{i}"})
            for i in range(2, ROWS + 2)]
    provider = Provider(maxsize=1)
    try:
        answer, _ = batch_upload.upload(db, PaymentGateway(db, provider, "k" * 32), Actor(None, "client:brwshop", "client"),
                                        db.one("batch_client", app_id="brwshop"), iter(rows),
                                        hashlib.sha256(b"browser").hexdigest(), name="december payouts", key=None,
                                        store_key="unused")
    finally:
        provider.close()
    assert answer["status"] == "AWAITING_APPROVAL" and answer["valid_rows"] == ROWS, (answer, db.run(
        "SELECT errors FROM batch_rows WHERE errors IS NOT NULL LIMIT 2"))
    return answer["batch_id"]


def test_second_person_approves_and_watches_the_batch_complete(browser, live):
    db = Database(live["db_url"], size=2)  # the upload's transaction, and the payment context it reads
    try:
        db.one("insert_user", username="checker", password_hash=password_hash(), role="admin", must_change=False)
        batch = _upload(db, live["simulator"])
    finally:
        db.close()

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(20_000)
    admin_sign_in(page, live["url"], "checker", PASSWORD)

    page.click("nav.main-nav >> text=Batches")
    page.wait_for_url("**/admin/batches")
    page.click(f"#batches a:has-text('{batch}')")
    page.wait_for_url(f"**/admin/batches/{batch}")
    assert page.locator("#batch-status").inner_text() == "AWAITING_APPROVAL"
    assert page.locator("text=Every row is valid.").count() == 1
    page.click("#approve")  # a boosted form: HTMX follows the 303 and swaps the page in
    page.wait_for_selector("text=approved by admin:checker")
    # No reload from here on: the progress partial is polled by HTMX until the batch is over.
    page.wait_for_function("() => document.querySelector('#batch-status').textContent === 'COMPLETED'",
                           timeout=60_000)
    assert page.locator("#batch-bar").get_attribute("value") == str(ROWS)
    assert page.locator("#batch-counts tr", has_text="SUCCESSFUL").locator("td.num").first.inner_text() == str(ROWS)
    results = page.request.get(live["url"] + f"/admin/batches/{batch}/results.csv")
    assert results.status == 200 and results.text().count("SUCCESSFUL") == ROWS
    context.close()
