"""One Config object: defaults, environment overrides and validation, read once at start-up."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import secrets
import tomllib
from pathlib import Path

from . import egress, errors, mail, validators


class ConfigError(ValueError):
    """A setting is invalid; the message is one line a user can act on."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """One row of the settings table: the Config field, its variable, its type, whether it is secret."""
    field: str
    env: str
    kind: str            # str | int | float | path | bool | list
    help: str
    secret: bool = False

    @property
    def toml_key(self) -> str:
        """The key in mospay.toml: the variable's name in lower case without the MOSPAY_ prefix."""
        return self.env.lower().removeprefix("mospay_")


# Every setting, in the order README's table lists them (a test keeps the two in step).
SETTINGS = [
    Setting("database_url", "DATABASE_URL", "str", "PostgreSQL URL; unset: embedded PostgreSQL", secret=True),
    Setting("data_dir", "MOSPAY_DATA_DIR", "path", "embedded cluster and generated keys"),
    Setting("host", "MOSPAY_HOST", "str", "bind address"),
    Setting("port", "MOSPAY_PORT", "int", "port"),
    Setting("secret_key", "SECRET_KEY", "str", "HMAC key for client API secrets", secret=True),
    Setting("jwt_secret_key", "JWT_SECRET_KEY", "str", "HS256 key for tokens", secret=True),
    Setting("admin_password", "MOSPAY_ADMIN_PASSWORD", "str", "first admin's password", secret=True),
    Setting("token_ttl_s", "MOSPAY_TOKEN_TTL", "int", "token lifetime in seconds"),
    Setting("max_body_bytes", "MOSPAY_MAX_BODY_BYTES", "int", "largest request body"),
    Setting("threads", "MOSPAY_THREADS", "int", "waitress worker threads"),
    Setting("pool_size", "MOSPAY_POOL_SIZE", "int", "database connections"),
    Setting("pool_timeout_s", "MOSPAY_POOL_TIMEOUT", "float", "seconds to wait for a free connection"),
    Setting("log_level", "MOSPAY_LOG_LEVEL", "str", "DEBUG, INFO, WARNING, ERROR"),
    Setting("log_format", "MOSPAY_LOG_FORMAT", "str", "text or json"),
    Setting("access_log", "MOSPAY_ACCESS_LOG", "bool", "one line per request (on/off)"),
    Setting("trusted_proxies", "MOSPAY_TRUSTED_PROXIES", "list",
            "proxies whose X-Forwarded-For/-Proto and X-Request-ID are believed"),
    Setting("metrics_token", "MOSPAY_METRICS_TOKEN", "str", "Bearer token for /metrics", secret=True),
    Setting("auth_failure_limit", "MOSPAY_AUTH_FAILURE_LIMIT", "int", "failed authentications per key per window"),
    Setting("auth_failure_window_s", "MOSPAY_AUTH_FAILURE_WINDOW", "int", "throttle window in seconds"),
    Setting("rate_limit_per_minute", "MOSPAY_RATE_LIMIT_PER_MINUTE", "int",
            "payments per client per minute per process (0 = off)"),
    Setting("cors_origins", "MOSPAY_CORS_ORIGINS", "list", "browser origins allowed to call the API"),
    Setting("reconcile_interval_s", "MOSPAY_RECONCILE_INTERVAL", "float", "seconds between reconciler runs (0 = off)"),
    Setting("webhook_interval_s", "MOSPAY_WEBHOOK_INTERVAL", "float",
            "seconds between webhook delivery passes (0 = off)"),
    Setting("alert_interval_s", "MOSPAY_ALERT_INTERVAL_S", "float",
            "seconds between alert rule evaluations (0 = off)"),
    Setting("reconcile_concurrency", "MOSPAY_RECONCILE_CONCURRENCY", "int",
            "status checks in flight at once per service (reconciler)"),
    Setting("breaker_failures", "MOSPAY_BREAKER_FAILURES", "int", "transport failures that open a breaker"),
    Setting("breaker_cooldown_s", "MOSPAY_BREAKER_COOLDOWN", "float", "seconds a breaker stays open"),
    Setting("public_url", "MOSPAY_PUBLIC_URL", "str", "where providers reach MosPay (callback URLs)"),
    Setting("log_retention_days", "MOSPAY_LOG_RETENTION_DAYS", "int", "days api_logs rows are kept (0 = forever)"),
    Setting("credentials_key", "MOSPAY_CREDENTIALS_KEY", "str",
            "key that seals provider credentials and batch secrets; unset: derived from SECRET_KEY", secret=True),
    Setting("service_url_allow", "MOSPAY_SERVICE_URL_ALLOW", "list",
            "hosts or networks provider calls may go to (unset: anywhere but link-local/metadata)"),
    # Denial of service: what one address or one request may take (SECURITY.md, "Denial of service").
    Setting("auth_address_failure_limit", "MOSPAY_AUTH_FAILURE_LIMIT_PER_ADDRESS", "int",
            "failed authentications per address per window, whatever the credential"),
    Setting("header_timeout_s", "MOSPAY_HEADER_TIMEOUT", "float", "seconds a client has to send a request's head"),
    Setting("connections_per_address", "MOSPAY_CONNECTIONS_PER_ADDRESS", "int",
            "slow connections (head incomplete after 1 s) per client address (0 = no cap; trusted proxies exempt)"),
    Setting("max_header_bytes", "MOSPAY_MAX_HEADER_BYTES", "int", "largest request head (request line + headers)"),
    Setting("callback_max_bytes", "MOSPAY_CALLBACK_MAX_BYTES", "int", "largest provider callback body"),
    Setting("callback_rate_per_minute", "MOSPAY_CALLBACK_RATE_PER_MINUTE", "int",
            "provider callbacks per address per minute per process (0 = off)"),
    Setting("callback_service_rate_per_minute", "MOSPAY_CALLBACK_SERVICE_RATE_PER_MINUTE", "int",
            "provider callbacks per service per minute per process (0 = off)"),
    Setting("statement_max_bytes", "MOSPAY_STATEMENT_MAX_BYTES", "int", "largest provider statement upload"),
    Setting("statement_amount_tolerance", "MOSPAY_STATEMENT_AMOUNT_TOLERANCE", "float",
            "amount difference a statement line may have and still match"),
    Setting("statement_date_window_s", "MOSPAY_STATEMENT_DATE_WINDOW", "int",
            "seconds either side a line without a reference is matched by amount"),
    Setting("batch_max_bytes", "MOSPAY_BATCH_MAX_BYTES", "int", "largest batch upload (CSV; JSON at most 8 MiB)"),
    Setting("batch_interval_s", "MOSPAY_BATCH_INTERVAL", "float", "seconds between batch runner passes (0 = off)"),
    Setting("batch_runners", "MOSPAY_BATCH_RUNNERS", "int", "batch runner jobs any process may hold at once"),
    Setting("batch_concurrency", "MOSPAY_BATCH_CONCURRENCY", "int", "payments in flight per batch runner"),
    Setting("batch_lease_margin_s", "MOSPAY_BATCH_LEASE_MARGIN", "float",
            "seconds past a provider call's timeouts before a dead runner's row is taken over"),
    Setting("smtp_url", "MOSPAY_SMTP_URL", "str",
            "SMTP relay for invites, resets, alerts and reports (smtp:// STARTTLS or smtps://); unset: no email",
            secret=True),
]
DEFAULT_TOML = Path("mospay.toml")


@dataclasses.dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 5000
    data_dir: Path = Path("var")
    database_url: str | None = None
    secret_key: str = ""          # HMAC key for API secrets; generated and kept in data_dir when unset
    jwt_secret_key: str = ""      # HS256 key for tokens; same
    admin_password: str = "admin123"
    token_ttl_s: int = 3600
    max_body_bytes: int = 64 * 1024
    threads: int = 16
    pool_size: int = 20
    pool_timeout_s: float = 5.0
    log_level: str = "INFO"
    log_format: str = "text"
    access_log: bool = True
    trusted_proxies: tuple = ()
    metrics_token: str | None = None
    # Security: throttling, rate limits, CORS.
    auth_failure_limit: int = 10          # failed authentications per key per window, then 429
    auth_failure_window_s: int = 60
    rate_limit_per_minute: int = 6000     # per client (all processes) when clients.rate_limit_per_minute is NULL; 0 = off
    cors_origins: tuple = ()              # exact origins allowed to call the API from a browser; none by default
    # Money safety: reconciler, circuit breaker, callbacks.
    reconcile_interval_s: float = 5.0   # 0: run.py's scheduler skips the job (use `python -m mospay reconcile`)
    webhook_interval_s: float = 5.0     # 0: likewise for webhook delivery (`python -m mospay deliver-webhooks`)
    alert_interval_s: float = 60.0      # alert rules evaluated this often (mospay/alerts.py); 0: off
    reconcile_concurrency: int = 8      # status checks in flight at once per service (capped at `threads`)
    breaker_failures: int = 5           # consecutive transport failures that open a service's breaker
    breaker_cooldown_s: float = 30.0
    public_url: str | None = None       # where providers reach MosPay (callback URLs); default http://host:port
    # api_logs retention.
    log_retention_days: int = 90  # api_logs older than this are deleted in batches; 0 keeps them forever
    # Provider credentials and where provider calls may go.
    credentials_key: str | None = None  # the sealing key; None: HMAC-SHA256(SECRET_KEY, label)
    service_url_allow: tuple = ()       # hosts / CIDR networks; empty: anywhere but link-local and metadata
    # Denial of service (SECURITY.md, "Denial of service").
    auth_address_failure_limit: int = 30  # failures per address per window; per (address, credential): auth_failure_limit
    header_timeout_s: float = 10.0        # a request head not complete by then closes the connection (slowloris)
    connections_per_address: int = 32     # slow heads per address; past it the newest are closed; 0 = no cap
    max_header_bytes: int = 16 * 1024     # request line + headers; more: 431
    callback_max_bytes: int = 16 * 1024   # a provider callback is a small JSON object
    callback_rate_per_minute: int = 120   # per address, per process; 0 = off
    callback_service_rate_per_minute: int = 1200  # per service, per process; 0 = off
    # Provider statements: an upload may be larger than any other body (its own limit, streamed).
    statement_max_bytes: int = 20 * 1024 * 1024
    statement_amount_tolerance: float = 0.0   # exact by default
    statement_date_window_s: int = 86400
    # Outgoing email (mospay/mail.py); None: nothing is emailed, and nothing secret is logged instead.
    smtp_url: str | None = None
    batch_max_bytes: int = 32 * 1024 * 1024
    batch_interval_s: float = 1.0
    batch_runners: int = 2
    batch_concurrency: int = 8
    batch_lease_margin_s: float = 30.0
    # Provider credentials kept outside the database: (service, name) -> value, from
    # MOSPAY_CREDENTIAL__<SERVICE>__<NAME> or mospay.toml's [provider_credentials.<service>] table.
    provider_credentials: dict = dataclasses.field(default_factory=dict, repr=False)
    sources: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_env(cls, env=None, **overrides) -> "Config":
        """Defaults, then mospay.toml (MOSPAY_CONFIG, else ./mospay.toml if present), then environment
        variables (the seed's DATABASE_URL, SECRET_KEY, JWT_SECRET_KEY and MOSPAY_*), then overrides."""
        env = os.environ if env is None else env
        env = {k: v for k, v in env.items() if v != ""}  # an empty variable means "use the default"
        values, sources = {}, {}
        path = Path(env["MOSPAY_CONFIG"]) if env.get("MOSPAY_CONFIG") else DEFAULT_TOML
        if env.get("MOSPAY_CONFIG") or path.exists():
            for field, value in _read_toml(path).items():
                values[field], sources[field] = value, str(path)
        for setting in SETTINGS:
            if setting.env in env:
                values[setting.field] = _parse(setting, env[setting.env], setting.env)
                sources[setting.field] = "environment"
        configured = {**values.pop("provider_credentials", {}), **_credentials_from_env(env)}
        if configured:
            values["provider_credentials"] = configured
        for field, value in overrides.items():
            if value is not None:
                values[field], sources[field] = value, "command line"
        config = cls(**values, sources=sources)
        config.validate()
        return config

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"MOSPAY_PORT must be between 0 and 65535, got {self.port}")
        if not 1 <= self.threads <= 256:
            raise ConfigError(f"MOSPAY_THREADS must be between 1 and 256, got {self.threads}")
        if self.pool_size < self.threads:
            raise ConfigError("MOSPAY_POOL_SIZE must be at least MOSPAY_THREADS")
        if not 0.1 <= self.pool_timeout_s <= 300:
            raise ConfigError("MOSPAY_POOL_TIMEOUT must be between 0.1 and 300 seconds")
        if not 60 <= self.token_ttl_s <= 86400:
            raise ConfigError("MOSPAY_TOKEN_TTL must be between 60 and 86400 seconds")
        if not 1024 <= self.max_body_bytes <= 16 * 1024 * 1024:
            raise ConfigError("MOSPAY_MAX_BODY_BYTES must be between 1024 and 16777216")
        for name in ("secret_key", "jwt_secret_key"):
            value = getattr(self, name)
            if value and len(value.encode()) < 32:
                raise ConfigError(f"{name.upper()} must be at least 32 bytes long")
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("DATABASE_URL must start with postgresql://")
        if not 0 <= self.reconcile_interval_s <= 3600:
            raise ConfigError("MOSPAY_RECONCILE_INTERVAL must be between 0 (off) and 3600 seconds")
        if not 0 <= self.webhook_interval_s <= 3600:
            raise ConfigError("MOSPAY_WEBHOOK_INTERVAL must be between 0 (off) and 3600 seconds")
        if not 0 <= self.alert_interval_s <= 3600:
            raise ConfigError("MOSPAY_ALERT_INTERVAL_S must be between 0 (off) and 3600 seconds")
        if not 1 <= self.reconcile_concurrency <= 64:
            raise ConfigError("MOSPAY_RECONCILE_CONCURRENCY must be between 1 and 64")
        if not 1 <= self.breaker_failures <= 1000:
            raise ConfigError("MOSPAY_BREAKER_FAILURES must be between 1 and 1000")
        if not 0.1 <= self.breaker_cooldown_s <= 3600:
            raise ConfigError("MOSPAY_BREAKER_COOLDOWN must be between 0.1 and 3600 seconds")
        if self.public_url and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", self.public_url):
            raise ConfigError("MOSPAY_PUBLIC_URL must be an http(s) URL without query, like https://pay.example.com")
        if not 0 <= self.log_retention_days <= 36500:
            raise ConfigError("MOSPAY_LOG_RETENTION_DAYS must be between 0 (keep forever) and 36500")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError("MOSPAY_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"MOSPAY_LOG_FORMAT must be text or json, got {self.log_format!r}")
        if self.metrics_token is not None and len(self.metrics_token) < 16:
            raise ConfigError("MOSPAY_METRICS_TOKEN must be at least 16 characters long")
        try:  # the first admin's password follows the rule every other password does
            validators.password(self.admin_password, "MOSPAY_ADMIN_PASSWORD")
        except errors.InvalidField as exc:
            raise ConfigError(f"MOSPAY_ADMIN_PASSWORD {exc.message}") from None
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(f"MOSPAY_TRUSTED_PROXIES: {proxy!r} is not an IP address or network") from None
        self._validate_security()
        if self.credentials_key is not None and len(self.credentials_key.encode()) < 32:
            raise ConfigError("MOSPAY_CREDENTIALS_KEY must be at least 32 bytes long")
        if self.smtp_url:
            try:
                mail.parse_url(self.smtp_url)
            except ValueError as exc:
                raise ConfigError(f"MOSPAY_SMTP_URL {exc}") from None
        try:
            egress.parse_allow(self.service_url_allow)
        except ValueError as exc:
            raise ConfigError(f"MOSPAY_SERVICE_URL_ALLOW: {exc}") from None

    def _validate_security(self) -> None:
        if not 2 <= self.auth_failure_limit <= 100000:
            raise ConfigError("MOSPAY_AUTH_FAILURE_LIMIT must be between 2 and 100000")
        if not 1 <= self.auth_failure_window_s <= 86400:
            raise ConfigError("MOSPAY_AUTH_FAILURE_WINDOW must be between 1 and 86400 seconds")
        if not 0 <= self.rate_limit_per_minute <= 10_000_000:
            raise ConfigError("MOSPAY_RATE_LIMIT_PER_MINUTE must be between 0 (off) and 10000000")
        if not 2 <= self.auth_address_failure_limit <= 1000000:
            raise ConfigError("MOSPAY_AUTH_FAILURE_LIMIT_PER_ADDRESS must be between 2 and 1000000")
        if not 1 <= self.header_timeout_s <= 3600:
            raise ConfigError("MOSPAY_HEADER_TIMEOUT must be between 1 and 3600 seconds")
        if not 0 <= self.connections_per_address <= 100000:
            raise ConfigError("MOSPAY_CONNECTIONS_PER_ADDRESS must be between 0 (no cap) and 100000")
        if not 1024 <= self.max_header_bytes <= 1024 * 1024:
            raise ConfigError("MOSPAY_MAX_HEADER_BYTES must be between 1024 and 1048576")
        if not 1024 <= self.callback_max_bytes <= 16 * 1024 * 1024:
            raise ConfigError("MOSPAY_CALLBACK_MAX_BYTES must be between 1024 and 16777216")
        if not 1024 <= self.batch_max_bytes <= 1024 * 1024 * 1024:
            raise ConfigError("MOSPAY_BATCH_MAX_BYTES must be between 1024 and 1073741824")
        if not 0 <= self.batch_interval_s <= 3600:
            raise ConfigError("MOSPAY_BATCH_INTERVAL must be between 0 (off) and 3600 seconds")
        if not 1 <= self.batch_runners <= 16 or not 1 <= self.batch_concurrency <= 64:
            raise ConfigError("MOSPAY_BATCH_RUNNERS must be 1-16 and MOSPAY_BATCH_CONCURRENCY 1-64")
        if not 1 <= self.batch_lease_margin_s <= 3600:
            raise ConfigError("MOSPAY_BATCH_LEASE_MARGIN must be between 1 and 3600 seconds")
        if not 1024 <= self.statement_max_bytes <= 1024 * 1024 * 1024:
            raise ConfigError("MOSPAY_STATEMENT_MAX_BYTES must be between 1024 and 1073741824")
        if not 0 <= self.statement_amount_tolerance <= 1_000_000:
            raise ConfigError("MOSPAY_STATEMENT_AMOUNT_TOLERANCE must be between 0 and 1000000")
        if not 0 <= self.statement_date_window_s <= 31 * 86400:
            raise ConfigError("MOSPAY_STATEMENT_DATE_WINDOW must be between 0 and 2678400 seconds")
        for name, value in (("MOSPAY_CALLBACK_RATE_PER_MINUTE", self.callback_rate_per_minute),
                            ("MOSPAY_CALLBACK_SERVICE_RATE_PER_MINUTE", self.callback_service_rate_per_minute)):
            if not 0 <= value <= 10_000_000:
                raise ConfigError(f"{name} must be between 0 (off) and 10000000")
        for origin in self.cors_origins:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ConfigError(f"MOSPAY_CORS_ORIGINS: {origin!r} must look like https://shop.example.com")

    def effective(self) -> list[dict]:
        """Every setting with its value (secrets masked) and where it came from: `python -m mospay config`."""
        rows = []
        for s in SETTINGS:
            value = getattr(self, s.field)
            if s.secret and value:
                value = _mask_url(value) if s.field == "database_url" else "********"
            elif isinstance(value, bool):
                value = "on" if value else "off"
            elif isinstance(value, (Path, tuple)):
                value = str(value) if isinstance(value, Path) else ",".join(value)
            rows.append({"variable": s.env, "toml": s.toml_key, "value": value,
                         "source": self.sources.get(s.field, "default")})
        return rows

    def callback_base_url(self) -> str:
        """Base of the URLs providers call back: MOSPAY_PUBLIC_URL, else this process's own address."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def with_keys(self) -> "Config":
        """Fill missing keys from data_dir/keys, generating strong random ones the first time."""
        if self.secret_key and self.jwt_secret_key:
            return self
        keys = _load_or_create_keys(self.data_dir / "keys")
        return dataclasses.replace(
            self,
            secret_key=self.secret_key or keys["SECRET_KEY"],
            jwt_secret_key=self.jwt_secret_key or keys["JWT_SECRET_KEY"],
        )


_BOOLS = {"1": True, "true": True, "on": True, "yes": True, "0": False, "false": False, "off": False,
          "no": False}


def _parse(setting: Setting, raw, where: str):
    """A raw value (a string from the environment, or a TOML value) as the setting's type."""
    kind = setting.kind
    if kind == "int":
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and re.fullmatch(r"[+-]?[0-9]+", raw.strip()):
            return int(raw)
        raise ConfigError(f"{where} must be a whole number, got {raw!r}")
    if kind == "float":
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number, got {raw!r}") from None
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _BOOLS:
            return _BOOLS[raw.strip().lower()]
        raise ConfigError(f"{where} must be on or off, got {raw!r}")
    if kind == "list":
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"{where} must be a comma-separated list of addresses")
        return tuple(i.strip() for i in items if i.strip())
    if not isinstance(raw, str):
        raise ConfigError(f"{where} must be a string, got {raw!r}")
    return Path(raw) if kind == "path" else raw


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file (MOSPAY_CONFIG)") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {' '.join(str(exc).split())}") from None
    by_key = {s.toml_key: s for s in SETTINGS}
    values = {}
    for key, raw in data.items():
        if key == "provider_credentials":
            values[key] = _credentials_from_toml(raw, path)
            continue
        setting = by_key.get(key)
        if setting is None:
            raise ConfigError(f"{path}: unknown setting {key!r} (known: {', '.join(sorted(by_key))})")
        values[setting.field] = _parse(setting, raw, f"{path}: {key}")
    return values


CREDENTIAL_ENV_PREFIX = "MOSPAY_CREDENTIAL__"


def _credential(service: str, name: str, value, where: str) -> tuple[tuple[str, str], str]:
    """One configured provider credential, under the same rules as one stored through MosPay."""
    if not re.fullmatch(r"[a-z0-9]{1,24}", service):
        raise ConfigError(f"{where}: the service name must be 1-24 lowercase letters or digits")
    try:
        return (service, validators.credential_name(name)), validators.credential_value(value)
    except errors.InvalidField as exc:
        raise ConfigError(f"{where}: the credential's {exc.field} {exc.message}") from None


def _credentials_from_env(env) -> dict:
    """MOSPAY_CREDENTIAL__MTNMOMO__SUBSCRIPTION_KEY=... is the credential subscription_key of mtnmomo."""
    found = {}
    for variable, value in env.items():
        if variable.startswith(CREDENTIAL_ENV_PREFIX):
            service, sep, name = variable[len(CREDENTIAL_ENV_PREFIX):].lower().partition("__")
            if not sep:
                raise ConfigError(f"{variable} must be named {CREDENTIAL_ENV_PREFIX}<SERVICE>__<NAME>")
            key, value = _credential(service, name, value, variable)
            found[key] = value
    return found


def _credentials_from_toml(raw, path: Path) -> dict:
    """[provider_credentials.mtnmomo] subscription_key = "..." in mospay.toml."""
    where = f"{path}: provider_credentials"
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ConfigError(f"{where} must hold one table per service: [provider_credentials.<service>]")
    found = {}
    for service, names in raw.items():
        for name, value in names.items():
            key, value = _credential(service, name, value, f"{where}.{service}.{name}")
            found[key] = value
    return found


def _mask_url(url: str) -> str:
    """The URL with its password replaced: user, host and database are useful in a support ticket."""
    return re.sub(r"^(\w+://[^:/@]*):[^@]*@", r"\1:********@", url)


def _load_or_create_keys(path: Path) -> dict:
    keys = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            keys[name.strip()] = value.strip()
    missing = [n for n in ("SECRET_KEY", "JWT_SECRET_KEY") if len(keys.get(n, "")) < 32]
    if missing:
        for name in missing:
            keys[name] = secrets.token_urlsafe(48)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written with owner-only permissions: these keys sign every token.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(f"{k}={v}\n" for k, v in keys.items()))
    return keys
