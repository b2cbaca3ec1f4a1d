"""waitress's body limit per path: a provider statement upload may be as large as MOSPAY_STATEMENT_MAX_BYTES,
every other request is still refused from its head past MOSPAY_MAX_BODY_BYTES, with the JSON 413 naming
the limit that applied."""

from __future__ import annotations

from waitress.adjustments import Adjustments

from mospay.config import Config
from mospay.server import HeadParser, large_bodies, waitress_options

CONFIG = Config(statement_max_bytes=20 * 1024 * 1024)


def parse(path: str, length: int, method: str = "POST"):
    adj = Adjustments(**waitress_options(4, CONFIG.max_body_bytes))
    parser = HeadParser(adj, large_bodies=large_bodies(CONFIG))
    parser.received(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode())
    return parser


def test_a_statement_upload_may_be_large_and_nothing_else_may():
    assert parse("/api/v1/admin/services/mtn/statements", 10 * 1024 * 1024).error is None
    assert parse("/admin/statements", 10 * 1024 * 1024).error is None
    for path in ("/api/v1/payment/process", "/api/v1/admin/services/mtn/statements/x", "/admin/statements/1",
                 "/api/v1/admin/services/mtn/fields"):
        refused = parse(path, 10 * 1024 * 1024)
        assert refused.error is not None and refused.error.code == 413, path
        assert refused.adj.max_request_body_size == 64 * 1024 + 1
    assert parse("/api/v1/payment/process", 64 * 1024).error is None  # the control: at the limit


def test_a_50_mb_statement_is_refused_from_its_head_with_the_statement_limit():
    refused = parse("/api/v1/admin/services/mtn/statements", 50 * 1024 * 1024)
    assert refused.error is not None and refused.error.code == 413
    assert refused.adj.max_request_body_size - 1 == CONFIG.statement_max_bytes + 64 * 1024
