"""/portal/docs: the client's own App ID, endpoints at this server, README's curl session filled in with
the App ID and its first assigned service (the payment body is valid JSON), and webhook verification that
really verifies a MosPay signature."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import time

from mospay import catalogue
from tests.integration.merchant_support import merchant_client, merchant_portal
from tests.integration.portal_support import site  # noqa: F401 (the fixture)


def test_docs_show_this_clients_app_id_and_a_working_payment_body(site):
    catalogue.create_service(site.db, {"name": "airtelrw", "service_url": "http://127.0.0.1:9"})
    merchant_client(site, "alpha")
    catalogue.assign_service(site.db, "alpha", {"service": "airtelrw", "routes": ["collection"]})
    merchant_client(site, "bravo")
    page = merchant_portal(site, "alpha", "viewer").get("/portal/docs", host="pay.example", protocol="https")
    assert page.status_code == 200
    assert '<code id="app-id">alpha</code>' in page.text and "bravo" not in page.text
    curl = html.unescape(re.search(r'<pre class="source" id="curl-session">(.*?)</pre>', page.text, re.S).group(1))
    assert curl.startswith("APP_ID=alpha\n") and "https://pay.example/api/v1/auth/token" in curl
    body = re.search(r"-d '(.*?)'\n", curl.replace("'$F010'", "order-1"), re.S).group(1)
    payment = json.loads(body)
    assert payment["f003"] == "alpha" and payment["f000"] == "airtelrw" and payment["f001"] == "collection"


def test_the_webhook_check_on_the_page_accepts_a_real_signature(site):
    merchant_client(site, "alpha")
    page = merchant_portal(site, "alpha", "viewer").get("/portal/docs")
    source = html.unescape(re.search(r'<pre class="source" id="webhook-verify">(.*?)</pre>', page.text, re.S).group(1))
    scope = {}
    exec(compile(source, "docs-webhook", "exec"), scope)  # the page's own code, as a client would paste it
    body, secret, now = b'{"id": "evt_1"}', "whsec_test", str(int(time.time()))
    signature = hmac.new(secret.encode(), now.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert scope["verify"](f"t={now},v1={signature}", body, secret)
    assert not scope["verify"](f"t={now},v1={signature}", body + b" ", secret)
