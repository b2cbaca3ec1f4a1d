"""Mobile-money provider simulator (MTN MoMo collection style) used to exercise MosPay adapters.
The payer MSISDN's last 4 digits pick the outcome, like Stripe test cards; see OUTCOMES."""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

MAX_BODY = 1024 * 1024

# Last 4 digits of payer.partyId -> (HTTP status, status later reported by GET).
# 0002/0003 are remembered as SUCCESSFUL on purpose: the provider moved the money even
# though the caller saw a timeout or a 500, which is what a gateway must reconcile.
OUTCOMES = {
    "0001": (200, "FAILED"),      # decline: NOT_ENOUGH_FUNDS
    "0002": (200, "SUCCESSFUL"),  # answers only after hang_seconds
    "0003": (500, "SUCCESSFUL"),  # internal_error
    "0004": (202, "PENDING"),
}
DEFAULT_OUTCOME = (200, "SUCCESSFUL")
RESERVED = {"_sim", "health"}


class Ledger:
    """Thread-safe memory of payment requests: externalId -> [last status, call count]."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, list] = {}

    def record(self, external_id: str, status: str) -> None:
        with self._lock:
            entry = self._seen.setdefault(external_id, [status, 0])
            entry[0], entry[1] = status, entry[1] + 1

    def status(self, external_id: str) -> str | None:
        with self._lock:
            return self._seen.get(external_id, [None])[0]

    def calls(self) -> dict:
        with self._lock:
            counts = {ext: count for ext, (_, count) in self._seen.items()}
        return {"total": sum(counts.values()), "by_external_id": counts}

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()


class SimulatorServer(ThreadingHTTPServer):
    """One thread per connection; daemon threads so a hung request never blocks exit."""

    daemon_threads = True

    def __init__(self, address, hang_seconds: float = 30.0, verbose: bool = False) -> None:
        self.hang_seconds = hang_seconds
        self.verbose = verbose
        self.ledger = Ledger()
        self.stopping = threading.Event()
        super().__init__(address, SimulatorHandler)

    def handle_error(self, request, client_address) -> None:
        # A client that timed out on a hang and hung up is the expected case, not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class SimulatorHandler(BaseHTTPRequestHandler):
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
        if code == 501:  # unsupported method: same answer as any unknown route
            code, message = 404, "not_found"
        self._reply(code, {"error": message or "error"}, close=True)

    def _read_body(self) -> bytes | None:
        """Return the body, or None after having answered (and closed) an unreadable one."""
        # Chunked bodies are unsupported; leaving one unread would desync the keep-alive stream.
        if self.headers.get("Transfer-Encoding"):
            return self._reply(411, {"error": "length_required"}, close=True)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return self._reply(400, {"status": "FAILED", "reason": "INVALID_REQUEST"}, close=True)
        if length > MAX_BODY:
            return self._reply(413, {"error": "payload_too_large"}, close=True)
        return self.rfile.read(length)

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            return
        parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
        method = "GET" if self.command == "HEAD" else self.command
        ledger = self.server.ledger
        if method == "GET" and parts == ["health"]:
            self._reply(200, {"status": "ok"})
        elif method == "GET" and parts == ["_sim", "calls"]:
            self._reply(200, ledger.calls())
        elif method == "POST" and parts == ["_sim", "reset"]:
            ledger.reset()
            self._reply(200, {})
        elif method in ("POST", "PUT") and len(parts) == 1 and parts[0] not in RESERVED | {""}:
            self._pay(body)
        elif method == "GET" and len(parts) == 2 and all(parts) and parts[0] not in RESERVED:
            status = ledger.status(parts[1])
            if status is None:
                self._reply(404, {"status": "FAILED", "reason": "RESOURCE_NOT_FOUND"})
            else:
                self._reply(200, {"status": status, "externalId": parts[1]})
        else:
            self._reply(404, {"error": "not_found"})

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _dispatch

    def _pay(self, body: bytes) -> None:
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
        self.server.ledger.record(ext, status)
        if suffix == "0002":
            # An Event wait rather than sleep(): stop() wakes it instead of waiting out the hang.
            self.server.stopping.wait(self.server.hang_seconds)
        if suffix == "0001":
            payload = {"status": "FAILED", "reason": "NOT_ENOUGH_FUNDS",
                       "externalId": ext, "financialTransactionId": None}
        elif suffix == "0003":
            payload = {"error": "internal_error"}
        elif suffix == "0004":
            payload = {"status": "PENDING", "externalId": ext}
        else:
            payload = {"status": "SUCCESSFUL", "externalId": ext,
                       "financialTransactionId": f"{secrets.randbelow(10**10):010d}",
                       "amount": data.get("amount"), "currency": data.get("currency")}
        self._reply(code, payload)


def make_server(host: str = "127.0.0.1", port: int = 0, hang_seconds: float = 30.0,
                verbose: bool = False) -> SimulatorServer:
    """Bind (and listen) without serving; call serve_forever() yourself or use Simulator."""
    return SimulatorServer((host, port), hang_seconds=hang_seconds, verbose=verbose)


class Simulator:
    """In-process simulator for tests.

    sim = Simulator(host="127.0.0.1", port=0, hang_seconds=30.0, verbose=False).start()
    sim.url -> "http://127.0.0.1:<port>", sim.port, sim.calls -> same dict as GET /_sim/calls,
    sim.status(external_id) -> "SUCCESSFUL" | "FAILED" | "PENDING" | None, sim.reset(), sim.stop().
    Also usable as a context manager (starts on enter, stops on exit).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, hang_seconds: float = 30.0,
                 verbose: bool = False) -> None:
        self.server = make_server(host, port, hang_seconds, verbose)
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def calls(self) -> dict:
        return self.server.ledger.calls()

    def status(self, external_id: str) -> str | None:
        return self.server.ledger.status(external_id)

    def reset(self) -> None:
        self.server.ledger.reset()

    def start(self) -> Simulator:
        # A short poll interval keeps stop() fast; shutdown() is only noticed between polls.
        self._thread = threading.Thread(target=self.server.serve_forever, name="mospay-simulator",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
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
    parser.add_argument("--hang-seconds", type=float, default=30.0,
                        help="how long MSISDNs ending in 0002 hang")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    sim = Simulator(args.host, args.port, args.hang_seconds, args.verbose)
    try:
        signal.signal(signal.SIGTERM, _raise_interrupt)
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
