"""Where provider calls may go: link-local and cloud-metadata addresses refused in every spelling,
MOSPAY_SERVICE_URL_ALLOW pins destinations, and a provider's redirect is never followed."""

from __future__ import annotations

import http.server
import threading

import pytest

from mospay import egress
from mospay.config import Config, ConfigError
from mospay.provider import Provider

KEYS = {"secret_key": "s" * 40, "jwt_secret_key": "j" * 40}

METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",          # ECS task credentials
    "https://169.254.0.1:8443/x",
    "http://[fd00:ec2::254]/latest/meta-data/",      # EC2 IMDS over IPv6
    "http://[fe80::1]/",
    "http://[::ffff:169.254.169.254]/",              # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]/",                    # IPv4-mapped, hex
    "http://[64:ff9b::a9fe:a9fe]/",                  # NAT64
    "http://[::169.254.169.254]/",                   # IPv4-compatible
    "http://2852039166/",                            # one decimal number
    "http://0xa9fea9fe/",                            # one hex number
    "http://0251.0376.0251.0376/",                   # octal parts
    "http://0xa9.0xfe.0xa9.0xfe/",                   # hex parts
    "http://169.254.43518/",                         # a.b.c with a 16-bit last part
    "http://169.254.169.254./",                      # trailing dot
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.GOOGLE.INTERNAL./",
]
ORDINARY_URLS = ["http://127.0.0.1:9000", "https://api.mtn.example/collection", "http://10.0.0.5/",
                 "http://[::1]:9000/", "http://169.253.255.255/", "http://169.255.0.1/"]


@pytest.mark.parametrize("url", METADATA_URLS)
def test_link_local_and_metadata_addresses_are_refused_in_every_spelling(url):
    assert egress.refusal(url) is not None
    with pytest.raises(Exception) as refused:
        egress.check_service_url(url)
    assert getattr(refused.value, "status", None) == 422 and refused.value.field == "service_url"


@pytest.mark.parametrize("url", ORDINARY_URLS)
def test_ordinary_addresses_are_allowed_by_default(url):
    assert egress.refusal(url) is None
    assert egress.check_service_url(url) == url


def test_a_host_name_that_resolves_to_a_metadata_address_is_refused_at_call_time(monkeypatch):
    monkeypatch.setattr(egress, "_lookups", {})
    monkeypatch.setattr(egress.socket, "getaddrinfo",
                        lambda *a, **k: [(2, 1, 6, "", ("169.254.169.254", 0))])
    assert egress.refusal("http://innocent.example/") is None  # saving does not depend on DNS
    assert "link-local" in egress.refusal("http://innocent.example/", resolve=True)


def test_the_allow_list_pins_hosts_and_networks_and_refuses_everything_else():
    allow = egress.parse_allow(["api.mtn.example", "10.20.0.0/16", "::1"])
    assert egress.refusal("https://api.mtn.example/x", allow) is None
    assert egress.refusal("https://API.MTN.EXAMPLE./x", allow) is None
    assert egress.refusal("http://10.20.3.4:8080/", allow) is None
    assert egress.refusal("http://[::1]:9000/", allow) is None
    assert egress.refusal("http://[::ffff:10.20.3.4]/x", allow) is None  # the same address, mapped
    for url in ("https://evil.example/", "https://api.mtn.example.evil.example/", "http://10.21.0.1/",
                "http://127.0.0.1:9000/", "http://169.254.169.254/", "http://2852039166/"):
        assert "MOSPAY_SERVICE_URL_ALLOW" in egress.refusal(url, allow), url
    # An operator may deliberately allow a link-local network.
    assert egress.refusal("http://169.254.1.1/", egress.parse_allow(["169.254.1.0/24"])) is None


def test_the_allow_setting_is_validated_at_start_up():
    config = Config.from_env({"MOSPAY_SERVICE_URL_ALLOW": "api.mtn.example, 10.0.0.0/8", **{
        "SECRET_KEY": KEYS["secret_key"], "JWT_SECRET_KEY": KEYS["jwt_secret_key"]}})
    assert config.service_url_allow == ("api.mtn.example", "10.0.0.0/8")
    with pytest.raises(ConfigError, match="MOSPAY_SERVICE_URL_ALLOW"):
        Config(**KEYS, service_url_allow=("http://not a host/",)).validate()


def test_the_provider_client_refuses_a_metadata_url_without_connecting():
    answer = Provider().call("GET", "http://169.254.169.254/latest/meta-data/", {}, None, 0.5, 0.5)
    assert answer.status is None and answer.failure == "refused_destination"
    pinned = Provider(url_allow=egress.parse_allow(["api.mtn.example"]))
    assert pinned.call("GET", "http://127.0.0.1:9/", {}, None, 0.5, 0.5).failure == "refused_destination"


class _Hits:
    def __init__(self):
        self.count = 0


def _serve(handler):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


def test_a_redirect_from_the_provider_is_not_followed():
    hits = _Hits()

    class Target(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.count += 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
        do_POST = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    target, target_thread = _serve(Target)
    location = f"http://127.0.0.1:{target.server_address[1]}/stolen"

    class Redirector(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"status": "PENDING"}'
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        do_GET = do_POST  # noqa: N815

        def log_message(self, *args):
            pass

    redirector, redirector_thread = _serve(Redirector)
    try:
        url = f"http://127.0.0.1:{redirector.server_address[1]}/collection"
        for method in ("POST", "GET"):
            answer = Provider().call(method, url, {"X-Api-Key": "k"}, {"amount": "1"}, 2, 2)
            assert answer.status == 302 and answer.body == {"status": "PENDING"}
        assert hits.count == 0
    finally:
        for server, thread in ((redirector, redirector_thread), (target, target_thread)):
            server.shutdown()
            server.server_close()
            thread.join()


def test_a_host_name_is_looked_up_once_a_minute_not_before_every_call(monkeypatch):
    """The check runs before every provider call: a DNS query each time would add its latency to every
    payment. A name's answer is kept LOOKUP_TTL_S, then asked again (a changed answer is seen)."""
    monkeypatch.setattr(egress, "_lookups", {})
    answers, asked = [("10.0.0.7", 0)], []

    def getaddrinfo(name, *args, **kwargs):
        asked.append(name)
        return [(2, 1, 6, "", answers[0])]
    monkeypatch.setattr(egress.socket, "getaddrinfo", getaddrinfo)
    for _ in range(50):
        assert egress.refusal("https://api.mtn.example/pay", resolve=True) is None
    assert asked == ["api.mtn.example"]
    answers[0] = ("169.254.169.254", 0)  # the name now points at the metadata service
    clock = [egress.time.monotonic() + egress.LOOKUP_TTL_S + 1]
    monkeypatch.setattr(egress.time, "monotonic", lambda: clock[0])
    assert "link-local" in egress.refusal("https://api.mtn.example/pay", resolve=True)
    assert asked == ["api.mtn.example"] * 2
