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
    from mospay import logs
    logs.setup(config)

    from mospay import runtime as rt
    try:
        runtime = rt.start(config)
    except (ConfigError, EmbeddedUnavailable) as exc:
        print(f"mospay: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one clear line instead of a traceback for a database we cannot reach
        detail = getattr(exc, "detail", None)
        reason = f"cannot connect to the database: {detail}" if detail else str(exc)
        print(f"mospay: cannot start: {reason}", file=sys.stderr)
        return 2
    if (warning := rt.role_warning(runtime.db)) is not None:  # the CLI says it in `config`, not on every command
        rt.log.warning(warning)
    try:
        return serve(runtime, args)
    finally:
        runtime.close()


def serve(runtime, args) -> int:
    from mospay import server as srv

    config = runtime.config
    srv.install_log_filters()
    simulator = None
    if args.demo:
        from mospay import demo
        simulator = demo.start_simulator(config.host, args.simulator_port)
        print(demo.seed(runtime, simulator.url, f"http://{config.host}:{config.port}"), flush=True)
    try:
        workers = srv.effective_workers(args.workers)
        if workers > 1:
            return _serve_workers(runtime, workers)
        server, scheduler, _metrics = _create_server(config, runtime.db, runtime.schema_version, host=config.host,
                                                     port=config.port)
        print(f"MosPay listening on http://{server.effective_host}:{server.effective_port}", flush=True)
        return _run(server, scheduler.start(), on_sigint=True)
    finally:
        if simulator is not None:
            simulator.stop()


def _create_server(config, db, schema_version, **where):
    """waitress serving the Falcon app behind TrustedProxies (X-Forwarded-* only from MOSPAY_TRUSTED_PROXIES),
    the scheduler of the periodic jobs (not started), sharing the app's breakers and metrics, and the metrics."""
    from mospay import server as srv
    from mospay.app import served_app

    app, parts = served_app(config, db, schema_version=schema_version)
    server = srv.create_server(app, config=config, **where)
    return server, parts.scheduler(), parts.metrics


def _run(server, scheduler, on_sigint: bool) -> int:
    """Serve until SIGTERM (or Ctrl-C), then finish in-flight requests and the current job, and stop."""
    def stop(signum, frame):
        # Only raise here: taking locks inside a signal handler can deadlock. waitress's loop turns
        # SystemExit into a close of the listening socket; in-flight requests finish below.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop if on_sigint else signal.SIG_IGN)  # workers: the parent forwards it
    try:
        server.run()
    except SystemExit:
        pass
    finally:
        logging.getLogger("mospay").info("shutting down: finishing in-flight requests")
        server.close()
        server.task_dispatcher.shutdown(cancel_pending=False, timeout=10)
        scheduler.stop(timeout=10)
    return 0


def _serve_workers(runtime, workers) -> int:
    """N forked processes accept on one pre-bound socket; each opens its own database pool and runs a
    scheduler (the leases in scheduler_jobs let one process at a time run a given job)."""
    from mospay import server as srv, worker_metrics
    from mospay.db import Database

    config = runtime.config
    sock = srv.bind_socket(config.host, config.port)
    host, port = sock.getsockname()[:2]
    runtime.db.close()  # children must not inherit pooled connections: a pg8000 socket is not shareable
    # Each worker counts its own requests; this folder is where they meet, so that whichever worker
    # answers /metrics (or the dashboard) shows the whole server's numbers.
    metrics_folder = worker_metrics.make_run_folder()

    def child(sock, index):
        db = Database(runtime.db.url, size=config.pool_size, timeout=config.pool_timeout_s)
        try:
            server, scheduler, metrics = _create_server(config, db, runtime.schema_version, sockets=[sock])
            share = metrics_folder and worker_metrics.WorkerShare(metrics, metrics_folder, index).start()
            try:
                return _run(server, scheduler.start(), on_sigint=False)
            finally:
                if share:
                    share.stop()
        finally:
            db.close()

    print(f"MosPay listening on http://{host}:{port} ({workers} workers)", flush=True)
    try:
        return srv.run_workers(sock, workers, child)
    finally:
        worker_metrics.remove_run_folder(metrics_folder)


if __name__ == "__main__":
    sys.exit(main())
