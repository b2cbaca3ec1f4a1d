"""Serve MosPay under waitress: `python run.py [--host H] [--port P] [--demo]`."""

from __future__ import annotations

import argparse
import logging
import signal
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run the MosPay payment gateway.")
    parser.add_argument("--host", help="bind address (MOSPAY_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (MOSPAY_PORT, default 5000)")
    parser.add_argument("--demo", action="store_true",
                        help="also start the provider simulator and seed a demo client and service")
    parser.add_argument("--simulator-port", type=int, default=9000, help="simulator port with --demo")
    args = parser.parse_args(argv)

    from mospay.config import Config, ConfigError
    from mospay.embedded import EmbeddedUnavailable

    try:
        overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        config = Config.from_env(**overrides)
    except ConfigError as exc:
        print(f"mospay: {exc}", file=sys.stderr)
        return 2
    from mospay import logs
    logs.setup(config)

    from mospay import runtime as rt
    try:
        runtime = rt.start(config)
    except EmbeddedUnavailable as exc:
        print(f"mospay: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one clear line instead of a traceback for a database we cannot reach
        detail = getattr(exc, "detail", None)
        reason = f"cannot connect to the database: {detail}" if detail else str(exc)
        print(f"mospay: cannot start: {reason}", file=sys.stderr)
        return 2
    try:
        return serve(runtime, args)
    finally:
        runtime.close()


def serve(runtime, args) -> int:
    from waitress.server import create_server

    from mospay.app import create_app
    from mospay.breaker import BREAKERS
    from mospay.provider import Provider
    from mospay.reconciler import Reconciler, ReconcilerThread
    from mospay.webhooks import Deliverer

    config = runtime.config
    BREAKERS.configure(config.breaker_failures, config.breaker_cooldown_s)
    simulator = None
    if args.demo:
        from mospay import demo
        simulator = demo.start_simulator(config.host, args.simulator_port)
        print(demo.seed(runtime, simulator.url, f"http://{config.host}:{config.port}"), flush=True)

    from mospay.proxy import TrustedProxies

    provider = Provider(maxsize=config.threads)
    reconciler = None
    if config.reconcile_interval_s > 0:
        reconciler = ReconcilerThread(Reconciler(runtime.db, Provider(maxsize=4)), config.reconcile_interval_s,
                                      jobs=[Deliverer(runtime.db, config.secret_key).deliver_due]).start()
    # Forwarding headers are judged by TrustedProxies (MOSPAY_TRUSTED_PROXIES), not by waitress,
    # whose trusted_proxy takes a single address.
    app = TrustedProxies(create_app(config, runtime.db, provider), config.trusted_proxies)
    server = create_server(app, host=config.host, port=config.port, threads=config.threads,
                           connection_limit=max(100, config.threads * 8), channel_timeout=60,
                           max_request_body_size=max(1 << 20, 4 * config.max_body_bytes), ident="mospay",
                           clear_untrusted_proxy_headers=False)
    def stop(signum, frame):
        # Only raise here: taking locks inside a signal handler can deadlock. waitress's loop turns
        # SystemExit into a close of the listening socket; in-flight requests finish below.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"MosPay listening on http://{server.effective_host}:{server.effective_port}", flush=True)
    try:
        server.run()
    except SystemExit:
        pass
    finally:
        logging.getLogger("mospay").info("shutting down: finishing in-flight requests")
        server.close()
        server.task_dispatcher.shutdown(cancel_pending=False, timeout=10)
        if reconciler is not None:
            reconciler.stop()
        if simulator is not None:
            simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
