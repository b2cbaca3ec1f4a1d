"""Request ids are only taken from trusted proxies; the JSON log formatter writes one object per line."""

from __future__ import annotations

import json
import logging

import falcon
import falcon.testing

from mospay.logs import JsonFormatter
from mospay.observe import RequestObserver


class _Echo:
    def on_get(self, req, resp):
        resp.media = {"id": req.context.request_id}


def _client(trusted):
    app = falcon.App(middleware=[RequestObserver(trusted)])
    app.add_route("/x", _Echo())
    return falcon.testing.TestClient(app)


def test_request_id_is_taken_only_from_a_trusted_address_or_network():
    headers = {"X-Request-ID": "abc-123"}
    assert _client(("10.0.0.5",)).simulate_get("/x", remote_addr="10.0.0.5", headers=headers).json["id"] == "abc-123"
    assert _client(("10.0.0.0/24",)).simulate_get("/x", remote_addr="10.0.0.9", headers=headers).json["id"] == "abc-123"
    assert _client(("10.0.0.5",)).simulate_get("/x", remote_addr="10.0.0.6", headers=headers).json["id"] != "abc-123"
    assert _client(()).simulate_get("/x", remote_addr="127.0.0.1", headers=headers).json["id"] != "abc-123"


def test_json_formatter_writes_extra_fields_and_exceptions_on_one_line():
    record = logging.LogRecord("mospay.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.request_id, record.status = "r1", 200
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "GET /x" and entry["request_id"] == "r1" and entry["status"] == 200
    assert entry["time"].endswith("Z") and entry["logger"] == "mospay.access"
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        import sys
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line and "boom" in json.loads(line)["exception"]


def test_access_log_is_on_by_default_even_at_warning_and_off_with_mospay_access_log_off():
    from mospay import logs
    from mospay.config import Config
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger(logs.ACCESS).level)
    try:
        logs.setup(Config.from_env({"MOSPAY_LOG_LEVEL": "WARNING"}))
        assert logging.getLogger(logs.ACCESS).isEnabledFor(logging.INFO)
        assert not logging.getLogger("mospay.app").isEnabledFor(logging.INFO)
        logs.setup(Config.from_env({"MOSPAY_ACCESS_LOG": "off"}))
        assert not logging.getLogger(logs.ACCESS).isEnabledFor(logging.INFO)
        assert not logging.getLogger(logs.ACCESS).isEnabledFor(logging.ERROR)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger(logs.ACCESS).setLevel(saved[2])
