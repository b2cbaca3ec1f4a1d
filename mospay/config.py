"""One Config object: defaults, environment overrides and validation, read once at start-up."""

from __future__ import annotations

import dataclasses
import os
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
    log_retention_days: int = 90  # api_logs older than this are deleted in batches; 0 keeps them forever

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
            "log_retention_days": _int(env, "MOSPAY_LOG_RETENTION_DAYS"),
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
        if not 0 <= self.log_retention_days <= 36500:
            raise ConfigError("MOSPAY_LOG_RETENTION_DAYS must be between 0 (keep forever) and 36500")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError("MOSPAY_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")

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
