"""The table of every setting: its option, environment variable, default and help.

Data only, in ``twistd chat --help`` order: ``tap.py`` turns it into command-line
options, ``config.py`` reads and validates the values it names, and
``docs/protocol.md``'s settings table is checked against it. Kept apart from the
validation so that adding a setting starts with one row here, read at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass

DEV_JWT_SECRET = "dev-super-secret-change-me"
"""The documented development signing key: the default, warned about at start-up."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One configurable value: its option, environment variable and default."""

    name: str
    env: str
    default: str | None
    doc: str


# The order is the order of ``twistd chat --help``.
SETTINGS: tuple[Setting, ...] = (
    Setting("port", "PORT", "8081", "TCP port for REST and WebSocket (ignored with --listen)."),
    Setting("jwt-secret", "JWT_SECRET", DEV_JWT_SECRET, "HS256 signing key (at least 32 bytes)."),
    Setting("jwt-expiry", "JWT_EXPIRY", "24", "Token lifetime in hours."),
    Setting("log-level", "LOG_LEVEL", "info", "One of debug, info, warn, error."),
    Setting("log-format", "LOG_FORMAT", "text", "text, or json for one JSON object per line."),
    Setting(
        "max-message-length",
        "MAX_MESSAGE_LENGTH",
        "1000",
        "Maximum message length in characters (code points).",
    ),
    Setting(
        "database-url",
        "DATABASE_URL",
        "sqlite:///chat.sqlite3",
        "The store: sqlite:///path, postgresql://..., or memory:.",
    ),
    Setting("redis-url", "REDIS_URL", None, "Redis URL to share rooms between processes."),
    Setting(
        "workers",
        "WORKERS",
        "1",
        "Worker processes sharing the port (2 or more need REDIS_URL and a shared database).",
    ),
    Setting("cors-origins", "CORS_ORIGINS", "*", "Comma-separated allowed origins, or *."),
    Setting("bcrypt-rounds", "BCRYPT_ROUNDS", "12", "bcrypt cost factor, 4-31."),
    Setting(
        "bcrypt-threads",
        "BCRYPT_THREADS",
        None,
        "Threads that hash passwords (default: number of CPUs).",
    ),
    Setting("max-body-bytes", "MAX_BODY_BYTES", "65536", "Largest accepted REST body in bytes."),
    Setting("ws-ping-interval", "WS_PING_INTERVAL", "25", "Seconds between WebSocket pings."),
    Setting("ws-ping-timeout", "WS_PING_TIMEOUT", "10", "Seconds to wait for a pong."),
    Setting(
        "login-failure-limit",
        "LOGIN_FAILURE_LIMIT",
        "10",
        "Failed logins allowed per username and per client address in the window.",
    ),
    Setting(
        "login-failure-window", "LOGIN_FAILURE_WINDOW", "300", "Failed-login window, seconds."
    ),
    Setting(
        "register-limit", "REGISTER_LIMIT", "20", "Registrations allowed per address per window."
    ),
    Setting("register-window", "REGISTER_WINDOW", "3600", "Registration window, seconds."),
    Setting("message-rate", "MESSAGE_RATE", "10", "Messages a user may send per second."),
    Setting("message-burst", "MESSAGE_BURST", "20", "Messages a user may send in a burst."),
    Setting(
        "max-sockets-per-user",
        "MAX_SOCKETS_PER_USER",
        "20",
        "WebSocket connections one user may hold at once.",
    ),
    Setting(
        "ws-max-buffer",
        "WS_MAX_BUFFER",
        "1048576",
        "Bytes a WebSocket may have waiting to be sent; past them it is closed as a slow "
        "consumer (1008) after 5 s without draining, and at once past 8 times them.",
    ),
    Setting(
        "trust-x-forwarded-for",
        "TRUST_X_FORWARDED_FOR",
        "0",
        "Proxies in front of the service whose X-Forwarded-For is trusted (0: none).",
    ),
    Setting(
        "commit-interval",
        "COMMIT_INTERVAL",
        "2",
        "Milliseconds at least between the starts of two message commits on SQLite and "
        "PostgreSQL, so that under load more messages share one fsync (0: no pacing).",
    ),
    Setting(
        "shutdown-timeout",
        "SHUTDOWN_TIMEOUT",
        "8",
        "Seconds to wait for WebSockets to close on shutdown.",
    ),
    # -- outgoing webhooks (issue 13) --
    Setting(
        "webhook-allow-private",
        "WEBHOOK_ALLOW_PRIVATE",
        "false",
        "true lets webhooks reach loopback, private and link-local addresses (tests only).",
    ),
    Setting(
        "webhook-retry-for",
        "WEBHOOK_RETRY_FOR",
        "86400",
        "Seconds a failing webhook delivery is retried before it becomes a dead letter.",
    ),
    Setting(
        "webhook-backoff-base",
        "WEBHOOK_BACKOFF_BASE",
        "5",
        "Seconds before a webhook's first retry; each next one waits twice as long, jittered.",
    ),
    Setting("webhook-backoff-max", "WEBHOOK_BACKOFF_MAX", "3600", "Longest wait between retries."),
    Setting(
        "webhook-connect-timeout",
        "WEBHOOK_CONNECT_TIMEOUT",
        "5",
        "Seconds a webhook connection may take to open.",
    ),
    Setting(
        "webhook-timeout",
        "WEBHOOK_TIMEOUT",
        "15",
        "Seconds a whole webhook request may take (connect, send, answer).",
    ),
    Setting(
        "webhook-poll-interval",
        "WEBHOOK_POLL_INTERVAL",
        "1",
        "Seconds between looks for webhook work (new events, due retries).",
    ),
    Setting(
        "webhook-concurrency",
        "WEBHOOK_CONCURRENCY",
        "32",
        "Webhooks one process delivers to at once (one request in flight per webhook).",
    ),
    Setting(
        "metrics-listen",
        "METRICS_LISTEN",
        None,
        "Endpoint serving Prometheus metrics at /metrics, never on the chat port "
        "(e.g. tcp:9100:interface=127.0.0.1; off when unset).",
    ),
    # Files (issue 12).
    Setting(
        "max-upload-bytes",
        "MAX_UPLOAD_BYTES",
        str(25 * 2**20),
        "Largest file one upload may be, in bytes (refused with 413 as it arrives).",
    ),
    Setting(
        "upload-quota-bytes",
        "UPLOAD_QUOTA_BYTES",
        str(2**30),
        "Bytes of uploads one user may keep.",
    ),
    Setting("upload-rate", "UPLOAD_RATE", "30", "Uploads a user may make per minute."),
    Setting(
        "files-dir",
        "FILES_DIR",
        None,
        "Directory of uploaded files (default: 'files' beside the SQLite file; in the "
        "database with PostgreSQL; a temporary directory with memory:).",
    ),
    # Web Push (issue 13): off unless a VAPID key is set.
    Setting(
        "vapid-private-key",
        "VAPID_PRIVATE_KEY",
        None,
        "VAPID private key for Web Push (python -m chatservice.vapid prints a pair); "
        "unset: no push.",
    ),
    Setting(
        "vapid-subject",
        "VAPID_SUBJECT",
        None,
        "Contact for push services, mailto: or https: (required with VAPID_PRIVATE_KEY).",
    ),
    Setting(
        "push-max-subscriptions",
        "PUSH_MAX_SUBSCRIPTIONS",
        "10",
        "Push subscriptions (browsers) kept per user; registering more drops the oldest.",
    ),
    # Encryption at rest (issue 12).
    Setting(
        "encryption-key",
        "ENCRYPTION_KEY",
        None,
        "Seal message text at rest (AES-256-GCM): one key, or id:key,... whose first key "
        "seals (python -m chatservice.keyring prints a key). Prefer the environment.",
    ),
)
