"""Security pieces that need no database: settings, the trusted-proxy walk, the token bucket, the block cache."""

from __future__ import annotations

import time

import pytest

from mospay import errors
from mospay.config import Config, ConfigError
from mospay.proxy import TrustedProxies
from mospay.security import AuthThrottle


def test_security_settings_default_to_safe_values():
    config = Config.from_env({})
    assert (config.auth_failure_limit, config.auth_failure_window_s) == (10, 60)
    assert config.trusted_proxies == () and config.cors_origins == ()
    assert config.rate_limit_per_minute == 6000


def test_lists_are_comma_separated_and_trimmed():
    config = Config.from_env({"MOSPAY_TRUSTED_PROXIES": "10.0.0.1, 10.1.0.0/16,,::1",
                              "MOSPAY_CORS_ORIGINS": "https://a.example.com , http://localhost:3000"})
    assert config.trusted_proxies == ("10.0.0.1", "10.1.0.0/16", "::1")
    assert config.cors_origins == ("https://a.example.com", "http://localhost:3000")


@pytest.mark.parametrize("env, fragment", [
    ({"MOSPAY_TRUSTED_PROXIES": "proxy.local"}, "MOSPAY_TRUSTED_PROXIES"),
    ({"MOSPAY_CORS_ORIGINS": "*"}, "MOSPAY_CORS_ORIGINS"),
    ({"MOSPAY_CORS_ORIGINS": "https://a.example.com/path"}, "MOSPAY_CORS_ORIGINS"),
    ({"MOSPAY_AUTH_FAILURE_LIMIT": "1"}, "MOSPAY_AUTH_FAILURE_LIMIT"),
    ({"MOSPAY_AUTH_FAILURE_WINDOW": "0"}, "MOSPAY_AUTH_FAILURE_WINDOW"),
    ({"MOSPAY_RATE_LIMIT_PER_MINUTE": "-1"}, "MOSPAY_RATE_LIMIT_PER_MINUTE"),
    ({"JWT_SECRET_KEY": "x" * 31}, "JWT_SECRET_KEY"),
])
def test_bad_security_settings_stop_start_up(env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        Config.from_env(env)


@pytest.mark.parametrize("peer, forwarded, expected", [
    ("10.0.0.1", "203.0.113.5", "203.0.113.5"),
    ("10.0.0.1", "6.6.6.6, 203.0.113.5", "203.0.113.5"),
    ("10.0.0.1", "203.0.113.5, 10.0.0.2", "203.0.113.5"),
    ("10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3"),     # only proxies: the farthest one
    ("10.0.0.1", "", "10.0.0.1"),
    ("10.0.0.1", "203.0.113.5, garbage", "10.0.0.1"),
])
def test_client_address_walks_forwarded_for_from_the_right(peer, forwarded, expected):
    assert TrustedProxies(None, ["10.0.0.0/24"]).client_address(peer, forwarded) == expected


def test_untrusted_peer_loses_its_forwarding_headers():
    seen = {}
    app = TrustedProxies(lambda environ, start: seen.update(environ), ["10.0.0.1"])
    app({"REMOTE_ADDR": "192.0.2.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4", "HTTP_X_FORWARDED_PROTO": "https",
         "HTTP_FORWARDED": "for=1.2.3.4", "wsgi.url_scheme": "http"}, None)
    assert seen["REMOTE_ADDR"] == "192.0.2.1" and seen["wsgi.url_scheme"] == "http"
    assert not any(k.startswith(("HTTP_X_FORWARDED", "HTTP_FORWARDED")) for k in seen)


def test_trusted_peer_sets_client_address_and_scheme():
    seen = {}
    app = TrustedProxies(lambda environ, start: seen.update(environ), ["10.0.0.1"])
    app({"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4", "HTTP_X_FORWARDED_PROTO": "https",
         "wsgi.url_scheme": "http"}, None)
    assert (seen["REMOTE_ADDR"], seen["wsgi.url_scheme"], seen["mospay.peer_addr"]) == ("1.2.3.4", "https", "10.0.0.1")


def test_block_cache_answers_without_a_database():
    throttle = AuthThrottle(db=None, limit=10, window_s=60)
    throttle.check(["ip:1.2.3.4"])  # nothing blocked: no error, and db=None proves no query was made
    throttle._blocked["ip:1.2.3.4"] = time.monotonic() + 30
    with pytest.raises(errors.TooManyRequests) as caught:
        throttle.check(["user:x", "ip:1.2.3.4"])
    assert caught.value.code == "auth_throttled" and caught.value.headers["Retry-After"] in ("29", "30")


def test_no_database_url_with_a_password_or_key_literal_is_hard_coded_in_the_source():
    # The system we replace fell back to a hard-coded URL with its password and to default JWT keys.
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    sources = [*root.glob("mospay/**/*.py"), root / "run.py", *root.glob("mospay/**/*.sql"),
               *root.glob("schema/*.sql"), *root.glob("migrations/*.sql")]
    credential_url = re.compile(r"postgres(ql)?://[^/\s:@'\"]+:[^@\s'\"]+@")
    key_literal = re.compile(
        r"(SECRET_KEY|JWT_SECRET_KEY|secret_key|jwt_secret_key)\s*[:=]\s*(str\s*=\s*)?['\"][^'\"]+['\"]")
    for path in sources:
        text = path.read_text(encoding="utf-8")
        found = [m.group(0) for m in credential_url.finditer(text)]
        assert all(url.endswith("://user:pass@") for url in found), (path, found)  # placeholders in help text only
        assert not key_literal.search(text), path
    assert Config().secret_key == "" and Config().jwt_secret_key == ""  # no default key: generated per install
