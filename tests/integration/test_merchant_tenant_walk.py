"""No /portal URL lets one client's staff reach another client's records: every operation of the real route
table under /portal (found by walking it, so pages added later are covered without editing this file) is
called by a signed-in owner of client bravo with client alpha's ids in the path and in the body. A path
naming an alpha id answers 404; no answer carries alpha's data; alpha's rows are exactly as they were.
A control first shows alpha's own owner does get those pages.

Adding a route with a new path parameter: add how to get alpha's value for it to CONCRETE (the walk fails
and says so otherwise), and plant that record in `plant_alpha` if it is a new kind of record."""

from __future__ import annotations

import re

import pytest

from mospay import catalogue, merchant_accounts
from mospay.audit import Actor
from tests.integration.merchant_support import MerchantPortal, merchant_client, merchant_user
from tests.integration.portal_support import Site
from tests.integration.test_admin_api_routes import HTTP_METHODS, operations

PORTAL_OPERATIONS = operations(lambda template: template == "/portal" or template.startswith("/portal/"))
# Path parameter -> alpha's value for it, from the `alpha` dict plant_alpha returns.
CONCRETE = {
    "user_id": lambda alpha: str(alpha["user_id"]),
    "transaction_id": lambda alpha: alpha["transaction_id"],
    "event_id": lambda alpha: alpha["event_id"],
    "log_id": lambda alpha: str(alpha["log_id"]),
    "batch_id": lambda alpha: alpha["batch_id"],
    # A one-time link is a credential, not an id: whoever holds a live one may open it by design (links are
    # tested live, single-use and hashed in test_admin_api_merchant_users). Here: a well-formed dead one.
    "token": lambda alpha: "x" * 43,
}
NOT_IDS = {"token"}  # no control for these: alpha's owner has no live link to open either
ALPHA = "alphasecret7"  # an app id and a marker no page of bravo's may show
SECRET_EMAIL = "hidden.owner@alpha-co.example"


def plant_alpha(site) -> dict:
    """Alpha's records of every kind a /portal path can name: a user, a payment with its webhook event,
    an API call, a live invite, a batch awaiting approval."""
    merchant_client(site, ALPHA, company="Alpha Hidden Company")
    owner = merchant_user(site, ALPHA, "owner", SECRET_EMAIL, with_totp=True)
    invite = merchant_accounts.invite(site.db, site.config.secret_key, Actor(None, "test", "admin"),
                                      owner["client_id"], {"email": "pending@alpha-co.example", "role": "viewer"},
                                      "http://x")
    catalogue.create_service(site.db, {"name": "walksvc", "service_url": "http://127.0.0.1:9"})
    txn = site.db.run("""
        INSERT INTO transactions (client_id, service_id, route, f010, amount, msisdn, request, request_hash, status)
        SELECT :c, s.id, 'collection', 'alpha-order-1', 4321, '+250788000001', '{}', 'h-walk', 'SUCCESSFUL'
          FROM services s WHERE s.name = 'walksvc'
        RETURNING id, public_id""", c=owner["client_id"])[0]
    site.db.run("""INSERT INTO webhook_events (client_id, transaction_id, event_type, payload)
                   VALUES (:c, :t, 'payment.succeeded', '{"f010": "alpha-order-1"}') ON CONFLICT DO NOTHING""",
                c=owner["client_id"], t=txn["id"])
    event = site.db.run("SELECT event_id FROM webhook_events WHERE transaction_id = :t", t=txn["id"])[0]["event_id"]
    log_id = site.db.run("""INSERT INTO api_logs (client_id, app_id, endpoint, method, status_code, request_id)
                            VALUES (:c, :a, '/api/v1/payment/process', 'POST', 200, 'alpha-request-1')
                            RETURNING id""", c=owner["client_id"], a=ALPHA)[0]["id"]
    batch = site.db.run("""
        INSERT INTO batches (client_id, name, upload_sha256, status, rows, valid_rows, total_amount, uploaded_by)
        VALUES (:c, 'alpha-batch-name', 'h-walk', 'AWAITING_APPROVAL', 1, 1, 4321, 'client:' || :a)
        RETURNING id, public_id""", c=owner["client_id"], a=ALPHA)[0]
    site.db.run("""INSERT INTO batch_rows (batch_id, line_no, service_id, f010, amount, fields, state)
                   SELECT :b, 2, s.id, 'alpha-order-2', 4321, '{}', 'QUEUED' FROM services s WHERE s.name = 'walksvc'""",
                b=batch["id"])
    return {"user_id": owner["id"], "owner": owner, "batch_id": batch["public_id"], "invite_token": invite["invite_url"].rsplit("/", 1)[1],
            "transaction_id": txn["public_id"], "event_id": event, "log_id": log_id}


@pytest.fixture(scope="module")
def walk_site(postgres, portal_template):
    name = postgres.create_database(template=portal_template)
    site = Site(postgres.url_for(name))
    site.alpha = plant_alpha(site)
    merchant_client(site, "bravo")
    yield site
    site.db.close()
    postgres.drop_database(name)


def alpha_rows(site) -> list:
    """Everything of alpha's a merchant page could change."""
    return [site.db.run("SELECT * FROM merchant_users u JOIN clients c ON c.id = u.client_id WHERE c.app_id = :a "
                        "ORDER BY u.id", a=ALPHA),
            site.db.run("SELECT * FROM merchant_settings m JOIN clients c ON c.id = m.client_id WHERE c.app_id = :a",
                        a=ALPHA),
            site.db.run("SELECT * FROM merchant_tokens t JOIN merchant_users u ON u.id = t.user_id "
                        "JOIN clients c ON c.id = u.client_id WHERE c.app_id = :a ORDER BY t.id", a=ALPHA),
            site.db.run("SELECT count(*) FROM merchant_sessions s JOIN clients c ON c.id = s.client_id "
                        "WHERE c.app_id = :a", a=ALPHA),
            site.db.run("SELECT t.* FROM transactions t JOIN clients c ON c.id = t.client_id WHERE c.app_id = :a",
                        a=ALPHA),
            site.db.run("SELECT e.* FROM webhook_events e JOIN clients c ON c.id = e.client_id WHERE c.app_id = :a",
                        a=ALPHA),
            site.db.run("SELECT b.* FROM batches b JOIN clients c ON c.id = b.client_id WHERE c.app_id = :a",
                        a=ALPHA),
            site.db.run("SELECT r.* FROM batch_rows r JOIN batches b ON b.id = r.batch_id JOIN clients c "
                        "ON c.id = b.client_id WHERE c.app_id = :a ORDER BY r.line_no", a=ALPHA)]


def names(template: str) -> list[str]:
    return re.findall(r"{(\w+)(?::[^}]*)?}", template)


def concrete(template: str, alpha: dict) -> str:
    return re.sub(r"{(\w+)(:[^}]*)?}", lambda m: CONCRETE[m.group(1)](alpha), template)


def body(alpha: dict) -> dict:
    """Every field a portal form takes, naming alpha's records where a field can name one."""
    values = {name: make(alpha) for name, make in CONCRETE.items()}
    return {**values, "email": SECRET_EMAIL, "role": "viewer", "active": "0", "require_totp": "0",
            "step": "start"}


def test_the_walk_sees_the_portal_and_knows_every_parameter():
    found = set(PORTAL_OPERATIONS)
    assert {("/portal", "GET"), ("/portal/team/{user_id}/role", "POST"), ("/portal/settings/totp", "POST")} <= found
    missing = sorted({n for t, _ in PORTAL_OPERATIONS for n in names(t)} - set(CONCRETE))
    assert not missing, f"add these path parameters to CONCRETE: {missing}"
    assert all(method in HTTP_METHODS for _, method in PORTAL_OPERATIONS)


def test_control_alphas_owner_reaches_alphas_pages(walk_site):
    owner = MerchantPortal(walk_site.app)
    from tests.integration.merchant_support import totp_code
    assert owner.login(SECRET_EMAIL, code=totp_code(walk_site, walk_site.alpha["owner"])).status_code == 303
    for template, method in PORTAL_OPERATIONS:
        if method == "GET" and set(names(template)) - NOT_IDS:
            answer = owner.get(concrete(template, walk_site.alpha))
            assert answer.status_code in (200, 303), (template, answer.status_code)
    assert SECRET_EMAIL in owner.get("/portal/team").text


@pytest.mark.parametrize("template, method", PORTAL_OPERATIONS)
def test_bravo_gets_nothing_of_alphas(walk_site, template, method):
    site, alpha = walk_site, walk_site.alpha
    before = alpha_rows(site)
    bravo = MerchantPortal(site.app)
    email = merchant_user(site, "bravo", "owner")["email"]
    assert bravo.login(email).status_code == 303  # a fresh session each: a sign-out earlier must not hide a leak
    path = concrete(template, alpha)
    answer = bravo.request(method, path, data=body(alpha) if method in ("POST", "PUT", "PATCH", "DELETE") else None)
    assert answer.status_code < 500, (method, path, answer.text)
    if set(names(template)) - NOT_IDS:
        assert answer.status_code == 404, (method, path, answer.status_code)
    # Alpha's owner's email is in the body (a form may echo what it was sent); alpha's other user is not.
    markers = ("pending@alpha-co.example", "Alpha Hidden Company", ALPHA, alpha["invite_token"], "alpha-order-1",
               "alpha-request-1", "alpha-batch-name", "alpha-order-2",
               *(() if method != "GET" else (SECRET_EMAIL, alpha["transaction_id"], alpha["event_id"])))
    for marker in markers:
        assert marker not in answer.text, (method, path, marker)
    assert alpha_rows(site) == before
