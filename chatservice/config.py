"""Config: every setting of the service, read once from options and environment.

A command-line option wins over the environment variable, which wins over
the default. Everything is validated here, at start-up, so that a bad value
stops the service with one line naming the setting instead of failing later.
What can be set, with its default and help, is the table in ``settings.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from chatservice.hook_models import DeliveryPolicy
from chatservice.keyring import KeyRing, KeyRingError, parse_key_ring
from chatservice.settings import DEV_JWT_SECRET, SETTINGS

MIN_JWT_SECRET_BYTES = 32
LOG_LEVELS = ("debug", "info", "warn", "error")
LOG_FORMATS = ("text", "json")
MAX_WORKERS = 64

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting has an invalid value; the message names the setting."""


@dataclass(frozen=True, slots=True)
class Config:
    """The validated settings of one service instance."""

    # No defaults here: they are SETTINGS' (``Config.defaults()``), written once.
    listen: tuple[str, ...]
    jwt_secret: str
    jwt_expiry_seconds: int
    log_level: str
    log_format: str
    max_message_length: int
    database_url: str
    redis_url: str | None
    workers: int
    cors_origins: tuple[str, ...]
    bcrypt_rounds: int
    bcrypt_threads: int
    max_body_bytes: int
    ws_ping_interval: float
    ws_ping_timeout: float
    shutdown_timeout: float
    login_failure_limit: int
    login_failure_window: float
    register_limit: int
    register_window: float
    message_rate: float
    message_burst: int
    max_sockets_per_user: int
    ws_max_buffer: int
    trust_x_forwarded_for: int
    webhook_allow_private: bool
    webhook_retry_for: float
    webhook_backoff_base: float
    webhook_backoff_max: float
    webhook_connect_timeout: float
    webhook_timeout: float
    webhook_poll_interval: float
    webhook_concurrency: int
    commit_interval: float  # milliseconds
    metrics_listen: str | None
    max_upload_bytes: int
    upload_quota_bytes: int
    upload_rate: int
    files_dir: str | None
    vapid_private_key: str | None
    vapid_subject: str | None
    push_max_subscriptions: int
    encryption: KeyRing | None = field(repr=False)
    """The key ring of ``ENCRYPTION_KEY``, or None: message text is stored plain."""

    @property
    def webhooks(self) -> DeliveryPolicy:
        """The ``WEBHOOK_*`` timings, as webhook deliveries take them."""
        return DeliveryPolicy(
            retry_for=self.webhook_retry_for,
            backoff_base=self.webhook_backoff_base,
            backoff_max=self.webhook_backoff_max,
            connect_timeout=self.webhook_connect_timeout,
            timeout=self.webhook_timeout,
            poll_interval=self.webhook_poll_interval,
            concurrency=self.webhook_concurrency,
        )

    @property
    def uses_dev_secret(self) -> bool:
        """True while the signing key is the documented development default."""
        return self.jwt_secret == DEV_JWT_SECRET

    @classmethod
    def defaults(cls) -> Config:
        """Every setting at its default (from ``SETTINGS``), ignoring the environment.

        For embedding and tests: ``Config.defaults().replace(...)``.
        """
        return cls.from_sources({}, {})

    @classmethod
    def from_sources(
        cls,
        options: Mapping[str, str | None] | None = None,
        environ: Mapping[str, str] | None = None,
        listen: tuple[str, ...] = (),
    ) -> Config:
        """Build and validate a Config: option beats environment beats default.

        Args:
            options: values given on the command line, by setting name
                (``"jwt-secret"``); ``None`` means not given.
            environ: the environment (``os.environ`` when omitted).
            listen: ``--listen`` endpoint descriptions; empty means ``tcp:PORT``.

        Raises:
            ConfigError: a value is invalid; the message names the setting.
        """
        options = options or {}
        env = os.environ if environ is None else environ
        raw: dict[str, str | None] = {}
        for setting in SETTINGS:
            value = options.get(setting.name)
            if value is None:
                value = env.get(setting.env)
            if value is None or (value == "" and setting.default is None):
                value = setting.default
            raw[setting.name] = value
        return _validate(raw, listen)

    def replace(self, **changes: Any) -> Config:
        """Return a copy with some fields changed (for tests and embedding)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Config(**values)


def _number(name: str, raw: str | None, kind: Callable[[str], T], low: T, high: T) -> T:
    env = _env_name(name)
    try:
        value = kind(raw or "")
    except ValueError:
        raise ConfigError(f"{env} (--{name}): expected a number, got {raw!r}") from None
    if not low <= value <= high:  # type: ignore[operator]
        raise ConfigError(f"{env} (--{name}): must be between {low} and {high}, got {raw!r}")
    return value


def _env_name(name: str) -> str:
    return next(s.env for s in SETTINGS if s.name == name)


def _validate(raw: dict[str, str | None], listen: tuple[str, ...]) -> Config:
    port = _number("port", raw["port"], int, 0, 65535)
    secret = raw["jwt-secret"] or ""
    if secret != DEV_JWT_SECRET and len(secret.encode("utf-8")) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(
            f"JWT_SECRET (--jwt-secret): must be at least {MIN_JWT_SECRET_BYTES} bytes "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    level = (raw["log-level"] or "").lower()
    if level == "warning":
        level = "warn"
    if level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL (--log-level): must be one of {', '.join(LOG_LEVELS)}")
    log_format = (raw["log-format"] or "").lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT (--log-format): must be one of {', '.join(LOG_FORMATS)}")
    database_url = (raw["database-url"] or "").strip()
    if not database_url:
        raise ConfigError("DATABASE_URL (--database-url): must not be empty")
    origins = tuple(o.strip().rstrip("/") for o in (raw["cors-origins"] or "").split(","))
    origins = tuple(o for o in origins if o)
    if not origins:
        raise ConfigError("CORS_ORIGINS (--cors-origins): give * or at least one origin")
    for origin in origins:
        if origin not in ("*", "null") and "://" not in origin:
            raise ConfigError(
                f"CORS_ORIGINS (--cors-origins): {origin!r} is not scheme://host[:port]"
            )
    threads_raw = raw["bcrypt-threads"]
    threads = (
        _number("bcrypt-threads", threads_raw, int, 1, 256)
        if threads_raw
        else (os.cpu_count() or 2)
    )
    return Config(
        listen=listen or (f"tcp:{port}",),
        jwt_secret=secret,
        jwt_expiry_seconds=int(
            _number("jwt-expiry", raw["jwt-expiry"], float, 0.01, 24.0 * 365) * 3600
        ),
        log_level=level,
        log_format=log_format,
        max_message_length=_number("max-message-length", raw["max-message-length"], int, 1, 60000),
        database_url=database_url,
        redis_url=(raw["redis-url"] or None),
        workers=_number("workers", raw["workers"], int, 1, MAX_WORKERS),
        cors_origins=origins,
        bcrypt_rounds=_number("bcrypt-rounds", raw["bcrypt-rounds"], int, 4, 31),
        bcrypt_threads=threads,
        max_body_bytes=_number("max-body-bytes", raw["max-body-bytes"], int, 1024, 64 * 2**20),
        ws_ping_interval=_number("ws-ping-interval", raw["ws-ping-interval"], float, 0.0, 3600.0),
        ws_ping_timeout=_number("ws-ping-timeout", raw["ws-ping-timeout"], float, 0.0, 3600.0),
        shutdown_timeout=_number("shutdown-timeout", raw["shutdown-timeout"], float, 0.0, 60.0),
        login_failure_limit=_number(
            "login-failure-limit", raw["login-failure-limit"], int, 1, 1_000_000
        ),
        login_failure_window=_number(
            "login-failure-window", raw["login-failure-window"], float, 1.0, 86400.0
        ),
        register_limit=_number("register-limit", raw["register-limit"], int, 1, 1_000_000),
        register_window=_number(
            "register-window", raw["register-window"], float, 1.0, 7 * 86400.0
        ),
        message_rate=_number("message-rate", raw["message-rate"], float, 0.01, 100_000.0),
        message_burst=_number("message-burst", raw["message-burst"], int, 1, 1_000_000),
        max_sockets_per_user=_number(
            "max-sockets-per-user", raw["max-sockets-per-user"], int, 1, 100_000
        ),
        ws_max_buffer=_number("ws-max-buffer", raw["ws-max-buffer"], int, 65536, 2**30),
        trust_x_forwarded_for=_number(
            "trust-x-forwarded-for", raw["trust-x-forwarded-for"], int, 0, 10
        ),
        webhook_allow_private=_flag("webhook-allow-private", raw["webhook-allow-private"]),
        **_webhook_timings(raw),
        commit_interval=_number("commit-interval", raw["commit-interval"], float, 0.0, 100.0),
        metrics_listen=_endpoint("metrics-listen", raw["metrics-listen"]),
        max_upload_bytes=_number("max-upload-bytes", raw["max-upload-bytes"], int, 1024, 2**40),
        upload_quota_bytes=_number("upload-quota-bytes", raw["upload-quota-bytes"], int, 0, 2**50),
        upload_rate=_number("upload-rate", raw["upload-rate"], int, 1, 1_000_000),
        files_dir=(raw["files-dir"] or "").strip() or None,
        **_push_settings(raw),
        encryption=_key_ring(raw["encryption-key"]),
    )


def _flag(name: str, raw: str | None) -> bool:
    value = (raw or "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{_env_name(name)} (--{name}): must be true or false, got {raw!r}")


def _webhook_timings(raw: dict[str, str | None]) -> dict[str, Any]:
    """The ``WEBHOOK_*`` timing settings, by field name."""

    def seconds(name: str, low: float, high: float) -> float:
        return _number(name, raw[name], float, low, high)

    return {
        "webhook_retry_for": seconds("webhook-retry-for", 0.0, 30 * 86400.0),
        "webhook_backoff_base": seconds("webhook-backoff-base", 0.001, 86400.0),
        "webhook_backoff_max": seconds("webhook-backoff-max", 0.001, 7 * 86400.0),
        "webhook_connect_timeout": seconds("webhook-connect-timeout", 0.1, 300.0),
        "webhook_timeout": seconds("webhook-timeout", 0.1, 600.0),
        "webhook_poll_interval": seconds("webhook-poll-interval", 0.01, 3600.0),
        "webhook_concurrency": _number(
            "webhook-concurrency", raw["webhook-concurrency"], int, 1, 10_000
        ),
    }


def _key_ring(raw: str | None) -> KeyRing | None:
    try:
        return parse_key_ring(raw)
    except KeyRingError as error:
        raise ConfigError(str(error)) from None


def _endpoint(name: str, raw: str | None) -> str | None:
    """A server endpoint description Twisted can parse, or None when unset.

    Parsed here (not listened on) so that a typo stops the start with a line
    naming the setting; the reactor is not needed to parse.
    """
    description = (raw or "").strip()
    if not description:
        return None
    from twisted.internet.endpoints import serverFromString

    try:
        serverFromString(None, description)
    except (ValueError, KeyError, TypeError, OSError) as error:
        raise ConfigError(
            f"{_env_name(name)} (--{name}): {description!r} is not an endpoint "
            f"description like tcp:9100:interface=127.0.0.1 ({error})"
        ) from None
    return description


def _push_settings(raw: dict[str, str | None]) -> dict[str, Any]:
    """The Web Push settings: a usable key and a contact, or neither."""
    from chatservice.vapid import VapidKeyError, check_subject, parse_private_key

    key = (raw["vapid-private-key"] or "").strip() or None
    subject = (raw["vapid-subject"] or "").strip() or None
    try:
        if key is not None:
            parse_private_key(key)
            if subject is None:
                raise VapidKeyError("VAPID_SUBJECT (--vapid-subject): required with a VAPID key")
        if subject is not None:
            check_subject(subject)
    except VapidKeyError as error:
        raise ConfigError(str(error)) from None
    return {
        "vapid_private_key": key,
        "vapid_subject": subject,
        "push_max_subscriptions": _number(
            "push-max-subscriptions", raw["push-max-subscriptions"], int, 1, 1000
        ),
    }
