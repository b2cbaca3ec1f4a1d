"""Mobile-money provider simulator (MTN MoMo collection style) used to exercise MosPay adapters.
The payer MSISDN's last 4 digits pick the outcome, like Stripe test cards; see OUTCOMES.

0001 decline · 0002 hang · 0003 HTTP 500 · 0004 pending (approved later) · 0005 malformed JSON ·
0006 slow trickle · 0007 huge body (3 MiB) · 0008 pending (rejected later) · 0503 HTTP 503 (not
processed: remembered as FAILED) · anything else succeeds.
0002 and 0006 both take hang_seconds to answer in full, so a caller whose deadline is shorter than
hang_seconds gives up on both (0006 sends a byte every trickle_seconds: only a total deadline ends it).
A pending payment (0004/0008) sent with an X-Callback-Url header settles after callback_delay seconds
and the simulator then PUTs a MoMo-style callback there (callback_duplicates times; each dropped with
probability callback_drop_rate). GET /<route>/<externalId> is the status query; /_sim/calls counts
payment requests (never status queries); GET /_sim/headers/<externalId> the headers of the last payment
request with that externalId (to check what credentials a gateway sent); status_delay makes each status
query take that long. Refunds (mospay/sim_refunds.py): POST /v1_0/refund, GET /v1_0/refund/<referenceId>,
outcome by the same digits applied to the amount in minor units; GET /_sim/refunds counts them.
GET /_sim/statement.csv?from=&to= is its statement: every payment it took on
(reference = externalId, amount, currency, current status, date of the first call), MosPay's default columns.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import random
import secrets
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from . import sim_refunds, sim_statement

MAX_BODY = 1024 * 1024

# Last 4 digits of payer.partyId -> (HTTP status, status later reported by GET).
# 0002/0003 are remembered as SUCCESSFUL on purpose: the provider moved the money even
# though the caller saw a timeout or a 500, which is what a gateway must reconcile.
OUTCOMES = {
    "0001": (200, "FAILED"),      # decline: NOT_ENOUGH_FUNDS
    "0002": (200, "SUCCESSFUL"),  # answers only after hang_seconds
    "0003": (500, "SUCCESSFUL"),  # internal_error
    "0004": (202, "PENDING"),     # with X-Callback-Url: SUCCESSFUL after callback_delay, then a callback
    "0005": (200, "SUCCESSFUL"),  # answers 200 with a truncated, malformed JSON body
    "0006": (200, "SUCCESSFUL"),  # answers 200, one byte per trickle_seconds, over at least hang_seconds
    "0007": (200, "SUCCESSFUL"),  # answers 200 with a 3 MiB body
    "0008": (202, "PENDING"),     # with X-Callback-Url: FAILED (APPROVAL_REJECTED) after callback_delay
    "0503": (503, "FAILED"),      # overloaded: refused before processing, so no money moved
}
SETTLES_TO = {"0004": ("SUCCESSFUL", None), "0008": ("FAILED", "APPROVAL_REJECTED")}
HUGE_BODY_BYTES = 3 * 1024 * 1024
MAX_TRICKLE_PADDING = 64 * 1024  # keeps a long hang with a tiny trickle under any caller's body limit
DEFAULT_OUTCOME = (200, "SUCCESSFUL")
RESERVED = {"_sim", "health"}


class Ledger:
    """Thread-safe memory of payment requests: externalId -> last status and call count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: dict[str, str] = {}
        self._count: dict[str, int] = {}
        self._headers: dict[str, dict] = {}
        self._times: dict[str, list[float]] = {}
        self._moves: dict[str, dict] = {}  # payments it took on (not refused): its statement

    def record(self, external_id: str, status: str, headers: dict | None = None) -> None:
        with self._lock:
            self._status[external_id] = status
            self._count[external_id] = self._count.get(external_id, 0) + 1
            self._headers[external_id] = dict(headers or {})
            self._times.setdefault(external_id, []).append(time.time())

    def took(self, external_id: str, amount, currency) -> None:
        with self._lock:
            self._moves.setdefault(external_id, {"reference": external_id, "amount": amount,
                                                 "currency": currency, "at": time.time()})

    def moves(self) -> list[dict]:
        """Payments taken on, first call first, each with its current status."""
        with self._lock:
            return [{**m, "status": self._status[ext]} for ext, m in self._moves.items()]

    def call_times(self) -> dict[str, list[float]]:
        """When each payment request arrived (time.time()), by externalId: lets a test tell which of its
        attempts reached the provider once it knows the reference each payment was sent."""
        with self._lock:
            return {k: list(v) for k, v in self._times.items()}

    def headers(self, external_id: str) -> dict | None:
        with self._lock:
            return self._headers.get(external_id)

    def status(self, external_id: str) -> str | None:
        with self._lock:
            return self._status.get(external_id)

    def calls(self) -> dict:
        with self._lock:
            return {"total": sum(self._count.values()), "by_external_id": dict(self._count)}

    def settle(self, external_id: str, status: str) -> None:
        """The payer approved or rejected: later status queries see it (not counted as a call)."""
        with self._lock:
            self._status[external_id] = status

    def reset(self) -> None:
        with self._lock:
            self._status.clear()
            self._count.clear()
            self._headers.clear()
            self._moves.clear()
            self._times.clear()


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, hang_seconds: float = 30.0, verbose: bool = False, callback_delay: float = 1.0,
                 callback_duplicates: int = 1, callback_drop_rate: float = 0.0,
                 trickle_seconds: float = 0.2, status_delay: float = 0.0) -> None:
        self.hang_seconds = hang_seconds
        self.status_delay = status_delay
        self.verbose = verbose
        self.callback_delay = callback_delay
        self.callback_duplicates = callback_duplicates
        self.callback_drop_rate = callback_drop_rate
        self.trickle_seconds = trickle_seconds
        self.callbacks_sent = 0
        self.callback_rounds = 0  # settled payments whose callbacks (every duplicate, sent or dropped) are over
        self.ledger = Ledger()
        self.refund_ledger = sim_refunds.RefundLedger()
        self.stopping = threading.Event()
        super().__init__(address, Handler)

    def handle_error(self, request, client_address) -> None:
        # A client that timed out on a hang and hung up is the expected case, not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _SimulatorServer6(SimulatorServer):
    address_family = socket.AF_INET6


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every reply therefore carries Content-Length
    # Headers and body go out in two writes; with Nagle on, keep-alive clients stall ~40 ms.
    disable_nagle_algorithm = True
    server: SimulatorServer

    def log_message(self, format: str, *args) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _reply(self, code: int, payload: dict, close: bool = False) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Errors raised by the base class (bad request line, unknown method) become JSON too;
        # the connection is closed because any request body was left unread.
        if code == 501:
            self._reply(404, {"error": "not_found"}, close=True)
        else:
            self._reply(code, {"error": message or "error"}, close=True)

    def _read_body(self) -> bytes | None:
        """Return the body, or None after having answered an unreadable one."""
        if self.headers.get("Transfer-Encoding"):
            self._reply(411, {"error": "length_required"}, close=True)
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._reply(400, {"status": "FAILED", "reason": "INVALID_REQUEST"}, close=True)
            return None
        if length > MAX_BODY:
            self._reply(413, {"error": "payload_too_large"}, close=True)
            return None
        return self.rfile.read(length)

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            return
        parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
        method, ledger = self.command, self.server.ledger
        if method == "GET" and parts == ["health"]:
            self._reply(200, {"status": "ok"})
        elif method == "GET" and parts == ["_sim", "calls"]:
            self._reply(200, ledger.calls())
        elif method == "GET" and len(parts) == 3 and parts[:2] == ["_sim", "headers"]:
            self._reply(200, {"headers": ledger.headers(parts[2])})
        elif method == "GET" and parts == ["_sim", "statement.csv"]:
            sim_statement.serve(self, self.server.ledger.moves())
        elif method == "GET" and parts == ["_sim", "refunds"]:
            self._reply(200, self.server.refund_ledger.calls())
        elif method == "POST" and parts == ["_sim", "reset"]:
            ledger.reset()
            self.server.refund_ledger.reset()
            self._reply(200, {})
        elif method == "POST" and parts == sim_refunds.PATH:
            sim_refunds.refund(self, body)
        elif method == "GET" and len(parts) == 3 and parts[:2] == sim_refunds.PATH and parts[2]:
            sim_refunds.status(self, parts[2])
        elif method in ("POST", "PUT") and len(parts) == 1 and parts[0] and parts[0] not in RESERVED:
            self._pay(body, self.headers.get("X-Callback-Url"))
        elif method == "GET" and len(parts) == 2 and all(parts) and parts[0] not in RESERVED:
            if self.server.status_delay:  # a real provider's status query is not instant
                self.server.stopping.wait(self.server.status_delay)
            status = ledger.status(parts[1])
            if status is None:
                self._reply(404, {"status": "FAILED", "reason": "RESOURCE_NOT_FOUND"})
            else:
                self._reply(200, {"status": status, "externalId": parts[1]})
        else:
            self._reply(404, {"error": "not_found"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _dispatch

    def _pay(self, body: bytes, callback_url: str | None) -> None:
        try:
            data = json.loads(body)
        except ValueError:  # includes UnicodeDecodeError
            data = None
        payer = data.get("payer") if isinstance(data, dict) else None
        msisdn = payer.get("partyId") if isinstance(payer, dict) else None
        ext = data.get("externalId") if isinstance(data, dict) else None
        if not (isinstance(msisdn, str) and msisdn.strip() and isinstance(ext, str) and ext):
            self._reply(400, {"status": "FAILED", "reason": "INVALID_REQUEST"})
            return
        suffix = msisdn.strip()[-4:]
        code, status = OUTCOMES.get(suffix, DEFAULT_OUTCOME)
        # Remember before answering so a status GET during a hang already sees the request.
        self.server.ledger.record(ext, status, dict(self.headers.items()))
        if suffix != "0503":  # refused before processing: nothing for the statement
            self.server.ledger.took(ext, data.get("amount"), data.get("currency"))
        if suffix == "0001":
            self._reply(200, {"status": "FAILED", "reason": "NOT_ENOUGH_FUNDS",
                              "externalId": ext, "financialTransactionId": None})
        elif suffix == "0003":
            self._reply(500, {"error": "internal_error"})
        elif suffix == "0503":
            self._reply(503, {"error": "service_unavailable"})
        elif suffix in SETTLES_TO:
            self._reply(202, {"status": "PENDING", "externalId": ext})
            if callback_url:
                final, reason = SETTLES_TO[suffix]
                threading.Thread(target=_settle_and_call_back, daemon=True,
                                 args=(self.server, callback_url, ext, final, reason, data)).start()
        elif suffix == "0005":
            self._send_raw(200, b'{"status": "SUCCESSFUL", "externalId": "' + ext.encode()[:64])
        elif suffix == "0006":
            body = json.dumps({"status": "SUCCESSFUL", "externalId": ext}).encode()
            self._send_raw(200, _lasting(body, self.server.hang_seconds, self.server.trickle_seconds), trickle=True)
        elif suffix == "0007":
            padding = b"x" * HUGE_BODY_BYTES
            self._send_raw(200, b'{"status": "SUCCESSFUL", "padding": "' + padding + b'"}')
        else:
            if suffix == "0002":
                # An Event wait instead of sleep() so stop() does not wait out the hang.
                self.server.stopping.wait(self.server.hang_seconds)
            self._reply(200, {"status": "SUCCESSFUL", "externalId": ext,
                              "financialTransactionId": f"{secrets.randbelow(10**10):010d}",
                              "amount": data.get("amount"), "currency": data.get("currency")})


    def _send_raw(self, code: int, body: bytes, trickle: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        if not trickle:
            self.wfile.write(body)
            return
        for i in range(len(body)):
            if self.server.stopping.wait(self.server.trickle_seconds):
                return
            self.wfile.write(body[i:i + 1])
            self.wfile.flush()


def _lasting(body: bytes, seconds: float, per_byte: float) -> bytes:
    """The body led by JSON whitespace so that, one byte per `per_byte` s, it takes at least `seconds`:
    how long the trickle lasts must not depend on the length of the caller's externalId."""
    if per_byte <= 0:
        return body
    padding = min(MAX_TRICKLE_PADDING, max(0, math.ceil(seconds / per_byte) - len(body)))
    return b" " * padding + body


def _settle_and_call_back(server: SimulatorServer, url: str, ext: str, final: str, reason, data: dict) -> None:
    """The payer decides after callback_delay; then the provider tells the callback URL (maybe twice,
    maybe never: callbacks are best effort, which is why MosPay confirms them with a status query)."""
    if server.stopping.wait(server.callback_delay):
        return
    server.ledger.settle(ext, final)
    payload = json.dumps({"externalId": ext, "status": final, "reason": reason,
                          "financialTransactionId": f"{secrets.randbelow(10**10):010d}" if final == "SUCCESSFUL" else None,
                          "amount": data.get("amount"), "currency": data.get("currency"),
                          "payer": data.get("payer")}).encode()
    parts = urlsplit(url)
    for _ in range(server.callback_duplicates):
        if random.random() < server.callback_drop_rate:
            continue
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)
        try:
            conn.request("PUT", parts.path or "/", body=payload, headers={"Content-Type": "application/json"})
            conn.getresponse().read()
            server.callbacks_sent += 1
        except OSError:
            pass  # the gateway will find out through its own status queries
        finally:
            conn.close()
    server.callback_rounds += 1


def make_server(host: str = "127.0.0.1", port: int = 0, hang_seconds: float = 30.0, verbose: bool = False,
                **callbacks) -> SimulatorServer:
    """Bind (and listen) without serving; call serve_forever() yourself or use Simulator.
    callbacks: callback_delay, callback_duplicates, callback_drop_rate, trickle_seconds, status_delay."""
    cls = _SimulatorServer6 if ":" in host else SimulatorServer
    return cls((host, port), hang_seconds=hang_seconds, verbose=verbose, **callbacks)


class Simulator:
    """In-process simulator for tests.

    sim = Simulator(host="127.0.0.1", port=0, hang_seconds=30.0, verbose=False).start()
    sim.url -> "http://127.0.0.1:<port>", sim.port, sim.calls -> same dict as GET /_sim/calls,
    sim.status(external_id) -> "SUCCESSFUL" | "FAILED" | "PENDING" | None, sim.reset(), sim.stop().
    Also usable as a context manager (starts on enter, stops on exit).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, hang_seconds: float = 30.0,
                 verbose: bool = False, **callbacks) -> None:
        self.server = make_server(host, port, hang_seconds, verbose, **callbacks)
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        host = self.server.server_address[0]
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def calls(self) -> dict:
        return self.server.ledger.calls()

    def status(self, external_id: str) -> str | None:
        return self.server.ledger.status(external_id)

    def headers(self, external_id: str) -> dict | None:
        """The headers of the last payment request with this externalId."""
        return self.server.ledger.headers(external_id)

    @property
    def refund_calls(self) -> dict:
        """GET /_sim/refunds: refund requests in all, by reference, and refunded amounts by payment reference."""
        return self.server.refund_ledger.calls()

    def reset(self) -> None:
        self.server.ledger.reset()
        self.server.refund_ledger.reset()

    def start(self) -> Simulator:
        # A short poll interval keeps stop() fast; shutdown() is only noticed between polls.
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="mospay-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.server.stopping.set()
        if self._thread is not None:  # shutdown() would block forever if never served
            self.server.shutdown()
            self._thread.join()
        self.server.server_close()

    def __enter__(self) -> Simulator:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def _raise_interrupt(signum, frame) -> None:
    # Reuse the Ctrl-C path; setting an Event from a signal handler can deadlock on its lock.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mospay.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="0 picks a free port")
    parser.add_argument("--hang-seconds", type=float, default=30.0, help="how long 0002 hangs and 0006 trickles")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--callback-delay", type=float, default=1.0, help="seconds before a pending payment settles")
    parser.add_argument("--callback-duplicates", type=int, default=1, help="how many times each callback is sent")
    parser.add_argument("--callback-drop-rate", type=float, default=0.0, help="probability a callback is dropped")
    parser.add_argument("--status-delay", type=float, default=0.0, help="seconds each status query takes")
    parser.add_argument("--trickle-seconds", type=float, default=0.2, help="pause between bytes for 0006 (which lasts --hang-seconds in all)")
    args = parser.parse_args(argv)
    sim = Simulator(args.host, args.port, args.hang_seconds, args.verbose, callback_delay=args.callback_delay,
                    callback_duplicates=args.callback_duplicates, callback_drop_rate=args.callback_drop_rate,
                    trickle_seconds=args.trickle_seconds, status_delay=args.status_delay)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        sim.start()
        print(f"simulator listening on {sim.url}", flush=True)
        while True:
            time.sleep(3600)  # sleep is interruptible by signals and Ctrl-C, also on Windows
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
