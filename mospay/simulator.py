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
import json
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from . import sim_payments, sim_refunds, sim_statement
from .sim_payments import DEFAULT_OUTCOME, OUTCOMES, SETTLES_TO, Ledger

# The payments' outcomes and ledger live in sim_payments.py; importable from here as they always were.
__all__ = ["DEFAULT_OUTCOME", "OUTCOMES", "SETTLES_TO", "Handler", "Ledger", "Simulator", "SimulatorServer",
           "main", "make_server"]

MAX_BODY = 1024 * 1024

RESERVED = {"_sim", "health"}


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
            sim_payments.pay(self, body, self.headers.get("X-Callback-Url"))
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
