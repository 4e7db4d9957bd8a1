"""Milepost settings, read from the environment.

Development defaults are safe to run locally; production (DJANGO_ENV=production) refuses to
start without the secrets it needs. Every variable read here is listed in README.md.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import sys
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

ENVIRONMENTS = ("development", "test", "production")
env = environ.Env()

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in ENVIRONMENTS:
    raise ImproperlyConfigured(f"DJANGO_ENV={DJANGO_ENV!r}: expected one of {ENVIRONMENTS}")
PRODUCTION = DJANGO_ENV == "production"
TESTING = DJANGO_ENV == "test" or "pytest" in sys.modules


def _required_in_production(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production")
    return dev_default


SECRET_KEY = _required_in_production(
    "DJANGO_SECRET_KEY", "dev-only-insecure-key-0123456789-abcdefghijklmnopqrstuvwxyz"
)
DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION and not TESTING)
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_ENV=production")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
MILEPOST_BASE_URL = env.str("MILEPOST_BASE_URL", default="http://localhost:8000")

INSTALLED_APPS = [
    "tenancy.admin_site.MilepostAdminConfig",  # django.contrib.admin, for operators only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "tenancy",
    "milestones",
    "shipments",
    "shipments.places",
    "integrations",
    "integrations.exceptions",
    "integrations.workflow",
    "integrations.notifications",
    "integrations.eta",
    "integrations.subscriptions",
    "billing",
    "portal",
    "portal.ops",
    "portal.tracking",
    "portal.routing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Every error under /api/ as the JSON error shape (404, 405, 400 from Django, any 500).
    "tenancy.api.middleware.ApiJsonErrorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Around the tenant context: a database or broker outage under /api/ (and /readyz) answers
    # 503 + Retry-After in the JSON error shape, never a 500 or the debug page.
    "tenancy.unavailable.UnavailableMiddleware",
    # A tenant's own tracking domain gets the customer portal's URL set.
    "portal.tracking.middleware.TenantDomainMiddleware",
    # Last: it opens the per-request transaction that carries the tenant context.
    "tenancy.middleware.TenantContextMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenancy.context_processors.tenancy",
            ]
        },
    }
]

# --- Database -------------------------------------------------------------------------------
# Two roles on one database: the app connects as a non-owner role (no BYPASSRLS) so PostgreSQL
# row-level security applies to every query; migrations run through the "owner" alias.
_DEV_DB = "postgres://milepost_app:milepost_app@127.0.0.1:54329/milepost"
_DEV_OWNER_DB = "postgres://milepost_owner:milepost_owner@127.0.0.1:54329/milepost"
DATABASE_URL = _required_in_production("DATABASE_URL", _DEV_DB)
DATABASE_OWNER_URL = env.str("DATABASE_OWNER_URL", default="") or (
    DATABASE_URL if PRODUCTION or "DATABASE_URL" in os.environ else _DEV_OWNER_DB
)
# Persistent connections help a WSGI worker; under ASGI every thread would keep its own and
# exhaust PostgreSQL, so config/asgi.py sets DB_CONN_MAX_AGE=0 before settings load.
DB_CONN_MAX_AGE = env.int("DB_CONN_MAX_AGE", default=60)
# lz4 compresses the large values (cached timelines, event details, message bodies) several
# times faster than PostgreSQL's default pglz (needs PostgreSQL >= 14 built with lz4, as the
# Debian and Docker builds are); empty keeps the server's default.
DB_TOAST_COMPRESSION = env.str("DB_TOAST_COMPRESSION", default="lz4")
# Collector thresholds of the server processes (config/runtime.py says why); CPython's
# default is 700,10,10. Empty keeps the default (start-up objects are still frozen).
GC_THRESHOLDS = tuple(int(n) for n in env.list("GC_THRESHOLDS", default=["10000", "10", "10"]))


def _database(url: str) -> dict:
    config = environ.Env.db_url_config(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"Milepost needs PostgreSQL, got {config['ENGINE']}")
    config.update(CONN_MAX_AGE=DB_CONN_MAX_AGE, CONN_HEALTH_CHECKS=True)
    options = config.setdefault("OPTIONS", {})
    options["application_name"] = "milepost"
    if DB_TOAST_COMPRESSION:
        compression = f"-c default_toast_compression={DB_TOAST_COMPRESSION}"
        options["options"] = f"{options.get('options', '')} {compression}".strip()
    # Separate names let two test runs share one server without clobbering each other.
    config["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=f"test_{config['NAME']}")}
    return config


DATABASES = {"default": _database(DATABASE_URL), "owner": _database(DATABASE_OWNER_URL)}
DATABASES["owner"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The PostgreSQL setting that carries the tenant of the current transaction.
TENANT_DB_SETTING = "milepost.tenant_id"
USER_DB_SETTING = "milepost.user_id"
# The signed scope that opens the accounts tables (tenancy.context.auth_scope), and the session
# key that shows a session its own row (tenancy.sessions; unsigned: the key is the secret).
SCOPE_DB_SETTING = "milepost.scope"
SESSION_DB_SETTING = "milepost.session_key"
# Key of the HMAC that makes those settings unforgeable from SQL (tenancy/context.py). migrate
# copies it where only the owner role can read it; change it (or DJANGO_SECRET_KEY, from which
# it is derived by default) and run migrate, or every tenant context is refused.
RLS_CONTEXT_KEY = (
    env.str("MILEPOST_RLS_CONTEXT_KEY", default="")
    or hmac.new(SECRET_KEY.encode(), b"milepost.rls-context-key", hashlib.sha256).hexdigest()
)

# --- Redis, Celery, Channels ----------------------------------------------------------------
REDIS_URL = _required_in_production("REDIS_URL", "redis://127.0.0.1:63799/0")


def _redis_db(url: str, db: int) -> str:
    """Tests keep their Redis keys in separate databases so they never touch dev data."""
    if not TESTING:
        return url
    base, _, _ = url.rpartition("/")
    return f"{base}/{db}" if base.startswith("redis") and "//" in url else url


CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=_redis_db(REDIS_URL, 13))
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Task modules outside the apps' own tasks.py (autodiscovery imports only those).
CELERY_IMPORTS = ("integrations.polling.tasks", "integrations.inbox.tasks")
# kombu's Redis transport with a guard that keeps the worker alive through a Redis outage
# (config/broker.py says which crash).
CELERY_BROKER_TRANSPORT = (
    "config.broker:Transport" if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else None
)
# A task taken by a worker that died without acking returns to the queue after this long;
# integrations.requeue_stale re-enqueues stuck messages sooner (they are idempotent).
# Socket bounds: a broker that is down or unreachable costs a publish (an accept's enqueue) at
# most a connect timeout, not a hang; the worker's BRPOP waits 1 s, well inside socket_timeout.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "socket_connect_timeout": 1,
    "socket_timeout": 5,
    # Opening a channel tries to connect once; retries are the callers' (publish retry
    # policies, the worker's reconnect loop) instead of up to 4 s more inside every publish.
    "max_retries": 0,
}
# A worker that cannot reach the broker keeps trying (every few seconds) instead of exiting
# after 100 attempts; supervision (scripts/supervise.sh, compose) restarts one that exits.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Inbound messages someone is waiting to see (one shipment's events from the API, a driver's
# scan: InboundMessage.interactive) go to their own queue, served by a worker of its own
# (`celery worker -Q interactive`, scripts/run.sh, docker-compose.yml) so they never wait
# behind a backlog of bulk feeds (integrations.tasks). A worker started without -Q consumes
# both queues (CELERY_TASK_QUEUES), so a deployment with one worker loses nothing.
CELERY_INTERACTIVE_QUEUE = env.str("CELERY_INTERACTIVE_QUEUE", default="interactive")
CELERY_TASK_QUEUES = (
    Queue(CELERY_INTERACTIVE_QUEUE, routing_key=CELERY_INTERACTIVE_QUEUE),
    Queue(CELERY_TASK_DEFAULT_QUEUE, routing_key=CELERY_TASK_DEFAULT_QUEUE),
)
CELERY_TIMEZONE = "UTC"
# Static schedule (no per-tenant rows needed): the sweeps find what is due in every tenant.
CELERY_BEAT_SCHEDULE = {
    "poll-due-integrations": {"task": "integrations.poll_due", "schedule": 30.0},
    "sweep-inboxes": {"task": "integrations.inbox_sweep", "schedule": 30.0},
    # With RECEIVED_GRACE_S (integrations/tasks.py) this bounds a lost enqueue: 30 + 20 s.
    "requeue-stale-messages": {"task": "integrations.requeue_stale", "schedule": 20.0},
    # Timeline hooks an interactive ingest deferred and then could not run (shipments.tasks).
    "run-deferred-hooks": {"task": "shipments.run_deferred_hooks", "schedule": 15.0},
    # Partner webhooks: due retries, and deliveries whose worker died (integrations.subscriptions).
    "sweep-webhook-deliveries": {"task": "subscriptions.sweep", "schedule": 30.0},
    # The demo's simulated last-mile drivers (portal.tracking.demo; nothing to do elsewhere).
    "simulate-demo-drivers": {"task": "tracking.simulate_drivers", "schedule": 10.0},
    # Demurrage/detention/storage: each complete day of an open dwell is charged (billing).
    "billing-accrue-dwell": {"task": "billing.accrue_dwell", "schedule": 3600.0},
}
# Redis pub/sub: a group send is one PUBLISH, received once by each server process, which
# hands it to its own consumers in the group. The list-based layer
# (channels_redis.core.RedisChannelLayer) wrote one entry per consumer and each process
# popped them one round trip at a time: 50 dashboards of a tenant cost 50 pops per update,
# and under a bulk load the websocket server spent a fifth of a core on them (the ``push``
# benchmark: loaded p99 182 -> 108 ms). Keeping what a client missed is not the layer's job
# here anyway: a reconnecting client replays from tenancy.realtime's log.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": env.str(
            "CHANNEL_LAYER_BACKEND", default="channels_redis.pubsub.RedisPubSubChannelLayer"
        ),
        # redis-py 8 reads with a 5 s socket timeout by default: with the list-based layer an
        # idle websocket's consumer died on "Timeout reading" (tests/portal/ops/test_live.py).
        "CONFIG": {
            "hosts": [
                {
                    "address": env.str("CHANNEL_LAYER_URL", default=_redis_db(REDIS_URL, 14)),
                    "socket_timeout": 30,
                }
            ]
        },
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": _redis_db(REDIS_URL, 15),
        "KEY_PREFIX": "milepost",
    }
}

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "tenancy.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_REDIRECT_URL = "/"
# tenancy.views.home sends office roles (admin, ops, sales, finance) from "/" to the dashboard
OFFICE_HOME_URL = "/ops/"
LOGIN_URL = "/accounts/login/"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
# Signup is by invitation (an admin adds members); open signup would create tenant-less users.
ACCOUNT_ADAPTER = "tenancy.adapters.InviteOnlyAccountAdapter"
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "reset_password": "20/m/ip,5/m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Milepost"
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Milepost <noreply@localhost>")

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenancy.api.authentication.TenantContextAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenancy.api.permissions.IsTenantMember"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "tenancy.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON only; views that store bodies as they come declare their own (RawBodyParser).
    "DEFAULT_PARSER_CLASSES": ["tenancy.api.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
# Rate limits per API key (else user, else address): bursts of API_RATE_LIMIT_BURST requests,
# refilled at API_RATE_LIMIT_PER_SECOND (tenancy/api/ratelimit.py), counted in the cache's
# Redis database. Tests run with a high limit (their own tests set the defaults back).
API_RATE_LIMIT_BURST = env.int("API_RATE_LIMIT_BURST", default=100_000 if TESTING else 100)
API_RATE_LIMIT_PER_SECOND = env.float(
    "API_RATE_LIMIT_PER_SECOND", default=10_000.0 if TESTING else 20.0
)
API_RATE_LIMIT_REDIS_URL = env.str(
    "API_RATE_LIMIT_REDIS_URL", default=CACHES["default"]["LOCATION"]
)
SPECTACULAR_SETTINGS = {
    "TITLE": "Milepost API",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tenancy.api.schema.postprocess",
    ],
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get their own components: uploads are binary, read-only fields absent.
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "MessageStatusEnum": "integrations.models.MessageStatus",
        "ProposalStatusEnum": "integrations.models.ProposalStatus",
        "StopStateEnum": "integrations.models.StopState",
        "PlaceKindEnum": "shipments.places.models.PlaceKind",
        "IntegrationKindEnum": "integrations.models.IntegrationKind",
        "NotificationChannelEnum": "integrations.notifications.models.Channel",
        "TemplateChannelEnum": "integrations.notifications.serializers.TEMPLATE_CHANNELS",
        "DeliveryStatusEnum": "integrations.notifications.models.DeliveryStatus",
        "ShipmentStatusEnum": "shipments.api.serializers.STATUSES",
        "ReferenceKindEnum": "shipments.api.serializers.REFERENCE_KINDS",
        "LinkKindEnum": "shipments.models.LinkKind",
    },
}

# --- I18N, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français"), ("es", "Español")]
TIME_ZONE = "UTC"
USE_I18N = True
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / ".local" / "media")))
MEDIA_URL = "/media/"
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Partners' file drops: <INGEST_INBOX_ROOT>/<tenant slug>/<integration token>/
INGEST_INBOX_ROOT = Path(env.str("INGEST_INBOX_ROOT", default=str(BASE_DIR / ".local" / "inbox")))
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)


def _cidrs(name: str) -> list[str]:
    values = [value.strip() for value in env.list(name, default=[]) if value.strip()]
    try:
        return [str(ipaddress.ip_network(value, strict=True)) for value in values]
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}: {error} (expected CIDRs, comma-separated)") from None


# Outbound requests (integrations/outbound.py) refuse private, loopback, link-local, metadata
# and other non-public addresses, and plain http. These networks are the one exception (local
# test stubs on 127.0.0.1, a partner reached over a private link); empty by default.
WEBHOOK_ALLOWED_NETWORKS = _cidrs("WEBHOOK_ALLOWED_NETWORKS")

# --- Security -------------------------------------------------------------------------------
# The database session store, with each operation showing only its own session's row (RLS).
SESSION_ENGINE = "tenancy.sessions"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}

# --- Notifications and ETA ------------------------------------------------------------------
# SMS: "file" (development: JSON lines in SMS_FILE_PATH), "console" (the log), "twilio".
SMS_BACKEND = env.str("SMS_BACKEND", default="console" if PRODUCTION else "file")
if SMS_BACKEND not in ("file", "console", "twilio"):
    raise ImproperlyConfigured(f"SMS_BACKEND={SMS_BACKEND!r}: expected file, console or twilio")
SMS_FILE_PATH = env.str("SMS_FILE_PATH", default=str(BASE_DIR / ".local" / "sms" / "outbox.jsonl"))
SMS_TIMEOUT_S = env.float("SMS_TIMEOUT_S", default=10.0)
TWILIO_API_URL = env.str("TWILIO_API_URL", default="https://api.twilio.com")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM = env.str("TWILIO_FROM", default="")  # a number, or a messaging service (MG…)
if PRODUCTION and SMS_BACKEND == "twilio" and not (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN):
    raise ImproperlyConfigured("SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
# Email providers through django-anymail (integrations/notifications/email_guard.py):
# EMAIL_BACKEND=integrations.notifications.email_guard.AnymailBackend and ANYMAIL_ESP=<esp>.
ANYMAIL_ESP = env.str("ANYMAIL_ESP", default="")
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_") and key != "ANYMAIL_ESP"
}
NOTIFICATIONS_FROM_EMAIL = env.str("NOTIFICATIONS_FROM_EMAIL", default="")
NOTIFICATIONS_UNSUBSCRIBE_DAYS = env.int("NOTIFICATIONS_UNSUBSCRIBE_DAYS", default=60)
# ETA: history window of the lane statistics, last-mile road speed, freshest usable position.
ETA_HISTORY_DAYS = env.int("ETA_HISTORY_DAYS", default=180)
ETA_LAST_MILE_SPEED_KMH = env.float("ETA_LAST_MILE_SPEED_KMH", default=25.0)
ETA_POSITION_MAX_AGE_MIN = env.int("ETA_POSITION_MAX_AGE_MIN", default=30)
CELERY_BEAT_SCHEDULE |= {
    "notifications-dispatch-due": {"task": "notifications.dispatch_due", "schedule": 60.0},
    # Nightly, at 02:30 UTC.
    "eta-lane-stats": {
        "task": "eta.lane_stats_recompute",
        "schedule": crontab(hour=2, minute=30),
    },
}

# --- Finance exports (billing) --------------------------------------------------------------
# The finance page links the synchronous exports (the API) only up to this many charges; above
# it, and whenever "Export" is used, an export job writes the file in Celery with progress.
BILLING_EXPORT_SYNC_MAX_ROWS = env.int("BILLING_EXPORT_SYNC_MAX_ROWS", default=5000)

# --- Ops dashboard (portal/ops) -------------------------------------------------------------
# Map tiles: a URL template ({z}/{x}/{y}); empty draws the route on a plain background.
OPS_MAP_TILE_URL = env.str("OPS_MAP_TILE_URL", default="")
OPS_MAP_TILE_ATTRIBUTION = env.str("OPS_MAP_TILE_ATTRIBUTION", default="")
# Where pages open their websocket: empty is their own origin (ws[s]://<host>/ws/ops/).
OPS_WEBSOCKET_URL = env.str("OPS_WEBSOCKET_URL", default="")
# Live messages kept per group for reconnecting clients (tenancy/realtime.py), and how long.
LIVE_REPLAY_KEEP = env.int("LIVE_REPLAY_KEEP", default=500)
LIVE_REPLAY_TTL_S = env.int("LIVE_REPLAY_TTL_S", default=3600)

# --- Exceptions and workflow rules (issue 13, part A) ---------------------------------------
# Detection runs on every applied batch (off only to measure what it costs ingestion).
EXCEPTIONS_DETECT_ON_INGEST = env.bool("EXCEPTIONS_DETECT_ON_INGEST", default=True)
CELERY_BEAT_SCHEDULE |= {
    "exceptions-sweep": {"task": "exceptions.sweep", "schedule": 60.0},
    "workflow-tasks-overdue": {"task": "workflow.run_pending", "schedule": 60.0},
}
