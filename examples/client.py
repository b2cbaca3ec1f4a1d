"""A MosPay client a merchant can copy: token caching, payments retried safely, webhook signatures.

Standard library only (Python 3.9+). Use it as a module:

    from client import MosPayClient, verify_webhook
    mospay = MosPayClient("https://pay.example.com", app_id, api_username, api_secret)
    result = mospay.pay({"f000": "mtnmomorwa", "f001": "collection", "f002": "collection",
                         "f004": "1000.00", "f005": "+250788123456", "f006": "customer123",
                         "f007": "...", "f008": "...", "f009": "device_abc123"}, f010="order-1001")

or from a shell: python examples/client.py --url http://127.0.0.1:5000 --app-id demo \
    --username "$API_USERNAME" --secret "$API_SECRET" --amount 1000.00 --msisdn +250788123456
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request

# Statuses worth the same request again. 409 only with code "in_progress" (see _retryable):
# 409 "idempotency_conflict" means the f010 was used for another payment and must not be retried.
RETRY_STATUSES = {429, 502, 503, 504}
# How long a first request with the same f010 can keep MosPay answering 409 in_progress: its provider
# call's deadline, the service's connect + read timeout (35 s by default) + 2 s. After that MosPay answers
# 202 UNKNOWN with the transaction id (docs/guarantees.md), so in_progress is retried at least this long.
IN_PROGRESS_BUDGET_S = 40.0


class MosPayError(Exception):
    """MosPay said no (a 4xx), or kept failing after the retries. `status` and `body` say why."""

    def __init__(self, status: int | None, body: dict | None, message: str):
        super().__init__(message)
        self.status, self.body = status, body
        self.retry_after: str | None = None  # MosPay's Retry-After header, when it sent one


class MosPayClient:
    def __init__(self, base_url: str, app_id: str, api_username: str, api_secret: str, *,
                 timeout: float = 65.0, retries: int = 4, backoff: float = 0.5,
                 in_progress_s: float = IN_PROGRESS_BUDGET_S):
        # timeout: longer than the slowest provider timeout MosPay waits for (30 s by default),
        # so MosPay, not this client, decides that an answer is late. in_progress_s: raise it when a
        # service's connect + read timeout is longer than 38 s.
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self._basic = base64.b64encode(f"{api_username}:{api_secret}".encode()).decode()
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.in_progress_s = in_progress_s
        self._token: str | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()
        self.token_requests = 0  # how many tokens were fetched: the cache at work

    # -- tokens -----------------------------------------------------------------------------------
    def token(self) -> str:
        """A bearer token, reused until one minute before it expires (one request per hour, not per payment)."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._token_expires:
                status, body, _ = self._send("POST", "/api/v1/auth/token", None,
                                             {"Authorization": f"Basic {self._basic}", "App-ID": self.app_id})
                if status != 200:
                    raise MosPayError(status, body, f"token refused: {_message(body)}")
                self.token_requests += 1
                self._token = body["access_token"]
                self._token_expires = time.monotonic() + max(int(body["expires_in"]) - 60, 1)
            return self._token

    def _forget_token(self) -> None:
        with self._lock:
            self._token = None

    # -- payments ---------------------------------------------------------------------------------
    def pay(self, fields: dict, f010: str | None = None) -> dict:
        """Send one payment. Every retry sends the *same* f010 and body, so MosPay processes it once and
        replays the first answer: a lost response can never charge the customer twice.

        Returns MosPay's answer: {"transaction_id", "f010", "status", "result"} where status is
        SUCCESSFUL, FAILED (HTTP 402, returned, not raised), PENDING or UNKNOWN (check later with status()).
        """
        body = dict(fields, f003=self.app_id, f010=f010 or f"order-{secrets.token_hex(8)}")
        return self._call_with_retries("POST", "/api/v1/payment/process", body)

    def status(self, f010: str) -> dict:
        return self._call_with_retries("GET", f"/api/v1/payment/{f010}", None)

    def _call_with_retries(self, method: str, path: str, body: dict | None) -> dict:
        """`retries` more tries after no answer, a 5xx or a 429; 409 in_progress is retried for
        `in_progress_s` (from the first request) whatever the count, since MosPay promises an answer by then."""
        last, attempt, started, refreshed = None, 0, time.monotonic(), False
        while True:
            if last is not None:
                in_progress = last.status == 409 and time.monotonic() - started < self.in_progress_s
                if attempt > self.retries and not in_progress:
                    raise last
                self._sleep(attempt - 1, last.retry_after)
            attempt += 1
            try:
                status, answer, headers = self._send(method, path, body,
                                                     {"Authorization": f"Bearer {self.token()}"})
            except OSError as exc:  # no answer at all: the request may or may not have arrived
                last = MosPayError(None, None, f"no answer from MosPay: {exc}")
                continue
            if status == 401 and not refreshed:  # the token was revoked or expired early: fetch a new one
                self._forget_token()
                refreshed, attempt, last = True, attempt - 1, None
                continue
            if status < 400 or status == 402:
                return answer
            if not _retryable(status, answer):
                raise MosPayError(status, answer, f"MosPay answered {status}: {_message(answer)}")
            last = MosPayError(status, answer, f"MosPay answered {status}: {_message(answer)}")
            last.retry_after = headers.get("Retry-After")

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        attempt = min(attempt, self.retries)
        delay = self.backoff * (2 ** attempt) * (0.5 + secrets.randbelow(1000) / 1000)  # jittered
        if retry_after and retry_after.isascii() and retry_after.isdigit():
            delay = max(delay, min(int(retry_after), 30))
        time.sleep(delay)

    def _send(self, method: str, path: str, body: dict | None, headers: dict):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers={
            **headers, "Accept": "application/json", **({"Content-Type": "application/json"} if data else {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return resp.status, _json(resp.read()), resp.headers
        except urllib.error.HTTPError as err:  # a 4xx/5xx is still an answer
            with err:
                return err.code, _json(err.read()), err.headers


def _retryable(status: int, body) -> bool:
    if status in RETRY_STATUSES or status >= 500:
        return True
    return status == 409 and _code(body) == "in_progress"


def _json(raw: bytes):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return {"error": {"code": "not_json", "message": raw[:200].decode("utf-8", "replace")}}


def _code(body) -> str | None:
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def _message(body) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return f"{body['error'].get('code')}: {body['error'].get('message')}"
    return str(body)[:200]


# -- webhooks -------------------------------------------------------------------------------------
def sign_webhook(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The MosPay-Signature header value for `body` (what MosPay sends; handy in your own tests)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify_webhook(secret: str, body: bytes, header: str | None, tolerance_s: int = 300,
                   now: float | None = None) -> bool:
    """True when `header` (MosPay-Signature: t=<unix>,v1=<hex>) signs exactly these raw body bytes.

    Check the raw bytes as received, before parsing JSON. Old timestamps are refused so a captured
    request cannot be replayed later; several v1= values are accepted while a secret is being rotated.
    """
    if not header:
        return False
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    timestamps = [v for k, v in parts if k.strip() == "t"]
    signatures = [v.strip() for k, v in parts if k.strip() == "v1"]
    stamp = timestamps[0].strip() if len(timestamps) == 1 else ""
    if not (stamp.isascii() and stamp.isdigit()) or not signatures:  # isdigit() alone takes '²'
        return False
    t = int(stamp)
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Send one payment through MosPay.")
    parser.add_argument("--url", default=os.environ.get("MOSPAY_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--app-id", default=os.environ.get("APP_ID"))
    parser.add_argument("--username", default=os.environ.get("API_USERNAME"))
    parser.add_argument("--secret", default=os.environ.get("API_SECRET"))
    parser.add_argument("--service", default="mtnmomorwa")
    parser.add_argument("--route", default="collection")
    parser.add_argument("--amount", default="1000.00")
    parser.add_argument("--msisdn", default="+250788123456")
    parser.add_argument("--f010", help="your unique id (default: a random order id)")
    args = parser.parse_args(argv)
    if not (args.app_id and args.username and args.secret):
        parser.error("--app-id, --username and --secret (or APP_ID, API_USERNAME, API_SECRET) are required")
    client = MosPayClient(args.url, args.app_id, args.username, args.secret)
    fields = {"f000": args.service, "f001": args.route, "f002": args.route, "f004": args.amount,
              "f005": args.msisdn, "f006": "customer", "f007": "encrypted", "f008": "password",
              "f009": "device"}
    try:
        result = client.pay(fields, f010=args.f010)
    except MosPayError as exc:
        print(json.dumps({"error": str(exc), "status": exc.status, "body": exc.body}), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
