"""Serve MosPay under waitress: `python run.py [--host H] [--port P] [--demo] [--workers N]`."""

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
    parser.add_argument("--workers", type=int, default=1,
                        help="processes sharing the port (Linux/macOS; each has MOSPAY_THREADS threads)")
    args = parser.parse_args(argv)

    from mospay.config import Config, ConfigError
    from mospay.embedded import EmbeddedUnavailable

    try:
        overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
        config = Config.from_env(**overrides)
    except ConfigError as exc:
        print(f"mospay: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from mospay import runtime as rt
    try:
        runtime = rt.start(config)
    except EmbeddedUnavailable as exc:
        print(f"mospay: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one clear line instead of a traceback for a database we cannot reach
        print(f"mospay: cannot start: {exc}", file=sys.stderr)
        return 2
    try:
        return serve(runtime, args)
    finally:
        runtime.close()


def serve(runtime, args) -> int:
    from waitress.server import create_server

    from mospay.app import create_app

    config = runtime.config
    simulator = None
    if args.demo:
        from mospay import demo
        simulator = demo.start_simulator(config.host, args.simulator_port)
        print(demo.seed(runtime, simulator.url, f"http://{config.host}:{config.port}"), flush=True)

    from mospay import retention, server as srv
    srv.install_log_filters()
    workers = srv.effective_workers(args.workers)
    if workers > 1:
        return _serve_workers(runtime, workers, simulator)
    pruner = retention.start_pruner(runtime.db, config.log_retention_days)
    app = create_app(config, runtime.db)
    server = create_server(app, host=config.host, port=config.port, ident="mospay",
                           **srv.waitress_options(config.threads, config.max_body_bytes))
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
        pruner.stop()
        if simulator is not None:
            simulator.stop()
    return 0


def _serve_workers(runtime, workers, simulator) -> int:
    """N forked processes accept on one pre-bound socket; each opens its own database pool."""
    from waitress.server import create_server

    from mospay import server as srv
    from mospay.app import create_app
    from mospay.db import Database

    config = runtime.config
    sock = srv.bind_socket(config.host, config.port)
    host, port = sock.getsockname()[:2]
    runtime.db.close()  # children must not inherit pooled connections: a pg8000 socket is not shareable

    def child(sock, index):
        from mospay import retention
        db = Database(runtime.db.url, size=config.pool_size, timeout=config.pool_timeout_s)
        # One process prunes api_logs; N pruners would only contend for the same rows.
        child_pruner = retention.start_pruner(db, config.log_retention_days if index == 0 else 0)
        server = create_server(create_app(config, db), sockets=[sock], ident="mospay",
                               **srv.waitress_options(config.threads, config.max_body_bytes))

        def stop(signum, frame):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent forwards Ctrl-C as SIGTERM
        try:
            server.run()
        except SystemExit:
            pass
        finally:
            server.close()
            server.task_dispatcher.shutdown(cancel_pending=False, timeout=10)
            child_pruner.stop()
            db.close()
        return 0

    print(f"MosPay listening on http://{host}:{port} ({workers} workers)", flush=True)
    try:
        code = srv.run_workers(sock, workers, child)
    finally:
        if simulator is not None:
            simulator.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
