"""One-time links by email (MOSPAY_SMTP_URL, the stdlib SMTP sink): invites and forgotten-password resets
arrive and work once; an unknown address gets the same answer and no mail; without a relay nothing is
created and nothing secret reaches the log."""

from __future__ import annotations

import logging
import re

import pytest

from mospay.app import create_app
from mospay.components import Components
from mospay.config import Config
from tests.integration.merchant_support import MerchantPortal, merchant_client, merchant_portal, merchant_user
from tests.integration.portal_support import KEYS, PASSWORD, site  # noqa: F401 (the fixture)
from tests.smtp_sink import SmtpSink


@pytest.fixture
def mailing(site):
    with SmtpSink() as sink:
        site.config = Config(**KEYS, smtp_url=sink.url)
        site.app = create_app(site.config, site.db, parts=Components.build(site.config, site.db))
        site.sink = sink
        yield site


def link_in(message) -> str:
    return re.search(r"http\S+/portal/(?:invite|reset)/[A-Za-z0-9_-]+", message.get_content()).group(0)


def test_forgotten_password_link_is_emailed_and_works_once(mailing):
    site = mailing
    merchant_client(site, "alpha")
    user = merchant_user(site, "alpha", "finance")
    page = MerchantPortal(site.app).post("/portal/forgot", {"email": user["email"]})
    assert page.status_code == 200 and "on its way" in page.text
    message = site.sink.wait_for(lambda m: m["To"] == user["email"])
    url = link_in(message)
    path = url[url.index("/portal/"):]
    assert url.split("/portal/")[1].split("/")[1] not in str(site.db.run("SELECT * FROM merchant_tokens"))
    browser = MerchantPortal(site.app)
    assert browser.post(path, {"new_password": "fresh-pass-99", "confirm_password": "fresh-pass-99"}).status_code == 303
    assert browser.post(path, {"new_password": "other-pass-99", "confirm_password": "other-pass-99"}).status_code == 404
    assert MerchantPortal(site.app).login(user["email"], PASSWORD).status_code == 401
    assert MerchantPortal(site.app).login(user["email"], "fresh-pass-99").status_code == 303


def test_unknown_address_gets_the_same_answer_and_no_mail(mailing):
    site = mailing
    merchant_client(site, "alpha")
    known = merchant_user(site, "alpha")["email"]
    unknown = MerchantPortal(site.app).post("/portal/forgot", {"email": "nobody@alpha.example"})
    known_page = MerchantPortal(site.app).post("/portal/forgot", {"email": known})
    assert unknown.status_code == known_page.status_code == 200 and unknown.text == known_page.text
    site.sink.wait_for(lambda m: m["To"] == known)
    assert [m["To"] for m in site.sink.messages] == [known]


def test_team_invite_is_emailed(mailing):
    site = mailing
    merchant_client(site, "alpha")
    owner = merchant_portal(site, "alpha", "owner")
    page = owner.post("/portal/team", {"email": "mate@alpha.example", "role": "viewer"})
    assert page.status_code == 201 and "also emailed" in page.text
    message = site.sink.wait_for(lambda m: m["To"] == "mate@alpha.example")
    assert "/portal/invite/" in link_in(message) and link_in(message) in page.text


def test_without_a_relay_nothing_is_created_and_nothing_secret_is_logged(site, caplog):
    merchant_client(site, "alpha")
    user = merchant_user(site, "alpha")
    owner = merchant_portal(site, "alpha", "owner")
    with caplog.at_level(logging.DEBUG):
        page = MerchantPortal(site.app).post("/portal/forgot", {"email": user["email"]})
        invite = owner.post("/portal/team", {"email": "mate@alpha.example", "role": "viewer"})
    assert page.status_code == 200 and invite.status_code == 201
    assert site.db.run("SELECT count(*) AS n FROM merchant_tokens WHERE kind = 'reset'")[0]["n"] == 0
    token = re.search(r"/portal/invite/([A-Za-z0-9_-]+)", invite.text).group(1)
    assert token not in caplog.text and "also emailed" not in invite.text
