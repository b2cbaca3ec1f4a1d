"""The admin portal's client page and its merchant-portal users: invite the first user (the link shown
once, on the answer page), change a role, deactivate (their sessions end), reset by link; viewers only
read; every change audited with the operator and the client."""

from __future__ import annotations

import re

from tests.integration.merchant_support import MerchantPortal, merchant_client, merchant_portal
from tests.integration.portal_support import site  # noqa: F401 (the fixture)


def test_operator_invites_the_first_user_from_the_client_page(site):
    merchant_client(site, "alpha")
    ops = site.portal("ops", "admin")
    page = ops.get("/admin/clients/alpha")
    assert page.status_code == 200 and "No portal user yet" in page.text
    made = ops.post("/admin/clients/alpha/portal-users", {"email": "first@alpha.example", "role": "owner"})
    assert made.status_code == 201
    url = re.search(r'id="portal-link" class="secret">([^<]+)<', made.text).group(1)
    assert "first@alpha.example" in ops.get("/admin/clients/alpha").text and url not in ops.get("/admin/clients/alpha").text
    token = url.rsplit("/", 1)[1]
    person = MerchantPortal(site.app)
    assert person.post(f"/portal/invite/{token}", {"new_password": "owner-pass-1",
                                                   "confirm_password": "owner-pass-1"}).status_code == 303
    assert person.login("first@alpha.example", "owner-pass-1").status_code == 303
    audit = ops.get("/admin/audit?q=alpha")
    assert "merchant_user.invite" in audit.text and "merchant_user.accept_invite" in audit.text
    assert "merchant:first@alpha.example" in audit.text and "(client alpha)" in audit.text


def test_bad_invite_shows_the_client_page_with_the_reason(site):
    merchant_client(site, "alpha")
    ops = site.portal("ops", "admin")
    answer = ops.post("/admin/clients/alpha/portal-users", {"email": "nope", "role": "owner"})
    assert answer.status_code == 422 and "email address" in answer.text and "Merchant portal users" in answer.text
    assert ops.post("/admin/clients/ghost/portal-users", {"email": "a@b.example", "role": "owner"}).status_code == 404


def test_operator_sets_role_deactivates_and_resets(site):
    merchant_client(site, "alpha")
    ops = site.portal("ops", "admin")
    owner = merchant_portal(site, "alpha", "owner")
    dev = merchant_portal(site, "alpha", "developer")
    dev_id = dev.me["id"]
    assert ops.post(f"/admin/clients/alpha/portal-users/{owner.me['id']}/role", {"role": "viewer"}).status_code == 409
    assert ops.post(f"/admin/clients/alpha/portal-users/{dev_id}/role", {"role": "finance"}).status_code == 303
    assert ops.post(f"/admin/clients/alpha/portal-users/{dev_id}/active", {"active": "0"}).status_code == 303
    assert dev.get("/portal").status_code == 303
    reset = ops.post(f"/admin/clients/alpha/portal-users/{owner.me['id']}/reset")
    assert reset.status_code == 200 and "/portal/reset/" in reset.text
    assert owner.get("/portal").status_code == 303
    merchant_client(site, "bravo")
    assert ops.post(f"/admin/clients/bravo/portal-users/{dev_id}/active", {"active": "1"}).status_code == 404


def test_a_viewer_operator_reads_but_cannot_change(site):
    merchant_client(site, "alpha")
    merchant_portal(site, "alpha", "owner")
    viewer = site.portal("watcher", "viewer")
    page = viewer.get("/admin/clients/alpha")
    assert page.status_code == 200 and "Merchant portal users" in page.text and "Invite</button>" not in page.text
    assert viewer.post("/admin/clients/alpha/portal-users", {"email": "x@alpha.example", "role": "owner"}
                       ).status_code == 403
