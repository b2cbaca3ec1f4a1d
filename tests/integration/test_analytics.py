"""Analytics on planted data, through the admin API and the portal: volume, value, success rate (final
states only), latency percentiles, the top failure reasons, the reconciled share and settle time, each
range and split; bad parameters are 4xx; the page draws its charts as server-side SVG."""

from __future__ import annotations

import pytest

from mospay import accounts, analytics, catalogue
from tests.integration.portal_support import site  # noqa: F401  (fixture)
from tests.integration.test_admin_api_records import Api

# client, service, route, amount, final status, minutes ago, provider ms, provider answer, checks
PLAN = [
    *[("akaliza", "mtnmomorwa", "collection", 100, "SUCCESSFUL", 30, ms, None, 0) for ms in (80, 120, 150, 260, 400, 900)],
    ("akaliza", "mtnmomorwa", "collection", 50, "FAILED", 40, 90, '{"reason": "NOT_ENOUGH_FUNDS", "message": "Payment declined"}', 0),
    ("akaliza", "mtnmomorwa", "collection", 60, "FAILED", 50, 95, '{"reason": "NOT_ENOUGH_FUNDS", "message": "Payment declined"}', 0),
    ("akaliza", "mtnmomorwa", "collection", 70, "UNKNOWN", 60, None, None, 0),
    *[("akaliza", "airtel", "payout", 200, "SUCCESSFUL", 120, 1200, None, 0) for _ in range(3)],
    ("akaliza", "airtel", "payout", 10, "FAILED", 130, 1300, '{"code": "PAYER_NOT_FOUND", "message": "no such payer"}', 0),
    ("shop", "mtnmomorwa", "collection", 300, "SUCCESSFUL", 180, 300, None, 0),
    ("shop", "mtnmomorwa", "collection", 300, "SUCCESSFUL", 190, None, None, 2),  # settled by the reconciler, 10 min later
    ("shop", "mtnmomorwa", "collection", 999, "SUCCESSFUL", 10 * 24 * 60, 100, None, 0),  # 10 days ago
]


@pytest.fixture
def planted(site):
    catalogue.create_service(site.db, {"name": "mtnmomorwa", "service_url": "http://127.0.0.1:9"})
    catalogue.create_service(site.db, {"name": "airtel", "service_url": "http://127.0.0.1:9", "currency": "USD"})
    for app_id in ("akaliza", "shop"):
        accounts.create_client(site.db, site.config.secret_key, {"app_id": app_id, "company_name": app_id.title()})
    for i, (app_id, service, route, amount, status, ago, ms, answer, checks) in enumerate(PLAN):
        public_id = site.db.run("""
            INSERT INTO transactions (client_id, service_id, route, f010, amount, request, request_hash,
                                      created_at, provider_ms, provider_response, provider_http_status)
            SELECT c.id, s.id, :route, 'a-' || CAST(:i AS text), :amount, '{}', 'h', now() - make_interval(mins => :ago),
                   :ms, CAST(:answer AS jsonb), CASE WHEN CAST(:ms AS numeric) IS NOT NULL THEN 200 END
              FROM clients c, services s WHERE c.app_id = :app_id AND s.name = :service
            RETURNING public_id""", i=i, route=route, amount=amount, ago=ago, ms=ms, answer=answer, app_id=app_id,
                                service=service)[0]["public_id"]
        # The status change is what the rollups follow (the trigger); a reconciled one settles 10 minutes on.
        site.db.run("UPDATE transactions SET status = :s, check_attempts = :c, "
                    "updated_at = created_at + make_interval(mins => CASE WHEN :c > 0 THEN 10 ELSE 0 END) "
                    "WHERE public_id = :p", s=status, c=checks, p=public_id)
    return site


def test_analytics_figures_by_service_equal_the_planted_payments(planted):
    api = Api(planted, "watcher", "viewer")
    answer = api.get("/analytics", range="7", by="service")
    assert answer.status_code == 200, answer.text
    data = answer.json
    total = data["total"]
    assert total["payments"] == 15  # the 10-day-old one is outside 7 days
    assert total["statuses"] == {"SUCCESSFUL": 11, "FAILED": 3, "PENDING": 0, "UNKNOWN": 1}
    assert total["value"] == {"RWF": "1200.00", "USD": "600.00"}
    assert total["success_rate"] == round(11 / 14, 4)  # the UNKNOWN one is no failure
    groups = {g["group"]: g for g in data["groups"]}
    assert groups["mtnmomorwa"]["payments"] == 11 and groups["mtnmomorwa"]["success_rate"] == 0.8
    assert groups["airtel"]["payments"] == 4 and groups["airtel"]["success_rate"] == 0.75
    # Latency: the true median of mtnmomorwa's 9 timed calls is 150 ms, in the [100, 200) bucket.
    assert 100 <= groups["mtnmomorwa"]["latency_ms"]["p50"] < 200
    assert groups["airtel"]["latency_ms"]["p50"] >= 1000 and groups["airtel"]["latency_ms"]["p95"] < 1500
    assert total["latency_ms"]["count"] == 13
    # The reconciled payment: 1 of 15, settled in 600 s.
    assert total["reconciliation"] == {"payments": 2, "share": round(2 / 15, 4), "settled": 1, "mean_settle_s": 600.0}
    reasons = [(r["code"], r["message"], r["payments"]) for r in data["failure_reasons"]]
    assert reasons == [("NOT_ENOUGH_FUNDS", "Payment declined", 2), ("PAYER_NOT_FOUND", "no such payer", 1)]
    assert len(data["series"]) == 7 * 24 + 1 or len(data["series"]) in (7, 8)


def test_each_range_split_and_filter_narrows_the_figures(planted):
    api = Api(planted, "watcher", "viewer")
    assert api.get("/analytics", range="30").json["total"]["payments"] == 16  # the control: the old one is in
    assert api.get("/analytics", range="1").json["total"]["payments"] == 15
    by_client = {g["group"]: g["payments"] for g in api.get("/analytics", by="client").json["groups"]}
    assert by_client == {"akaliza": 13, "shop": 2}
    by_route = {g["group"]: g["payments"] for g in api.get("/analytics", by="route").json["groups"]}
    assert by_route == {"mtnmomorwa/collection": 11, "airtel/payout": 4}
    shop = api.get("/analytics", client="shop", range="90").json
    assert shop["total"]["payments"] == 3 and shop["failure_reasons"] == []
    airtel = api.get("/analytics", service="airtel").json
    assert airtel["total"]["payments"] == 4 and [r["code"] for r in airtel["failure_reasons"]] == ["PAYER_NOT_FOUND"]
    # A merchant's view (the domain call the merchant portal will make): its own client id, in SQL.
    client_id = planted.db.run("SELECT id FROM clients WHERE app_id = 'shop'")[0]["id"]
    assert analytics.analytics(planted.db, 7, "service", client_id=client_id)["total"]["payments"] == 2


BAD = [({"range": "5"}, 422, "range"), ({"range": "x"}, 422, "range"), ({"by": "status"}, 422, "by"),
       ({"client": "nosuch"}, 404, "client"), ({"client": "bad id!"}, 422, "client"),
       ({"service": "UPPER"}, 422, "service"), ({"days": "7"}, 422, "days"), ({"range": ""}, 422, "range"),
       ({"range": "7", "by": "client", "range2": "1"}, 422, "range2")]


def test_bad_analytics_parameters_are_4xx_json(planted):
    api = Api(planted, "watcher", "viewer")
    assert api.get("/analytics", range="90", by="client").status_code == 200  # the control
    for params, status, field in BAD:
        answer = api.get("/analytics", **params)
        assert answer.status_code == status, (params, answer.text)
        assert answer.json["error"]["field"] == field


def test_the_analytics_page_draws_svg_charts_and_tables(planted):
    portal = planted.portal("boss")
    page = portal.get("/admin/analytics?range=7&by=service")
    assert page.status_code == 200
    html = page.text
    assert "<svg" in html and 'class="bar successful"' in html and "<script" not in html.split("</head>")[1]
    assert 'id="total-payments">15<' in html and "NOT_ENOUGH_FUNDS" in html and "78.6%" in html
    assert ">mtnmomorwa<" in html and "airtel/payout" not in html
    assert "airtel/payout" in portal.get("/admin/analytics?range=7&by=route").text
    fragment = portal.get("/admin/analytics?range=1", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and 'id="analytics"' in fragment.text
    assert "HX-Request" in fragment.headers.get("vary", "")
    bad = portal.get("/admin/analytics?range=9")
    assert bad.status_code == 422 and "range" in bad.text and "<svg" in bad.text
    assert portal.get("/admin/analytics?client=nosuch").status_code == 404
