"""A provider stub fast enough never to be the bottleneck: raw asyncio HTTP/1.1, keep-alive, fixed JSON.

`python -m mospay.bench.stub --port 0` prints `stub listening on http://...` and answers every request
with 200 and a SUCCESSFUL MoMo-like body.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

BODY = b'{"status":"SUCCESSFUL","message":"Payment completed","financialTransactionId":"4242424242"}'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(BODY)).encode() + b"\r\nConnection: keep-alive\r\n\r\n" + BODY)


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            if length:
                await reader.readexactly(length)
            writer.write(RESPONSE)
            if head[:head.index(b"\r\n")].endswith(b"HTTP/1.0") or b"connection: close" in head.lower():
                await writer.drain()
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int) -> None:
    server = await asyncio.start_server(_serve, host, port, backlog=1024)
    bound = server.sockets[0].getsockname()
    print(f"stub listening on http://{bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
