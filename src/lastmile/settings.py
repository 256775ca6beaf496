"""Django settings for lastmile.

Every ``LASTMILE_*`` variable is read here through helpers that fail loudly on nonsense;
the README lists them all with their defaults.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from lastmile.core.logging import FORMATS as LOG_FORMATS
from lastmile.core.logging import formatter_config as log_json_formatter
from lastmile.core.metrics.queue import StampedSerializer

BASE_DIR = Path(__file__).resolve().parent


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off")


def envint(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a whole number") from None


def envfloat(name: str, default: float, *, low: float, high: float) -> float:
    """A number from ``low`` to ``high`` (inclusive); anything else, NaN too, stops the start."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a number") from None
    if not low <= value <= high:  # False for NaN as well
        raise ImproperlyConfigured(f"{name}={raw!r}: must be between {low:g} and {high:g}")
    return value


def envstr(name: str, default: str) -> str:
    return os.environ.get(name) or default


def envlist(name: str, default: str) -> list[str]:
    """Comma-separated values, blanks around each dropped; empty gives ``default``'s."""
    return [item.strip() for item in envstr(name, default).split(",") if item.strip()]


VAR_DIR = Path(envstr("LASTMILE_VAR_DIR", str(Path.cwd() / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """Use LASTMILE_SECRET_KEY, or a key generated once and kept in var/."""
    if key := os.environ.get("LASTMILE_SECRET_KEY"):
        return key
    path = VAR_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        # O_EXCL: two processes starting at once agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key


SECRET_KEY = _secret_key()
DEBUG = envbool("LASTMILE_DEBUG", False)
# Loopback names by default: a request naming any other Host gets 400, so nothing built
# from the Host header can point elsewhere. A deployment lists the names it is served on.
ALLOWED_HOSTS = envlist("LASTMILE_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("LASTMILE_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",  # failed-login limits (lastmile.console.login_limits)
    "huey.contrib.djhuey",
    "ninja",  # its Swagger UI assets, served locally (no CDN)
    "lastmile.core",
    "lastmile.people",
    "lastmile.customers",
    "lastmile.cases",
    "lastmile.loops",
    "lastmile.channels",
    "lastmile.mail",
    "lastmile.webhooks",
    "lastmile.listening",
    "lastmile.crisis",
    "lastmile.promises",
    "lastmile.knowledge",
    "lastmile.macros",
    "lastmile.live",
    "lastmile.search",
    "lastmile.journeys",
    "lastmile.funnels",
    "lastmile.recovery",
    "lastmile.invoices",
    "lastmile.jobs",
    "lastmile.feedback",
    "lastmile.portal",
    "lastmile.scorecards",
    "lastmile.coaching",
    "lastmile.training",
    "lastmile.responders",
    "lastmile.api",
    "lastmile.console",
    "lastmile.demo",  # seed_demo; no tables
]

MIDDLEWARE = [
    # Outermost: counts and times every response, the other middleware's answers too
    # (/metrics); gives each request an id for the logs.
    "lastmile.core.metrics.http.MetricsMiddleware",
    "lastmile.api.middleware.JsonErrorMiddleware",  # sees every error response
    "django.middleware.security.SecurityMiddleware",
    "lastmile.core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "lastmile.core.middleware.BodySizeLimitMiddleware",
    # Short database timeouts for ingest requests; a busy database answers 503 + Retry-After.
    "lastmile.core.backpressure.BackpressureMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: turns a locked-out login into the 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "lastmile.urls"
WSGI_APPLICATION = "lastmile.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = envstr("LASTMILE_DATABASE_URL", f"sqlite:///{VAR_DIR / 'lastmile.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
except Exception as exc:  # dj_database_url raises several types on a bad URL
    raise ImproperlyConfigured(f"LASTMILE_DATABASE_URL={DATABASE_URL!r}: {exc}") from None

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Connections are kept (per thread): opening one runs the PRAGMAs below and re-reads
    # the schema, which cost about a quarter of a small write request (bench/SEGMENT.md).
    DATABASES["default"]["CONN_MAX_AGE"] = 600
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE: a writer takes the lock at BEGIN, so two writers never deadlock
        # upgrading read locks; the busy timeout makes the loser wait instead of failing.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA busy_timeout=20000;"
            "PRAGMA foreign_keys=ON;"
            "PRAGMA cache_size=-65536;"
        ),
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Connections are kept for ten minutes (checked before reuse), so that what a connection
    # has prepared serves many requests.
    DATABASES["default"]["CONN_MAX_AGE"] = 600
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if envbool("LASTMILE_DATABASE_PREPARED", True):
        # Parameters bound on the server and a query prepared the second time a connection
        # runs it (Django turns psycopg's preparing off unless told), so PostgreSQL plans it
        # once per connection: the case page's 35 queries spent 20 of their 29 ms planning (a
        # promise joins eleven tables). psycopg keeps the 100 most recent per connection.
        # Off behind a pooler that does not keep prepared statements (PgBouncer before 1.21
        # in transaction mode).
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            server_side_binding=True, prepare_threshold=1
        )

# Ingest requests (API, Segment and hook writes; the portal's and survey forms) wait at most
# this long for a lock (PostgreSQL lock_timeout, SQLite's busy timeout) and, on PostgreSQL,
# for one statement, then answer 503 with Retry-After (lastmile.core.backpressure). The
# console and the worker keep the database's defaults. 0: no limit (SQLite: its 20 s).
LASTMILE_DB_LOCK_TIMEOUT_MS = envint("LASTMILE_DB_LOCK_TIMEOUT_MS", 5000)
LASTMILE_DB_STATEMENT_TIMEOUT_MS = envint("LASTMILE_DB_STATEMENT_TIMEOUT_MS", 10000)
for _name in ("LASTMILE_DB_LOCK_TIMEOUT_MS", "LASTMILE_DB_STATEMENT_TIMEOUT_MS"):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name}={globals()[_name]}: must be 0 (no limit) or more")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The funnels' analytics engine: empty for DuckDB under VAR_DIR/analytics;
# clickhouse://[user[:password]@]host:8123/db for a ClickHouse server; chdb://<dir> embedded.
ANALYTICS_URL = envstr("LASTMILE_ANALYTICS_URL", "")

# Onfleet's webhook secret (hex, from Onfleet's dashboard): /hooks/onfleet takes its task
# events when set (lastmile/jobs/onfleet.py); empty, the endpoint is a 404.
ONFLEET_SECRET = envstr("LASTMILE_ONFLEET_SECRET", "")
# The team whose follow-up loop a refused payment at the door opens (a slug); empty: the
# invoice's own team.
LASTMILE_BILLING_TEAM = envstr("LASTMILE_BILLING_TEAM", "")
# A driver's run (lastmile/jobs/runs.py): minutes at each stop and between stops for the
# ETAs; how far past the window an ETA goes before the delay notice; same-day notices under
# their own contact rule (not held by the night's quiet hours); an SMS integration's slug
# for customers with a phone and no email.
LASTMILE_JOBS_STOP_MINUTES = envint("LASTMILE_JOBS_STOP_MINUTES", 15)
LASTMILE_JOBS_TRAVEL_MINUTES = envint("LASTMILE_JOBS_TRAVEL_MINUTES", 20)
LASTMILE_JOBS_DELAY_GRACE_MINUTES = envint("LASTMILE_JOBS_DELAY_GRACE_MINUTES", 15)
LASTMILE_ROLLUP_MINUTES = envint("LASTMILE_ROLLUP_MINUTES", 10)  # the dashboard's rollups
LASTMILE_DIGEST_HOUR = envint(
    "LASTMILE_DIGEST_HOUR", 7
)  # the weekly digest: Mondays from this hour, UTC
LASTMILE_JOBS_SAME_DAY_QUIET_EXCEPTION = envbool("LASTMILE_JOBS_SAME_DAY_QUIET_EXCEPTION", True)
LASTMILE_JOBS_NOTICE_SMS = envstr("LASTMILE_JOBS_NOTICE_SMS", "")

# Each queued message carries the time it was queued (after its pickle, which earlier
# workers ignore), so /metrics can say how long the oldest task has waited.
_queue_serializer = StampedSerializer()
QUEUE_URL = envstr("LASTMILE_QUEUE_URL", f"sqlite:///{VAR_DIR / 'queue.sqlite3'}")
# Installations (or test runs) sharing one Redis keep apart by name.
QUEUE_NAME = envstr("LASTMILE_QUEUE_NAME", "lastmile")
_queue = urlparse(QUEUE_URL)
if _queue.scheme == "sqlite":
    HUEY = {
        "huey_class": "lastmile.core.queue.SqliteHuey",  # waits its turn to switch to WAL
        "name": QUEUE_NAME,
        # sqlite:///relative/path or sqlite:////absolute/path, as for the database URL.
        "filename": QUEUE_URL.removeprefix("sqlite:///"),
        "serializer": _queue_serializer,
        "immediate": False,
        "utc": True,
        "consumer": {"workers": 2, "worker_type": "thread", "periodic": True},
    }
elif _queue.scheme in {"redis", "rediss"}:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": QUEUE_NAME,
        "url": QUEUE_URL,
        "serializer": _queue_serializer,
        "immediate": False,
        "utc": True,
        "consumer": {"workers": 2, "worker_type": "thread", "periodic": True},
    }
else:
    raise ImproperlyConfigured(
        f"LASTMILE_QUEUE_URL={QUEUE_URL!r}: expected sqlite:///path or redis://host:port/db"
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Axes' lockout check runs before the password hasher; see lastmile.console.login_limits.
AUTHENTICATION_BACKENDS = [
    "lastmile.console.login_limits.LoginLimitBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:inbox"
LOGOUT_REDIRECT_URL = "console:login"

LANGUAGE_CODE = "en-us"
# Which shipped sentiment model scores inbound messages and mentions: the fine-tuned MiniLM
# (ONNX Runtime, int8), the n-gram linear model (numpy, about eight times as fast) or the
# cascade of the two (the encoder reads only what the linear model is unsure of).
LASTMILE_SENTIMENT_MODEL = envstr("LASTMILE_SENTIMENT_MODEL", "encoder")
if LASTMILE_SENTIMENT_MODEL not in ("encoder", "linear", "cascade"):
    raise ImproperlyConfigured(
        f"LASTMILE_SENTIMENT_MODEL={LASTMILE_SENTIMENT_MODEL!r}: expected encoder, linear or cascade"
    )

TIME_ZONE = envstr("LASTMILE_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Requests bigger than this get 413 before anything is parsed.
LASTMILE_MAX_BODY_BYTES = envint("LASTMILE_MAX_BODY_BYTES", 5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = LASTMILE_MAX_BODY_BYTES

# Phone numbers without a country code are read in this region.
LASTMILE_DEFAULT_REGION = envstr("LASTMILE_DEFAULT_REGION", "GB")
LASTMILE_CASE_PREFIX = envstr("LASTMILE_CASE_PREFIX", "LM")
# Social listening alerts: detector sensitivity (0..1) and the acknowledgement deadline.
LASTMILE_ALERT_SENSITIVITY = envfloat("LASTMILE_ALERT_SENSITIVITY", 0.5, low=0, high=1)
LASTMILE_ALERT_ACK_MINUTES = envint("LASTMILE_ALERT_ACK_MINUTES", 15)
# Where customers reach this server; links in emails (the portal's) start with it.
LASTMILE_PUBLIC_URL = envstr(
    "LASTMILE_PUBLIC_URL", f"http://127.0.0.1:{envint('LASTMILE_PORT', 8000)}"
)
# Customer portal: how long a session started by a magic link lasts, and upload limits.
LASTMILE_PORTAL_SESSION_SECONDS = envint("LASTMILE_PORTAL_SESSION_SECONDS", 8 * 3600)
LASTMILE_PORTAL_UPLOAD_MAX_BYTES = envint("LASTMILE_PORTAL_UPLOAD_MAX_BYTES", 4 * 1024 * 1024)
if LASTMILE_PORTAL_UPLOAD_MAX_BYTES > LASTMILE_MAX_BODY_BYTES - 64 * 1024:
    raise ImproperlyConfigured(
        f"LASTMILE_PORTAL_UPLOAD_MAX_BYTES={LASTMILE_PORTAL_UPLOAD_MAX_BYTES} must stay at least "
        f"64 KB under LASTMILE_MAX_BODY_BYTES={LASTMILE_MAX_BODY_BYTES} (the form around the file)"
    )

# Hardening for a deployment behind HTTPS; off by default so the loopback demo works on
# plain http. Secure cookies are only sent over HTTPS; HSTS tells browsers to use nothing
# else for this host for that many seconds (sent only on HTTPS requests: behind a proxy
# that ends TLS, also set LASTMILE_TRUST_X_FORWARDED_PROTO).
LASTMILE_SECURE_COOKIES = envbool("LASTMILE_SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LASTMILE_SECURE_COOKIES
LASTMILE_HSTS_SECONDS = envint("LASTMILE_HSTS_SECONDS", 0)
if LASTMILE_HSTS_SECONDS < 0:
    raise ImproperlyConfigured(f"LASTMILE_HSTS_SECONDS={LASTMILE_HSTS_SECONDS}: must be 0 or more")
SECURE_HSTS_SECONDS = LASTMILE_HSTS_SECONDS
if envbool("LASTMILE_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# An agent's session ends this long after they logged in (the portal's has its own).
LASTMILE_SESSION_SECONDS = envint("LASTMILE_SESSION_SECONDS", 12 * 3600)
if LASTMILE_SESSION_SECONDS < 60:
    raise ImproperlyConfigured(
        f"LASTMILE_SESSION_SECONDS={LASTMILE_SESSION_SECONDS}: must be at least 60"
    )
SESSION_COOKIE_AGE = LASTMILE_SESSION_SECONDS

# Failed logins (console and admin): this many per account, or from one address, lock
# further attempts out for the cool-off (counted in the database, across workers).
LASTMILE_LOGIN_FAILURE_LIMIT = envint("LASTMILE_LOGIN_FAILURE_LIMIT", 10)
LASTMILE_LOGIN_COOLOFF_MINUTES = envint("LASTMILE_LOGIN_COOLOFF_MINUTES", 15)
# Unknown API tokens: this many a minute from one address, then 429 until the minute ends.
LASTMILE_TOKEN_FAILURE_LIMIT = envint("LASTMILE_TOKEN_FAILURE_LIMIT", 30)
for _name in (
    "LASTMILE_LOGIN_FAILURE_LIMIT",
    "LASTMILE_LOGIN_COOLOFF_MINUTES",
    "LASTMILE_TOKEN_FAILURE_LIMIT",
):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name}={globals()[_name]}: must be at least 1")
AXES_FAILURE_LIMIT = LASTMILE_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LASTMILE_LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each counted on its own
# The address behind LASTMILE_TRUSTED_PROXIES (below), the same one the API token limit counts.
AXES_CLIENT_IP_CALLABLE = "lastmile.core.clientip.client_address"
AXES_LOCKOUT_CALLABLE = "lastmile.console.login_limits.locked_out_response"
# A success must not wipe the failures: its reset matches by address too, so an attacker
# with any account of their own could clear the count between guesses at another.
AXES_RESET_ON_SUCCESS = False
# A refused attempt writes nothing and does not extend the lockout: it ends the cool-off
# after the failure that caused it, as the page says.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # failures only; no table of every successful login
AXES_VERBOSE = False


def envnetworks(name: str) -> tuple:
    """Comma-separated CIDRs (``10.0.0.0/8,::1/128``); empty gives none."""
    from lastmile.core.netguard import networks_parse

    raw = os.environ.get(name, "")
    try:
        return networks_parse(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r}: {exc}") from None


# Webhook and messaging integration URLs resolving into these networks are allowed; every
# other internal address (loopback, private, link-local…) is refused (lastmile.core.netguard).
LASTMILE_WEBHOOK_ALLOWED_NETWORKS = envnetworks("LASTMILE_WEBHOOK_ALLOWED_NETWORKS")


def envproxies(name: str) -> tuple:
    """CIDRs of reverse proxies, as ``envnetworks``; a network holding every address is refused,
    since any client could then name any address in X-Forwarded-For."""
    networks = envnetworks(name)
    for net in networks:
        if net.prefixlen == 0:
            raise ImproperlyConfigured(
                f"{name}={os.environ.get(name)!r}: {net} would trust every client as a proxy; "
                "list only the proxies' own networks"
            )
    return networks


# Reverse proxies in front of lastmile (e.g. 10.0.0.5/32); empty: none, the per-address
# limits count the connection's peer. When set, a request from one of them is counted
# against the right-most X-Forwarded-For address no listed proxy added (lastmile.core.clientip).
LASTMILE_TRUSTED_PROXIES = envproxies("LASTMILE_TRUSTED_PROXIES")


EMAIL_BACKEND = envstr("LASTMILE_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = envstr("LASTMILE_EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = envint("LASTMILE_EMAIL_PORT", 25)
EMAIL_TIMEOUT = 10
# For LASTMILE_EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend (the demo's).
EMAIL_FILE_PATH = envstr("LASTMILE_EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = envstr("LASTMILE_FROM_EMAIL", "lastmile@localhost")

# /metrics (lastmile.core.metrics): served to a scraper sending this token as
# "Authorization: Bearer <token>"; empty, the endpoint answers 404.
LASTMILE_METRICS_TOKEN = envstr("LASTMILE_METRICS_TOKEN", "")

# "json": one JSON object a line, with the request's id and route (lastmile.core.logging).
LASTMILE_LOG_FORMAT = envstr("LASTMILE_LOG_FORMAT", "text").strip().lower()
if LASTMILE_LOG_FORMAT not in LOG_FORMATS:
    raise ImproperlyConfigured(
        f"LASTMILE_LOG_FORMAT={LASTMILE_LOG_FORMAT!r}: expected one of {', '.join(LOG_FORMATS)}"
    )
_console: dict = {"class": "logging.StreamHandler"}
if LASTMILE_LOG_FORMAT == "json":
    _console.update(formatter="json", filters=["request"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": log_json_formatter()},
    "filters": {"request": {"()": "lastmile.core.logging.RequestContextFilter"}},
    "handlers": {"console": _console},
    "root": {"handlers": ["console"], "level": envstr("LASTMILE_LOG_LEVEL", "INFO")},
    # Configuring "huey" here stops run_huey adding its own handler (no duplicate lines);
    # one line per task executed is noise, so only warnings and errors show.
    "loggers": {
        # Axes logs every failed login at INFO; lockouts come at WARNING.
        "axes": {"level": "WARNING"},
        # aiosmtpd (lastmile smtpd) logs every connection, its peer and "connection lost"
        # at INFO: noise for a mail receiver; refusals and errors still show.
        "mail.log": {"level": "WARNING"},
        "huey": {
            "handlers": ["console"],
            "level": envstr("LASTMILE_WORKER_LOG_LEVEL", "WARNING"),
            "propagate": False,
        },
    },
}
