"""After a full scenario, no secret used anywhere in it appears in a full database dump or in the
server's own log output (DEBUG level); and a server-side error reaches the client as a request id only."""

from __future__ import annotations

import base64
import secrets

import pytest

from mospay import accounts
from tests.integration.conftest import TEST_KEYS
from tests.integration.security_support import ADMIN_PASSWORD, basic, full_dump, own_gateway

FIRST_ADMIN_PASSWORD = "first-admin-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def logged(postgres, template_db, simulator):
    env = {"MOSPAY_LOG_LEVEL": "DEBUG", "MOSPAY_ADMIN_PASSWORD": FIRST_ADMIN_PASSWORD}
    with own_gateway(postgres, template_db, simulator, env) as (gw,):
        yield gw


def test_no_secret_reaches_the_database_or_the_log(logged):
    gw = logged
    used = {TEST_KEYS["SECRET_KEY"], TEST_KEYS["JWT_SECRET_KEY"], ADMIN_PASSWORD, FIRST_ADMIN_PASSWORD,
            gw.admin_token}
    client = gw.onboard(routes=("collection", "disbursement"))  # api secret shown once, over the admin API
    used.add(client.secret)
    used.add(client.basic["Authorization"].split()[1])  # the base64 of username:secret as sent

    token = client.token()
    used.add(token)
    for msisdn in ("+250788123456", "+250788120001", "+250788120003", "+250788120004"):
        body = client.body(msisdn=msisdn)
        used.update((body["f007"], body["f008"]))
        assert client.pay(body, headers={"Authorization": f"Bearer {token}"}).status in (200, 202, 402)
        gw.request("GET", f"/api/v1/payment/{body['f010']}", headers=client.basic)
        gw.request("POST", "/api/v1/payment/status", json={"f010": body["f010"]}, headers=client.basic)
    basic_body = client.body(f002="disbursement")
    used.update((basic_body["f007"], basic_body["f008"]))
    assert client.pay(basic_body, headers=client.basic).status == 200

    # Refusals that carry secrets: malformed JSON, duplicate keys, unknown field, wrong owner, wrong secret.
    for raw, extra in [(b'{"f007": "%s", "f007": "x"}', {}), (b'{"f008": "%s", ', {})]:
        value = "leak-" + secrets.token_hex(8)
        used.add(value)
        gw.request("POST", "/api/v1/payment/process", body=raw.replace(b"%s", value.encode()),
                   headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **extra})
    odd = client.body(f099="x")
    used.update((odd["f007"], odd["f008"]))
    assert client.pay(odd).status == 422
    wrong_owner = client.body(f003="someoneelse")
    used.update((wrong_owner["f007"], wrong_owner["f008"]))
    assert client.pay(wrong_owner).status == 403
    assert gw.request("POST", "/api/v1/auth/token",
                      headers=basic("mp_not_the_user", client.secret, client.app_id)).status == 401
    wrong = "sk_" + secrets.token_urlsafe(32)
    used.add(wrong)
    assert gw.request("POST", "/api/v1/auth/token", headers=basic(client.username, wrong, client.app_id)).status == 401

    # Rotation, a new admin password, the limits endpoint.
    rotated = accounts.rotate_credentials(gw.db, TEST_KEYS["SECRET_KEY"], client.app_id)
    used.add(rotated["api_secret"])
    fresh = gw.request("POST", "/api/v1/auth/token",
                       headers=basic(rotated["api_username"], rotated["api_secret"], client.app_id)).json()
    used.add(fresh["access_token"])
    new_password = "new-admin-" + secrets.token_hex(8)
    used.add(new_password)
    assert gw.request("POST", "/api/v1/admin/password", json={"new_password": new_password},
                      headers=basic("ops", ADMIN_PASSWORD)).status == 204
    admin_token = gw.request("POST", "/api/v1/admin/token", headers=basic("ops", new_password)).json()["access_token"]
    used.add(admin_token)
    assert gw.request("PUT", f"/api/v1/admin/clients/{client.app_id}/limits", json={"max_amount_per_day": "9.00"},
                      headers={"Authorization": f"Bearer {admin_token}"}).status == 200
    over = client.body(f004="10.00")
    used.update((over["f007"], over["f008"]))
    assert gw.request("POST", "/api/v1/payment/process", json=over,
                      headers={"Authorization": f"Bearer {fresh['access_token']}"}).status == 422

    dump = full_dump(gw.db)
    log = gw.server.stop()  # stopping flushes everything the server printed
    # Non-secrets are there, so the grep can find things: the dump and the captured log are the real ones.
    assert client.app_id in dump and client.username in dump
    assert "MosPay listening on" in log and "DEBUG" in log
    for secret in sorted(used):
        assert secret not in dump, f"secret {secret[:6]}… found in the database dump"
        assert secret not in log, f"secret {secret[:6]}… found in the server log"
        encoded = base64.b64encode(secret.encode()).decode()[:-4]
        assert len(encoded) < 12 or encoded not in dump


def test_a_server_error_answers_a_request_id_and_keeps_the_detail_in_the_log(postgres, template_db, simulator):
    with own_gateway(postgres, template_db, simulator) as (gw,):
        client = gw.onboard()
        # An operator's function failing in a way MosPay does not expect: an internal error with SQL in it.
        message = "SELECT secret FROM internal_table WHERE path = ''/srv/mospay/x.py''"
        gw.db.run(f'''CREATE OR REPLACE FUNCTION mospay_fn."{client.app_id}_{client.service}_collection"(
                          unique_id text, data_input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
                      BEGIN
                          RAISE EXCEPTION '{message}' USING ERRCODE = 'XX000';
                      END $$''')
        gw.db.run("SELECT mospay.seal_functions()")  # as MosPay's own saves do
        resp = client.pay()
        request_id = resp.headers["X-Request-ID"]
        log = gw.server.stop()
    assert resp.status == 500
    assert resp.json() == {"error": {"code": "internal_error",
                                     "message": "internal error; quote the X-Request-ID header when reporting it"}}
    for detail in (b"SELECT", b"internal_table", b"/srv/", b"Traceback", b"XX000"):
        assert detail not in resp.data
    assert request_id in log and "internal_table" in log and "Traceback" in log
