"""What one app builds from its configuration and shares between its resources and its periodic jobs:
the circuit breakers, the metrics registry, the provider client, and the list of jobs. No Falcon here;
create_app builds one (run.py, tests and the benchmark alike), so every app behaves the same."""

from __future__ import annotations

import dataclasses
import functools
import os
import secrets
import socket

from . import alerts, analytics, egress, report_delivery, reports, retention, scheduler
from .batch_runner import BatchRunner
from .breaker import Breakers
from .config import Config, ConfigError
from .credentials import CredentialStore, store_key
from .db import Database
from .mail import Mailer
from .metrics import Metrics
from .notify import Notifier
from .payments import PaymentGateway
from .provider import Provider
from .reconciler import Reconciler
from .refunds import RefundCaller
from .security import RateLimits
from .webhooks import Deliverer


# A runner's job lease: renewed every third of it while the runner runs, so it bounds how long a killed
# process's slot stays taken (a runner is busy most of the time, so a crash usually lands mid-run).
BATCH_JOB_LEASE_S = 10.0


@dataclasses.dataclass
class Components:
    config: Config
    db: Database
    provider: Provider
    breakers: Breakers
    metrics: Metrics

    @classmethod
    def build(cls, config: Config, db: Database, provider: Provider | None = None) -> Components:
        """A Config built in code (tests, the benchmark) is checked as run.py's is: a fault is a
        ConfigError here, at start-up, never a client-facing error later."""
        config.validate()
        if not config.secret_key or not config.jwt_secret_key:
            raise ConfigError("SECRET_KEY and JWT_SECRET_KEY must be set (Config.with_keys fills them "
                              "from the data directory)")
        parts = cls(config, db, provider or Provider(maxsize=config.threads,
                                                      url_allow=egress.parse_allow(config.service_url_allow)),
                    Breakers(config.breaker_failures, config.breaker_cooldown_s), Metrics())
        parts._register_gauges()
        return parts

    def reconciler(self) -> Reconciler:
        # Capped at the provider client's connections per host: more checks at once would only open
        # connections that are thrown away afterwards.
        return Reconciler(self.db, self.provider, self.breakers, metrics=self.metrics, credentials=self.credentials(),
                          concurrency=min(self.config.reconcile_concurrency, self.config.threads))

    def refund_caller(self) -> RefundCaller:
        """What refunds (client API, admin portal and API) call the provider with: this app's shared parts."""
        return RefundCaller(self.provider, self.breakers, self.metrics, self.credentials(),
                            self.config.callback_base_url())

    def credentials(self) -> CredentialStore:
        """The provider-credential store; no state of its own, so every process reads the current values."""
        return CredentialStore(self.db, store_key(self.config.credentials_key, self.config.secret_key),
                               configured=self.config.provider_credentials)

    def notifier(self) -> Notifier:
        """Alert notices: the webhook channel signs with a key derived from SECRET_KEY; email needs MOSPAY_SMTP_URL."""
        return Notifier(self.db, self.config.secret_key, self.config.smtp_url)
    @functools.cached_property
    def gateway(self) -> PaymentGateway:
        """The payment path, one per app: the API's payments and the batch runner's rows share it (and its
        breakers, metrics and context cache)."""
        config = self.config
        return PaymentGateway(self.db, self.provider, config.secret_key, self.breakers,
                              callback_base=config.callback_base_url(),
                              limits=RateLimits(config.rate_limit_per_minute, self.db),
                              metrics=self.metrics, credentials=self.credentials())

    def batch_runner(self, owner: str) -> BatchRunner:
        config = self.config
        return BatchRunner(self.db, self.gateway, owner=owner, concurrency=config.batch_concurrency,
                           store_key=store_key(config.credentials_key, config.secret_key),
                           lease_margin_s=config.batch_lease_margin_s)

    def report_delivery(self) -> report_delivery.ReportDelivery:
        """Scheduled statements by email; without MOSPAY_SMTP_URL every send fails, so nothing runs it then."""
        return report_delivery.ReportDelivery(self.db, Mailer(self.config.smtp_url))

    def jobs(self) -> list[scheduler.Job]:
        """Every periodic job, one line each; an interval of 0 switches a job off."""
        config, db = self.config, self.db
        jobs = [
            scheduler.Job("reconcile", config.reconcile_interval_s, self.reconciler().run_once),
            scheduler.Job("deliver_webhooks", config.webhook_interval_s, Deliverer(db, config.secret_key).deliver_due),
            scheduler.Job("prune_logs", retention.INTERVAL_S if config.log_retention_days > 0 else 0,
                          functools.partial(retention.prune, db, config.log_retention_days)),
            # Evaluation only queues notices; sending is its own job, so a slow channel never delays it.
            scheduler.Job("evaluate_alerts", config.alert_interval_s, functools.partial(alerts.evaluate, db)),
            scheduler.Job("deliver_alerts", min(5.0, config.alert_interval_s), self.notifier().deliver_due),
            # Analytics rollups: hours before yesterday folded into one row per day (totals unchanged).
            scheduler.Job("fold_rollups", analytics.FOLD_INTERVAL_S, functools.partial(analytics.fold, db)),
            # Scheduled statements by email: only with an SMTP relay to send them through.
            scheduler.Job("deliver_reports", report_delivery.INTERVAL_S if config.smtp_url else 0,
                          self.report_delivery().deliver_due),
            # Batch rows: several runner slots, so several processes share the work (rows are leased).
            *[scheduler.Job(f"run_batches_{n}", config.batch_interval_s,
                            self.batch_runner(f"{self._owner}:{n}").run_once, lease_s=BATCH_JOB_LEASE_S)
              for n in range(1, config.batch_runners + 1)],
        ]
        return [job for job in jobs if job.interval_s > 0]

    def scheduler(self, **options) -> scheduler.Scheduler:
        """Not started: run.py starts it, tests drive it with run_pending()."""
        return scheduler.Scheduler(self.db, self.jobs(), **options)

    @functools.cached_property
    def _owner(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

    def _register_gauges(self) -> None:
        """Read at scrape time: the pool and breakers (this process), the reconciler backlog, webhook
        deliveries and the scheduler's jobs (the database, shared by every process)."""
        db, registry = self.db, self.metrics
        registry.watch_pool(db)
        registry.register_gauge(
            "mospay_circuit_breaker_open", "1 while a service's circuit breaker is open or half-open (this process)",
            lambda: {(name,): int(s["state"] != "closed") for name, s in self.breakers.snapshot().items()},
            ("service",), per_process=True)
        registry.register_gauge(
            "mospay_reconciler_backlog", "open transactions still checked by the reconciler, and stuck ones",
            lambda: {(state,): n for state, n in reports.reconciler_backlog(db).items()}, ("state",))
        registry.register_gauge(
            "mospay_webhook_events", "client webhook events by delivery state (PENDING, DELIVERED, GAVE_UP)",
            lambda: {(r["state"],): r["n"] for r in db.query("webhook_backlog")}, ("state",))
        scheduler.register_gauges(registry, db)
