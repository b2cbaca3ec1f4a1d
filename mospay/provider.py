"""urllib3 client for the payment microservices: explicit timeouts, bounded bodies, no POST retries, no
redirects, no link-local / cloud-metadata destinations (mospay/egress.py)."""

from __future__ import annotations

import dataclasses
import json
import logging
import time

import urllib3
from urllib3.exceptions import HTTPError, ReadTimeoutError, TimeoutError as Urllib3Timeout

from . import credentials as creds, egress


log = logging.getLogger("mospay.provider")
# urllib3 logs each request line, query string included, at DEBUG: with MOSPAY_LOG_LEVEL=DEBUG a provider
# credential placed in a URL would reach the log. Our own lines show the URL before credentials are filled in.
logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)
MAX_RESPONSE_BYTES = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class ProviderAnswer:
    """What came back: an HTTP status and body, or no answer at all (`failure` says why)."""
    status: int | None
    body: object = None
    # "timeout" | "connection": maybe sent. Never sent: "invalid_request", "missing_credential", "refused_destination".
    failure: str | None = None
    elapsed_ms: float = 0.0

    @property
    def answered(self) -> bool:
        return self.status is not None


NOT_SENT = ("invalid_request", "missing_credential", "refused_destination")


class Provider:
    def __init__(self, maxsize: int = 16, url_allow: tuple = ()):
        """url_allow: MOSPAY_SERVICE_URL_ALLOW parsed by egress.parse_allow (empty: anywhere but
        link-local and cloud-metadata addresses)."""
        # retries=False: a repeated POST could charge twice; the reconciler finds out instead.
        self._http = urllib3.PoolManager(num_pools=64, maxsize=maxsize, retries=False)
        self._allow = tuple(url_allow)

    def close(self) -> None:
        """Close the pooled provider connections (an app that is shut down, a test's teardown)."""
        self._http.clear()

    def call(self, method: str, url: str, headers: dict, payload, connect_timeout: float,
             read_timeout: float, *, shown_url: str | None = None, secrets=()) -> ProviderAnswer:
        """shown_url: the URL as logs may show it (before credentials were filled in); secrets: values to
        mask in anything logged."""
        started = time.perf_counter()
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return ProviderAnswer(None, failure="invalid_request")
        if method not in ("POST", "PUT", "GET"):
            return ProviderAnswer(None, failure="invalid_request")
        shown = creds.scrub(shown_url or url, secrets)
        refused = egress.refusal(url, self._allow, resolve=True)
        if refused:
            log.warning("provider call to %s refused: %s", shown, creds.scrub(refused, secrets))
            return ProviderAnswer(None, failure="refused_destination")
        headers = {str(k): str(v) for k, v in (headers or {}).items()}
        headers.setdefault("Content-Type", "application/json")
        body = None if method == "GET" else json.dumps(payload, separators=(",", ":")).encode()
        timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout,
                                  total=connect_timeout + read_timeout)
        deadline = started + connect_timeout + read_timeout
        try:
            response = self._http.request(method, url, body=body, headers=headers, timeout=timeout,
                                          preload_content=False, redirect=False)
            raw = _read_bounded(response, deadline)
        except (ReadTimeoutError, Urllib3Timeout) as exc:
            log.warning("provider timeout %s: %s", shown, creds.scrub(str(exc), secrets))
            return ProviderAnswer(None, failure="timeout", elapsed_ms=_ms(started))
        except (HTTPError, OSError, ValueError) as exc:
            log.warning("provider unreachable %s: %s", shown, creds.scrub(str(exc), secrets))
            return ProviderAnswer(None, failure="connection", elapsed_ms=_ms(started))
        return ProviderAnswer(response.status, _parse(raw), elapsed_ms=_ms(started))


def call_planned(provider: Provider, breaker, metrics, service: str, plan: dict, connect_timeout_s: float,
                 timeout_s: float, default_method: str, *, credentials: creds.CredentialStore | None = None,
                 app_id: str | None = None) -> ProviderAnswer:
    """Call the provider as a request or Status function planned it ({"serviceurl", "method", "headers",
    "servicepayload"}), under the service's breaker (whose allow() the caller has passed): the call is
    counted in `metrics` (the app's registry) and its transport failure, if any, in the breaker.

    `{{credential:name}}` references are filled in from `credentials` (for this service and `app_id`)
    here, in memory, and the values masked in the answer; a name with no value means nothing is sent."""
    names, values = creds.references(plan), {}
    if names:
        values = credentials.resolve(service, app_id, names) if credentials is not None else {}
        missing = sorted(names - values.keys())
        if missing:
            log.warning("service %s (client %s): no value for provider credential(s) %s; nothing sent",
                        service, app_id, ", ".join(repr(m[:64]) for m in missing))
            answer = ProviderAnswer(None, failure="missing_credential")
            metrics.observe_provider_call(service, None, answer.failure, 0.0)
            breaker.release()
            return answer
    sent = creds.fill(plan, values) if values else plan
    secrets = tuple(values.values())
    answer = provider.call(str(sent.get("method") or default_method).upper(), sent.get("serviceurl"),
                           sent.get("headers"), sent.get("servicepayload"), connect_timeout_s, timeout_s,
                           shown_url=plan.get("serviceurl") if isinstance(plan.get("serviceurl"), str) else None,
                           secrets=secrets)
    if secrets and answer.answered:
        answer = dataclasses.replace(answer, body=creds.scrub(answer.body, secrets))
    metrics.observe_provider_call(service, answer.status, answer.failure, answer.elapsed_ms)
    breaker.record(transport_failure=answer.failure in ("timeout", "connection"))
    return answer


def _read_bounded(response, deadline: float) -> bytes:
    """At most MAX_RESPONSE_BYTES + 1 bytes, and never past the deadline: urllib3's read timeout
    is per socket read, so a provider trickling one byte a second would otherwise hold us forever."""
    chunks, size, complete = [], 0, False
    try:
        while size <= MAX_RESPONSE_BYTES:
            if time.perf_counter() > deadline:
                raise Urllib3Timeout("the provider's answer did not arrive before the deadline")
            chunk = response.read1(min(16384, MAX_RESPONSE_BYTES + 1 - size))  # returns what has arrived
            if not chunk:
                complete = True
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        if complete:
            response.release_conn()
        else:  # unread bytes would corrupt the next request on this connection: drop it
            response.close()
    return b"".join(chunks)


def _parse(raw: bytes):
    """The parsed JSON body, else the text (as a JSON string) so the RESPONSE function still sees it."""
    if len(raw) > MAX_RESPONSE_BYTES:
        return "<response body over 1 MiB, not read>"
    text = raw.decode("utf-8", errors="replace").replace("\x00", "")  # raw NUL is never valid JSON
    try:
        return _without_nul(json.loads(text, parse_constant=lambda c: None))
    except (ValueError, RecursionError):
        return _without_nul(text[:4096])


def _without_nul(value):
    """PostgreSQL's jsonb refuses NUL characters: drop them rather than lose the whole answer."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
