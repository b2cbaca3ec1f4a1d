"""The ceiling: the least a Python gateway on this stack must do (Falcon + waitress, parse the JSON body,
forward it with urllib3 to the stub, answer its JSON) with no database and no auth.

`python -m mospay.bench.ceiling --port 0 --stub http://... --threads 16`.
"""

from __future__ import annotations

import argparse
import json

import falcon
import urllib3


class Pay:
    def __init__(self, stub_url: str, threads: int):
        self._url = stub_url.rstrip("/") + "/collection"
        self._http = urllib3.PoolManager(maxsize=threads, retries=False)

    def on_post(self, req, resp):
        body = json.loads(req.bounded_stream.read())
        answer = self._http.request("POST", self._url, body=json.dumps(body).encode(),
                                    headers={"Content-Type": "application/json"}, timeout=10)
        resp.media = {"f010": body.get("f010"), "status": "SUCCESSFUL", "result": json.loads(answer.data)}


def main() -> None:
    from waitress.server import create_server

    from mospay.server import install_log_filters, waitress_options

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stub", required=True)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    app = falcon.App()
    app.add_route("/api/v1/payment/process", Pay(args.stub, args.threads))
    # The same waitress settings as run.py, so the comparison is about the work, not the server.
    install_log_filters()
    server = create_server(app, host="127.0.0.1", port=args.port, ident="ceiling", **waitress_options(args.threads))
    print(f"ceiling listening on http://{server.effective_host}:{server.effective_port}", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
