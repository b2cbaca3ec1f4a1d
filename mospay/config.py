"""One Config object: defaults, environment overrides and validation, read once at start-up."""

from __future__ import annotations

import dataclasses
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
    reconcile_interval_s: float = 5.0   # 0: no reconciler thread in run.py (use `python -m mospay reconcile`)
    breaker_failures: int = 5           # consecutive transport failures that open a service's breaker
    breaker_cooldown_s: float = 30.0
    public_url: str | None = None       # where providers reach MosPay (callback URLs); default http://host:port

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
            "reconcile_interval_s": _float(env, "MOSPAY_RECONCILE_INTERVAL"),
            "breaker_failures": _int(env, "MOSPAY_BREAKER_FAILURES"),
            "breaker_cooldown_s": _float(env, "MOSPAY_BREAKER_COOLDOWN"),
            "public_url": env.get("MOSPAY_PUBLIC_URL"),
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
        if not 0 <= self.reconcile_interval_s <= 3600:
            raise ConfigError("MOSPAY_RECONCILE_INTERVAL must be between 0 (off) and 3600 seconds")
        if not 1 <= self.breaker_failures <= 1000:
            raise ConfigError("MOSPAY_BREAKER_FAILURES must be between 1 and 1000")
        if not 0.1 <= self.breaker_cooldown_s <= 3600:
            raise ConfigError("MOSPAY_BREAKER_COOLDOWN must be between 0.1 and 3600 seconds")
        if self.public_url and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", self.public_url):
            raise ConfigError("MOSPAY_PUBLIC_URL must be an http(s) URL without query, like https://pay.example.com")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError("MOSPAY_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")

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


def _int(env, name):
    raw = env.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _float(env, name):
    raw = env.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    return value


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
