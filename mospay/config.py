"""One Config object: defaults, environment overrides and validation, read once at start-up."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import secrets
from pathlib import Path


class ConfigError(ValueError):
    """A setting is invalid; the message is one line a user can act on."""


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
    # Security (issue 5): throttling, rate limits, proxies, CORS.
    auth_failure_limit: int = 10          # failed authentications per key per window, then 429
    auth_failure_window_s: int = 60
    rate_limit_per_minute: int = 6000     # per client per process when clients.rate_limit_per_minute is NULL; 0 = off
    trusted_proxies: tuple = ()           # peers whose X-Forwarded-For / -Proto we believe
    cors_origins: tuple = ()              # exact origins allowed to call the API from a browser; none by default

    @classmethod
    def from_env(cls, env=None, **overrides) -> "Config":
        """Build from MOSPAY_* variables (and the seed's DATABASE_URL, SECRET_KEY, JWT_SECRET_KEY)."""
        env = os.environ if env is None else env
        env = {k: v for k, v in env.items() if v != ""}  # an empty variable means "use the default"
        values = {
            "host": env.get("MOSPAY_HOST"),
            "port": _int(env, "MOSPAY_PORT"),
            "data_dir": Path(env["MOSPAY_DATA_DIR"]) if env.get("MOSPAY_DATA_DIR") else None,
            "database_url": env.get("DATABASE_URL") or None,
            "secret_key": env.get("SECRET_KEY"),
            "jwt_secret_key": env.get("JWT_SECRET_KEY"),
            "admin_password": env.get("MOSPAY_ADMIN_PASSWORD"),
            "token_ttl_s": _int(env, "MOSPAY_TOKEN_TTL"),
            "max_body_bytes": _int(env, "MOSPAY_MAX_BODY_BYTES"),
            "threads": _int(env, "MOSPAY_THREADS"),
            "pool_size": _int(env, "MOSPAY_POOL_SIZE"),
            "log_level": env.get("MOSPAY_LOG_LEVEL"),
            "auth_failure_limit": _int(env, "MOSPAY_AUTH_FAILURE_LIMIT"),
            "auth_failure_window_s": _int(env, "MOSPAY_AUTH_FAILURE_WINDOW"),
            "rate_limit_per_minute": _int(env, "MOSPAY_RATE_LIMIT_PER_MINUTE"),
            "trusted_proxies": _list(env, "MOSPAY_TRUSTED_PROXIES"),
            "cors_origins": _list(env, "MOSPAY_CORS_ORIGINS"),
        }
        values.update(overrides)
        config = cls(**{k: v for k, v in values.items() if v is not None})
        config.validate()
        return config

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"MOSPAY_PORT must be between 0 and 65535, got {self.port}")
        if not 1 <= self.threads <= 256:
            raise ConfigError(f"MOSPAY_THREADS must be between 1 and 256, got {self.threads}")
        if self.pool_size < self.threads:
            raise ConfigError("MOSPAY_POOL_SIZE must be at least MOSPAY_THREADS")
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
        self._validate_security()
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError("MOSPAY_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")

    def _validate_security(self) -> None:
        if not 2 <= self.auth_failure_limit <= 100000:
            raise ConfigError("MOSPAY_AUTH_FAILURE_LIMIT must be between 2 and 100000")
        if not 1 <= self.auth_failure_window_s <= 86400:
            raise ConfigError("MOSPAY_AUTH_FAILURE_WINDOW must be between 1 and 86400 seconds")
        if not 0 <= self.rate_limit_per_minute <= 10_000_000:
            raise ConfigError("MOSPAY_RATE_LIMIT_PER_MINUTE must be between 0 (off) and 10000000")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(f"MOSPAY_TRUSTED_PROXIES: {proxy!r} is not an IP address or network") from None
        for origin in self.cors_origins:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ConfigError(f"MOSPAY_CORS_ORIGINS: {origin!r} must look like https://shop.example.com")

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


def _int(env, name):
    raw = env.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _list(env, name):
    """A comma-separated variable as a tuple (spaces around items ignored)."""
    raw = env.get(name)
    if raw is None:
        return None
    return tuple(item.strip() for item in raw.split(",") if item.strip())


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
