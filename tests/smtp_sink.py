"""A real SMTP server on 127.0.0.1 for tests (stdlib only): it keeps every message it is given.

    with SmtpSink() as sink:
        config = Config(..., smtp_url=sink.url)
        ...
        message = sink.wait_for(lambda m: "invite" in m["Subject"])
"""

from __future__ import annotations

import email
import email.policy
import socketserver
import threading
import time


class SmtpSink:
    def __init__(self, *, fail_with: str | None = None):
        """fail_with: an SMTP reply (e.g. "451 try later") given to every DATA, to test retries."""
        self.messages: list[email.message.EmailMessage] = []
        self.fail_with = fail_with
        self._lock = threading.Condition()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 10

            def handle(self):
                self._reply("220 mospay-test-sink ESMTP")
                recipients = []
                while True:
                    line = self.rfile.readline(65536)
                    if not line:
                        return
                    verb = line.decode("utf-8", "replace").strip().split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self._reply("250-mospay-test-sink", "250 8BITMIME")
                    elif verb == "MAIL":
                        recipients = []
                        self._reply("250 ok")
                    elif verb == "RCPT":
                        recipients.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                        self._reply("250 ok")
                    elif verb == "DATA":
                        self._reply("354 end with .")
                        data = self._read_data()
                        if sink.fail_with:
                            self._reply(sink.fail_with)
                            continue
                        message = email.message_from_bytes(data, policy=email.policy.default)
                        message["X-Sink-Recipients"] = ", ".join(recipients)
                        with sink._lock:
                            sink.messages.append(message)
                            sink._lock.notify_all()
                        self._reply("250 queued")
                    elif verb == "RSET":
                        recipients = []
                        self._reply("250 ok")
                    elif verb == "QUIT":
                        self._reply("221 bye")
                        return
                    else:
                        self._reply("502 not implemented")

            def _read_data(self) -> bytes:
                lines = []
                while True:
                    line = self.rfile.readline(1 << 20)
                    if not line or line in (b".\r\n", b".\n"):
                        return b"".join(lines)
                    lines.append(line[1:] if line.startswith(b"..") else line)

            def _reply(self, *lines: str):
                self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?from=mospay@example.test"

    def __enter__(self) -> "SmtpSink":
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def wait_for(self, match=lambda m: True, timeout_s: float = 10.0):
        """The first message for which match(message) is true, waiting up to timeout_s; AssertionError if none."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                for message in self.messages:
                    if match(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching message in {timeout_s} s; got {[m['Subject'] for m in self.messages]}")
                self._lock.wait(left)
