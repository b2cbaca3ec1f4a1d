"""A batch's own webhook events (batch.completed, batch.failed: no transaction) for operators and merchants:
the admin API's resend by event id, and the batch pages' delivery list with Resend (admin and merchant portals,
the merchant's scoped to its client in SQL)."""

from __future__ import annotations

import time

from mospay.webhooks import Deliverer
from tests.integration.alert_support import Receiver
from tests.integration.batch_support import admin_post, batch_payer, rows, to_csv, upload, wait_status
from tests.integration.merchant_support import merchant_portal
from tests.integration.portal_support import site  # noqa: F401  (fixture)
from tests.integration.test_merchant_portal_batches import multipart, shop  # noqa: F401  (shop: the fixture)


def deliver(api, receiver: Receiver, event_id: str, times: int, timeout_s: float = 15.0) -> list[dict]:
    """Delivery passes (besides the app's own scheduler) until the receiver has had `event_id` `times` times."""
    deadline = time.monotonic() + timeout_s
    passes = Deliverer(api.db, api.config.secret_key)
    while True:
        got = [p for p in receiver.posts if p["headers"].get("MosPay-Event-Id") == event_id]
        if len(got) >= times or time.monotonic() > deadline:
            return got
        passes.deliver_due()
        time.sleep(0.1)


def completed_batch(api, receiver: Receiver):
    """A client whose callback URL is `receiver`, with a two-row batch paid to COMPLETED; (client, batch id,
    its batch.completed event id)."""
    payer = batch_payer(api)
    api.db.run("UPDATE clients SET callback_url = :u WHERE app_id = :a", u=receiver.url, a=payer.app_id)
    batch = upload(api, payer, to_csv(rows(payer, 2))).json()["batch_id"]
    assert admin_post(api, f"/api/v1/admin/batches/{batch}/approve").status == 200
    assert wait_status(api, payer, batch, "COMPLETED")["status"] == "COMPLETED"
    event = api.db.run("SELECT e.event_id FROM webhook_events e JOIN batches b ON b.id = e.batch_id "
                       "WHERE b.public_id = :b AND e.event_type = 'batch.completed'", b=batch)[0]["event_id"]
    return payer, batch, event


def test_the_admin_api_resends_a_batch_event_with_the_same_event_id_and_audits_it(api):
    with Receiver() as receiver:
        payer, batch, event_id = completed_batch(api, receiver)
        first = deliver(api, receiver, event_id, 1)
        assert len(first) == 1 and first[0]["json"]["data"]["batch_id"] == batch
        resent = admin_post(api, f"/api/v1/admin/webhook-events/{event_id}/resend")
        assert resent.status == 200, resent.data
        assert resent.json()["event_id"] == event_id and resent.json()["transaction_id"] is None
        again = deliver(api, receiver, event_id, 2)
        assert len(again) == 2 and again[1]["json"] == first[0]["json"]  # the same event, the same body
    audit = api.db.run("SELECT username, action, target_type, target_id, after FROM audit_log "
                       "WHERE action = 'webhook.resend' AND after->>'event_id' = :e", e=event_id)
    assert [(a["username"], a["target_type"], a["target_id"]) for a in audit] == [("ops", "batch", batch)]


class _Payer:
    service = "mtnmomorwa"


def cancelled_batch(shop, receiver: Receiver, app_id: str = "shopone") -> tuple[str, str]:
    """A batch uploaded in the merchant portal and cancelled, so its batch.failed event is written (the client's
    callback URL is `receiver`), then delivered once; (batch id, event id)."""
    shop.db.run("UPDATE clients SET callback_url = :u WHERE app_id = :a", u=receiver.url, a=app_id)
    owner = merchant_portal(shop, app_id, "owner")
    made = owner.client.simulate_post(f"/portal/batches?csrf_token={owner.csrf}", body=multipart(
        to_csv(rows(_Payer, 1))), headers={"Content-Type": "multipart/form-data; boundary=batchb0undary"},
        cookies={owner.COOKIE: owner.cookie})
    assert made.status_code == 303, made.text
    batch = made.headers["location"].rsplit("/", 1)[1]
    assert owner.post(f"/portal/batches/{batch}/cancel").status_code == 303
    event = shop.db.run("SELECT e.event_id FROM webhook_events e JOIN batches b ON b.id = e.batch_id "
                        "WHERE b.public_id = :b AND e.event_type = 'batch.failed'", b=batch)[0]["event_id"]
    assert Deliverer(shop.db, shop.config.secret_key).deliver_due()["delivered"] >= 1
    return batch, event


def event_state(shop, event_id: str) -> str:
    return shop.db.run("SELECT state FROM webhook_events WHERE event_id = :e", e=event_id)[0]["state"]


def resend_audit(shop, event_id: str) -> list[tuple]:
    return [(a["username"], a["target_type"], a["target_id"]) for a in shop.db.run(
        "SELECT username, target_type, target_id FROM audit_log WHERE action = 'webhook.resend' "
        "AND after->>'event_id' = :e ORDER BY id", e=event_id)]


def test_the_admin_batch_page_lists_the_batchs_events_and_resends_one(shop):
    with Receiver() as receiver:
        batch, event_id = cancelled_batch(shop, receiver)
        viewer = shop.portal("watcher", "viewer")
        page = viewer.get(f"/admin/batches/{batch}")
        assert page.status_code == 200
        section = page.text[page.text.index('id="webhooks"'):]
        assert event_id in section and "batch.failed" in section and "<strong>DELIVERED</strong>" in section
        assert receiver.url in section and "<td>200</td>" in section  # the attempt: where, and the answer
        assert f"/admin/batches/{batch}/webhooks/{event_id}/resend" not in section  # a viewer: no Resend
        assert viewer.post(f"/admin/batches/{batch}/webhooks/{event_id}/resend").status_code == 403

        ops = shop.portal("ops1", "admin")
        resend = f"/admin/batches/{batch}/webhooks/{event_id}/resend"
        assert f'action="{resend}"' in ops.get(f"/admin/batches/{batch}").text
        assert ops.post(resend, csrf=False).status_code == 403  # no CSRF token: nothing queued
        assert event_state(shop, event_id) == "DELIVERED"
        done = ops.post(resend)
        assert done.status_code == 303 and done.headers["location"] == f"/admin/batches/{batch}#webhooks"
        assert event_state(shop, event_id) == "PENDING"
        assert resend_audit(shop, event_id) == [("ops1", "batch", batch)]
        Deliverer(shop.db, shop.config.secret_key).deliver_due()
        got = [p for p in receiver.posts if p["headers"].get("MosPay-Event-Id") == event_id]
        assert len(got) == 2 and got[0]["raw"] == got[1]["raw"]  # the same event, byte for byte
        # Another batch, or an event that is not this batch's: 404, nothing queued.
        assert ops.post(f"/admin/batches/bat_{'0' * 32}/webhooks/{event_id}/resend").status_code == 404
        other, _ = cancelled_batch(shop, receiver, "shoptwo")
        assert ops.post(f"/admin/batches/{other}/webhooks/{event_id}/resend").status_code == 404
        assert event_state(shop, event_id) == "DELIVERED" and len(resend_audit(shop, event_id)) == 1


def test_the_merchant_batch_page_lists_its_events_and_resends_only_its_clients(shop):
    with Receiver() as receiver:
        batch, event_id = cancelled_batch(shop, receiver)
        resend = f"/portal/batches/{batch}/webhooks/{event_id}/resend"
        finance = merchant_portal(shop, "shopone", "finance")  # reads the batch, may not resend webhooks
        page = finance.get(f"/portal/batches/{batch}")
        section = page.text[page.text.index('id="webhooks"'):]
        assert event_id in section and "<strong>DELIVERED</strong>" in section and receiver.url in section
        assert resend not in section
        assert finance.post(resend).status_code == 403

        two = merchant_portal(shop, "shoptwo", "owner")  # another client's owner: nothing of shopone's
        assert two.get(f"/portal/batches/{batch}").status_code == 404
        answer = two.post(resend)
        assert answer.status_code == 404 and event_id not in answer.text
        other_batch, other_event = cancelled_batch(shop, receiver, "shoptwo")
        assert two.post(f"/portal/batches/{other_batch}/webhooks/{event_id}/resend").status_code == 404
        assert event_state(shop, event_id) == "DELIVERED" and resend_audit(shop, event_id) == []

        developer = merchant_portal(shop, "shopone", "developer")
        assert f'action="{resend}"' in developer.get(f"/portal/batches/{batch}").text
        assert developer.post(resend, csrf=False).status_code == 403  # no CSRF token
        assert developer.post(f"/portal/batches/{batch}/webhooks/{other_event}/resend").status_code == 404
        assert event_state(shop, other_event) == "DELIVERED"
        done = developer.post(resend)
        assert done.status_code == 303 and done.headers["location"] == f"/portal/batches/{batch}#webhooks"
        assert event_state(shop, event_id) == "PENDING"
        assert resend_audit(shop, event_id) == [(f"merchant:{developer.me['email']}", "webhook_event", event_id)]
        Deliverer(shop.db, shop.config.secret_key).deliver_due()
        got = [p for p in receiver.posts if p["headers"].get("MosPay-Event-Id") == event_id]
        assert len(got) == 2 and got[0]["raw"] == got[1]["raw"]
