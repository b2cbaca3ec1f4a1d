"""Throttling of failed authentication and per-client limits, over real HTTP against run.py processes
that trust 127.0.0.1 as a proxy, so each test can speak from its own client IP via X-Forwarded-For."""

from __future__ import annotations

import concurrent.futures
import secrets

import pytest

from tests.integration.security_support import ADMIN_PASSWORD, basic, own_gateway


@pytest.fixture(scope="module")
def servers(postgres, template_db, simulator):
    env = {"MOSPAY_TRUSTED_PROXIES": "127.0.0.1", "MOSPAY_TOKEN_TTL": "120"}
    with own_gateway(postgres, template_db, simulator, env, servers=2) as gateways:
        yield gateways


@pytest.fixture(scope="module")
def gw(servers):
    return servers[0]


def new_ip():
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def from_ip(ip, headers=None):
    return {**(headers or {}), "X-Forwarded-For": ip}


def events(gw, **where):
    sql = "SELECT kind, ip, app_id, username FROM security_events WHERE " + " AND ".join(
        f"{k} = :{k}" for k in where) + " ORDER BY id"
    return gw.db.run(sql, **where)


def test_token_ttl_is_configurable(gw):
    client = gw.onboard()
    resp = gw.request("POST", "/api/v1/auth/token", headers=client.basic)
    assert resp.status == 200 and resp.json()["expires_in"] == 120


def test_ten_failures_for_one_credential_at_one_address_then_429_there_with_retry_after(gw):
    client = gw.onboard()
    ip = new_ip()
    for _ in range(10):
        resp = gw.request("POST", "/api/v1/auth/token", headers=from_ip(ip, basic(client.username, "sk_wrong",
                                                                                    client.app_id)))
        assert resp.status == 401
    resp = gw.request("POST", "/api/v1/auth/token", headers=from_ip(ip, client.basic))
    assert resp.status == 429 and resp.json()["error"]["code"] == "auth_throttled"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert gw.request("POST", "/api/v1/auth/token", headers=from_ip(new_ip(), client.basic)).status == 200
    assert len(events(gw, kind="auth_failure", username=client.username)) == 10
    assert len(events(gw, kind="auth_blocked", app_id=client.app_id)) >= 1


def test_strangers_failing_for_an_app_id_from_many_addresses_never_lock_out_its_owner(gw):
    victim = gw.onboard()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: gw.request("POST", "/api/v1/auth/token", headers=from_ip(
            new_ip(), basic(victim.username, "sk_wrong", victim.app_id))).status, range(40)))
    assert statuses == [401] * 40
    fresh = new_ip()
    assert gw.request("POST", "/api/v1/auth/token", headers=from_ip(fresh, victim.basic)).status == 200
    resp = victim.pay(headers=from_ip(fresh, victim.basic))
    assert resp.status == 200, resp.data


@pytest.mark.parametrize("guess", [
    lambda i, client: basic(f"mp_guess{i}", "sk_x"),  # other credentials each time: only the address adds up
    lambda i, client: {"Authorization": f"Bearer forged.token.{i}"},        # bad tokens count too
])
def test_failures_from_one_ip_block_that_ip_and_no_other(gw, guess):
    client = gw.onboard()
    token = client.token()
    attacker, other = new_ip(), new_ip()
    for i in range(30):  # MOSPAY_AUTH_FAILURE_LIMIT_PER_ADDRESS
        resp = gw.request("POST", "/api/v1/payment/process", json=client.body(),
                          headers=from_ip(attacker, guess(i, client)))
        assert resp.status == 401
    blocked = client.pay(headers=from_ip(attacker, {"Authorization": f"Bearer {token}"}))
    assert blocked.status == 429 and "Retry-After" in blocked.headers
    assert client.pay(headers=from_ip(other, {"Authorization": f"Bearer {token}"})).status == 200
    assert {e["ip"] for e in events(gw, kind="auth_failure", ip=attacker)} == {attacker}


def test_a_blocked_credential_does_not_lock_out_its_valid_bearer_token(gw):
    victim = gw.onboard()
    token = victim.token()
    ip = new_ip()
    for _ in range(10):  # someone who knows the app id and username fails on purpose
        gw.request("POST", "/api/v1/auth/token", headers=from_ip(ip, basic(victim.username, "sk_wrong", victim.app_id)))
    assert gw.request("POST", "/api/v1/auth/token", headers=from_ip(ip, victim.basic)).status == 429
    resp = victim.pay(headers=from_ip(new_ip(), {"Authorization": f"Bearer {token}"}))
    assert resp.status == 200, resp.data


def test_a_block_set_by_one_process_reaches_the_other_after_its_first_failure(servers):
    first, second = servers
    ip = new_ip()
    client = first.onboard()
    for _ in range(10):
        first.request("POST", "/api/v1/auth/token", headers=from_ip(ip, basic("mp_nobody", "sk_x", client.app_id)))
    assert first.request("POST", "/api/v1/auth/token", headers=from_ip(ip, client.basic)).status == 429
    # The second process has its own cache: one more failure there, and the table tells it the truth.
    assert second.request("POST", "/api/v1/auth/token",
                          headers=from_ip(ip, basic("mp_n", "sk_x", client.app_id))).status == 401
    resp = second.request("POST", "/api/v1/auth/token", headers=from_ip(ip, client.basic))
    assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1


def test_an_odd_path_is_throttled_logged_and_recorded_like_any_other(gw):
    client = gw.onboard()
    ip = new_ip()
    wrong = from_ip(ip, basic(client.username, "sk_wrong", client.app_id))
    for _ in range(10):
        assert gw.request("GET", "/api/v1/payment/%00", headers=wrong).status == 401
    assert gw.request("GET", "/api/v1/payment/%00", headers=from_ip(ip, client.basic)).status == 429
    assert len(events(gw, kind="auth_failure", ip=ip)) == 10
    logged = gw.db.run("SELECT endpoint, status_code FROM api_logs WHERE ip = :ip", ip=ip)
    assert len(logged) == 11 and {r["endpoint"] for r in logged} == {"/api/v1/payment/"}


def test_successful_requests_never_touch_the_throttle_table(gw):
    client = gw.onboard()
    token = client.token()
    before = gw.db.run("SELECT count(*) AS n, coalesce(sum(failures), 0) AS f FROM auth_throttle")[0]
    for _ in range(3):
        assert client.pay(headers=from_ip(new_ip(), {"Authorization": f"Bearer {token}"})).status == 200
    assert gw.db.run("SELECT count(*) AS n, coalesce(sum(failures), 0) AS f FROM auth_throttle")[0] == before


def test_admin_api_password_guessing_is_throttled_at_that_address(gw):
    ip = new_ip()
    for _ in range(10):
        assert gw.request("POST", "/api/v1/admin/token", headers=from_ip(ip, basic("ops", "wrong-pass"))).status == 401
    resp = gw.request("POST", "/api/v1/admin/token", headers=from_ip(ip, basic("ops", ADMIN_PASSWORD)))
    assert resp.status == 429
    assert events(gw, kind="admin_auth_failure", ip=ip)[0]["username"] == "ops"
    assert gw.request("POST", "/api/v1/admin/token", headers=from_ip(new_ip(), basic("ops", ADMIN_PASSWORD))
                      ).status == 200


def portal_login(gw, ip, password):
    return gw.request("POST", "/admin/login", body=f"username=ops&password={password}",
                      headers=from_ip(ip, {"Content-Type": "application/x-www-form-urlencoded"}))


def test_strangers_cannot_lock_an_admin_out_of_the_portal_or_the_api(gw):
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: portal_login(gw, new_ip(), "wrong-pass").status, range(12)))
    assert statuses == [401] * 12  # more than the limit, each from its own address
    assert portal_login(gw, new_ip(), ADMIN_PASSWORD).status == 303
    assert gw.request("POST", "/api/v1/admin/token", headers=from_ip(new_ip(), basic("ops", ADMIN_PASSWORD))
                      ).status == 200


@pytest.mark.parametrize("attempt", [
    lambda gw, ip: portal_login(gw, ip, "wrong-pass"),
    lambda gw, ip: gw.request("POST", "/api/v1/admin/token", headers=from_ip(ip, basic("ops", "wrong-pass"))),
], ids=["portal", "admin_api"])
def test_parallel_password_guesses_get_at_most_the_limit_checked(gw, attempt):
    ip = new_ip()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: attempt(gw, ip).status, range(30)))
    assert statuses.count(401) == 10 and statuses.count(429) == 20, statuses  # 401: a password was checked
    assert attempt(gw, ip).status == 429


def test_security_events_never_hold_the_secret_that_was_tried(gw):
    client = gw.onboard()
    tried = "sk_" + secrets.token_urlsafe(20)
    gw.request("POST", "/api/v1/auth/token", headers=from_ip(new_ip(), basic(client.username, tried, client.app_id)))
    text = str(gw.db.run("SELECT row_to_json(e)::text AS j FROM security_events e"))
    text += str(gw.db.run("SELECT row_to_json(a)::text AS j FROM auth_throttle a"))
    assert client.username in text and tried not in text


# ---------------------------------------------------------------- per-client rate and amount limits

def set_limits(gw, client, **limits):
    resp = gw.request("PUT", f"/api/v1/admin/clients/{client.app_id}/limits", json=limits,
                      headers={"Authorization": f"Bearer {gw.admin_token}"})
    assert resp.status == 200, resp.data
    return resp.json()


def count_transactions(gw, client):
    return gw.db.run("SELECT count(*) AS n FROM transactions t JOIN clients c ON c.id = t.client_id "
                     "WHERE c.app_id = :a", a=client.app_id)[0]["n"]


def test_rate_limit_per_client_gives_429_with_retry_after_and_records_nothing(gw):
    client = gw.onboard()
    other = gw.onboard()
    assert set_limits(gw, client, rate_limit_per_minute=3)["rate_limit_per_minute"] == 3
    headers = client.bearer()
    assert [client.pay(headers=headers).status for _ in range(3)] == [200, 200, 200]
    resp = client.pay(headers=headers)
    assert resp.status == 429 and resp.json()["error"]["code"] == "rate_limited"
    assert int(resp.headers["Retry-After"]) == 20  # one request every 60/3 seconds
    assert count_transactions(gw, client) == 3
    assert other.pay().status == 200  # the bucket is per client
    assert events(gw, kind="rate_limited", app_id=client.app_id)


def test_max_amount_per_transaction(gw):
    client = gw.onboard()
    set_limits(gw, client, max_amount_per_transaction="500.00")
    resp = client.pay(f004="500.01")
    assert resp.status == 422 and resp.json()["error"] == {
        "code": "amount_limit_exceeded", "message": "the amount is over your per-transaction limit", "field": "f004"}
    assert count_transactions(gw, client) == 0
    assert client.pay(f004="500.00").status == 200


def test_max_amount_per_day_counts_everything_but_failed_and_lets_replays_through(gw):
    client = gw.onboard()
    set_limits(gw, client, max_amount_per_day="1500.00")
    first = client.body(f004="1000.00")
    assert client.pay(first).status == 200
    assert client.pay(f004="1000.00", msisdn="+250788120001").status == 422  # would reach 2000
    over = client.pay(f004="600.00")
    assert over.status == 422 and over.json()["error"]["code"] == "amount_limit_exceeded"
    again = client.pay(dict(first))  # a replay is answered from the record, not counted again
    assert again.status == 200 and again.json()["f010"] == first["f010"]
    assert client.pay(f004="500.00").status == 200
    assert count_transactions(gw, client) == 2


def test_failed_payments_do_not_use_up_the_daily_limit(gw):
    client = gw.onboard()
    set_limits(gw, client, max_amount_per_day="1000.00")
    assert client.pay(f004="1000.00", msisdn="+250788120001").status == 402  # declined: no money moved
    assert client.pay(f004="1000.00").status == 200


def test_concurrent_payments_cannot_overshoot_the_daily_limit_together(gw):
    client = gw.onboard()
    set_limits(gw, client, max_amount_per_day="1000.00")
    headers = client.bearer()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(lambda _: client.pay(headers=headers, f004="600.00").status, range(4)))
    assert statuses == [200, 422, 422, 422]
    assert count_transactions(gw, client) == 1


def test_limits_reset_to_defaults_with_null(gw):
    client = gw.onboard()
    set_limits(gw, client, rate_limit_per_minute=1, max_amount_per_transaction="1.00")
    assert set_limits(gw, client) == {"app_id": client.app_id, "rate_limit_per_minute": None,
                                      "max_amount_per_transaction": None, "max_amount_per_day": None}
    assert client.pay(f004="5000.00").status == 200
