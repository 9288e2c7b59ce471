"""Django settings for Tzurot, all read from the environment.

Two modes (``TZUROT_MODE``):

* ``embedded`` (default): for a laptop or a test run. With ``DATABASE_URL`` or
  ``REDIS_URL`` unset, the project's own PostgreSQL and Valkey (started by
  ``make run`` from pip-installed packages, data under ``var/``) are used, and
  secrets are generated once and kept in ``var/secrets.json``.
* ``production``: every secret and server address must be given; a missing or
  malformed one stops start-up with one ``ImproperlyConfigured`` naming it.

The README's configuration table lists every variable read here.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
    local_secrets,
    require,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent

MODE = (env_str("TZUROT_MODE", "embedded") or "embedded").strip().lower()
if MODE not in ("embedded", "production"):
    raise ImproperlyConfigured(f"TZUROT_MODE must be 'embedded' or 'production', not {MODE!r}.")
PRODUCTION = MODE == "production"

VAR_DIR = Path(env_str("TZUROT_VAR_DIR") or BASE_DIR / "var").resolve()

# Ports of the embedded servers (used only when DATABASE_URL / REDIS_URL are unset).
EMBEDDED_PG_PORT = env_int("TZUROT_EMBEDDED_PG_PORT", 54329, minimum=1)
EMBEDDED_REDIS_PORT = env_int("TZUROT_EMBEDDED_REDIS_PORT", 63799, minimum=1)

_GENERATED = (
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEY",
    "EMBEDDED_DB_PASSWORD",
    "EMBEDDED_REDIS_PASSWORD",
    "BOT_SERVICE_TOKEN",
)
_local = {} if PRODUCTION else local_secrets(VAR_DIR, _GENERATED)


def _secret(name: str) -> str:
    value = env_str(name)
    if PRODUCTION:
        return require(name, value)
    return value or _local[name]


SECRET_KEY = _secret("SECRET_KEY")
if PRODUCTION and len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long in production mode.")

DEBUG = env_bool("DEBUG", False)

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required in production mode and is not set.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Where the public web address of this deployment is (used for uploaded avatars).
PUBLIC_BASE_URL = (
    env_url("PUBLIC_BASE_URL", None, schemes=("http", "https"))
    or f"http://127.0.0.1:{env_int('TZUROT_PORT', 8000, minimum=1)}"
).rstrip("/")

# --- Servers -----------------------------------------------------------------

_db_url = env_url("DATABASE_URL", None, schemes=("postgres", "postgresql", "pgsql"))
if _db_url is None:
    if PRODUCTION:
        require("DATABASE_URL", None)
    _db_url = f"postgresql://tzurot:{_local['EMBEDDED_DB_PASSWORD']}@127.0.0.1:{EMBEDDED_PG_PORT}/tzurot"
DATABASE_URL = _db_url

_redis_url = env_url("REDIS_URL", None, schemes=("redis", "rediss", "unix"))
if _redis_url is None:
    if PRODUCTION:
        require("REDIS_URL", None)
    _redis_url = f"redis://:{_local['EMBEDDED_REDIS_PASSWORD']}@127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
REDIS_URL = _redis_url
EMBEDDED_DATABASE = env_str("DATABASE_URL") is None
EMBEDDED_REDIS = env_str("REDIS_URL") is None

try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
except ValueError:
    raise ImproperlyConfigured("DATABASE_URL is not a valid PostgreSQL URL.") from None
DATABASES["default"].setdefault("OPTIONS", {})
# Fail fast when the database is unreachable instead of hanging a request.
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5))
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME") or None}
# A connection pool per process (psycopg_pool): workers run many generations on
# threads, each holding a connection only for its short database steps.
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 20, minimum=0)
if DATABASE_POOL_MAX_SIZE:
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 1,
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": env_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
    }
# The statements on every job's path (its INSERT, the claim, the outcome) are
# prepared once per connection (gateway.services.prepared_cursor); Django's own
# queries never are. Turn off behind a pooler that cannot keep prepared
# statements (PgBouncer in transaction mode before 1.21).
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
if DATABASE_PREPARED_STATEMENTS:
    # psycopg prepares a statement after this many runs; only the statements
    # that ask for it (prepare=True) reach it.
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 2**31 - 1
# Threads per web process for the API's blocking steps (gateway.concurrency);
# each holds a pooled connection only while a call runs.
API_DB_THREADS = env_int("API_DB_THREADS", 8, minimum=1)

# --- Application ---------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "gateway",
    "personalities_app",
    "credentials",
    "memory",
    "botclient",
    "ingest",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tzurot_project.urls"
WSGI_APPLICATION = "tzurot_project.wsgi.application"
ASGI_APPLICATION = "tzurot_project.asgi.application"

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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
# uvicorn serves no files itself; Django serves the admin's static files and
# uploaded avatars (small, cacheable). Behind a reverse proxy, turn this off.
SERVE_FILES = env_bool("SERVE_FILES", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if PRODUCTION:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- REST API --------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["gateway.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["gateway.auth.HasToken"],
    "EXCEPTION_HANDLER": "gateway.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tzurot API",
    "DESCRIPTION": "Multi-character AI chat: generation jobs, personalities, credentials, memory.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from our own static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ------------------------------------------------------------------------
# Policy (docs/ARCHITECTURE.md, "Celery"): JSON only; results are ignored unless
# a task asks for them; acks_late is set per task, only on tasks that are safe
# to run twice, never globally.

CELERY_BROKER_URL = REDIS_URL
if REDIS_URL.startswith("redis://"):
    # kombu's Redis transport, reusing its Redis client (tzurot_project/kombu_redis.py).
    CELERY_BROKER_TRANSPORT = "tzurot_project.kombu_redis:Transport"
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_EXPIRES = 3600
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360, minimum=1)
if CELERY_TASK_TIME_LIMIT <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_TIME_LIMIT must be greater than CELERY_TASK_SOFT_TIME_LIMIT.")
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task not acknowledged within this time is delivered again by Redis; it must
# outlast the hard time limit so a running task is never handed out twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 60}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Generation is slow I/O (seconds per provider call, little CPU): one worker
# process keeps many calls in flight on threads. See docs/ARCHITECTURE.md.
CELERY_WORKER_POOL = env_str("CELERY_WORKER_POOL") or "threads"
CELERY_WORKER_CONCURRENCY = env_int("CELERY_WORKER_CONCURRENCY", 200, minimum=1)
# Seconds between runs of the task that embeds memories left pending.
MEMORY_PENDING_INTERVAL = env_float("MEMORY_PENDING_INTERVAL", 60.0)
# Seconds between runs of the task that embeds knowledge entries left pending.
KNOWLEDGE_PENDING_INTERVAL = env_float("KNOWLEDGE_PENDING_INTERVAL", 300.0)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "gateway-recover-jobs": {"task": "gateway.recover_jobs", "schedule": 30.0},
    # Memories whose embedding failed are kept pending; this finishes them.
    "memory-embed-pending": {
        "task": "memory.embed_pending",
        "schedule": MEMORY_PENDING_INTERVAL,
        "options": {"expires": MEMORY_PENDING_INTERVAL},
    },
    # Knowledge entries saved in the admin, or whose embedding failed, wait for their vector.
    "knowledge-embed-pending": {
        "task": "personalities.knowledge_embed_pending",
        "schedule": KNOWLEDGE_PENDING_INTERVAL,
        "options": {"expires": KNOWLEDGE_PENDING_INTERVAL},
    },
}

# Seconds between worker heartbeats in Redis; /health calls a worker dead after
# three missed beats.
WORKER_HEARTBEAT_INTERVAL = env_float("WORKER_HEARTBEAT_INTERVAL", 10.0)

# --- LLM providers, Discord, embeddings --------------------------------------------

LLM_BASE_URL = env_url("LLM_BASE_URL", "https://openrouter.ai/api/v1", schemes=("http", "https"))
LLM_API_KEY = env_str("LLM_API_KEY") or ""
DEFAULT_MODEL = env_str("DEFAULT_MODEL") or "openai/gpt-4o-mini"
LLM_TIMEOUT = env_float("LLM_TIMEOUT", 120.0)
LLM_MAX_ATTEMPTS = env_int("LLM_MAX_ATTEMPTS", 3, minimum=1)
LLM_BACKOFF_BASE = env_float("LLM_BACKOFF_BASE", 1.0)
TRANSCRIPTION_MODEL = env_str("TRANSCRIPTION_MODEL") or "whisper-1"
MAX_ATTACHMENT_BYTES = env_int("MAX_ATTACHMENT_BYTES", 25_000_000, minimum=1)
DEFAULT_MAX_OUTPUT_TOKENS = env_int("DEFAULT_MAX_OUTPUT_TOKENS", 1024, minimum=16)
DEFAULT_CONTEXT_WINDOW = env_int("DEFAULT_CONTEXT_WINDOW", 16384, minimum=1024)
# Context windows by model name pattern (fnmatch); first match wins.
MODEL_CONTEXT_WINDOWS: dict[str, int] = {
    "*gpt-4o*": 128000,
    "*gpt-4.1*": 1000000,
    "*gpt-5*": 400000,
    "*claude*": 200000,
    "*gemini*": 1000000,
    "*llama-3*": 128000,
    "*mistral*": 32000,
    "*deepseek*": 64000,
}
VISION_MODEL_PATTERNS = env_list(
    "VISION_MODEL_PATTERNS",
    ["*gpt-4o*", "*gpt-4.1*", "*gpt-5*", "*claude-3*", "*claude-*4*", "*gemini*", "*vision*"],
)
# Identical requests within this many seconds are answered with the first job.
GENERATION_DEDUP_WINDOW = env_int("GENERATION_DEDUP_WINDOW", 5, minimum=1)
JOB_WAIT_MAX = 30
# A job still queued after this long is enqueued again by the recovery sweep.
JOB_REQUEUE_AFTER = env_int("JOB_REQUEUE_AFTER", 60, minimum=5)
JOB_MAX_RECOVERIES = env_int("JOB_MAX_RECOVERIES", 3, minimum=1)
# Token lookups are cached per process this long (a revoked token stops working within it).
TOKEN_CACHE_SECONDS = env_int("TOKEN_CACHE_SECONDS", 30, minimum=0)
# Active personalities are cached per process this long for POST /ai/generate
# (a deactivation elsewhere takes effect within it; the worker refuses such jobs).
PERSONALITY_CACHE_SECONDS = env_int("PERSONALITY_CACHE_SECONDS", 5, minimum=0)

FIELD_ENCRYPTION_KEY = _secret("FIELD_ENCRYPTION_KEY")
# Stored API keys are encrypted by credentials/crypto.py with keys derived from
# FIELD_ENCRYPTION_KEY alone (django-cryptography's own default would sign with
# SECRET_KEY); this line only covers other uses of the package's defaults.
CRYPTOGRAPHY_KEY = FIELD_ENCRYPTION_KEY
# Where users' keys are used and checked, per provider ("custom" keys carry their own URL).
CREDENTIAL_PROVIDER_BASE_URLS = {
    "openrouter": "https://openrouter.ai/api/v1",
    "openai": "https://api.openai.com/v1",
}
# Seconds to wait for a provider when checking a key.
CREDENTIAL_VERIFY_TIMEOUT = 5.0

DISCORD_TOKEN = env_str("DISCORD_TOKEN") or ""
BOT_SERVICE_TOKEN = env_str("BOT_SERVICE_TOKEN") or ("" if PRODUCTION else _local["BOT_SERVICE_TOKEN"])
TZUROT_API_URL = (env_url("TZUROT_API_URL", None, schemes=("http", "https")) or PUBLIC_BASE_URL).rstrip("/")

# The bot (botclient). Sharding: unset means one connection (no sharding).
DISCORD_SHARD_COUNT: int | None = env_int("DISCORD_SHARD_COUNT", 0, minimum=0) or None
_shard_ids = env_list("DISCORD_SHARD_IDS", [])
try:
    DISCORD_SHARD_IDS: list[int] | None = [int(item) for item in _shard_ids] or None
except ValueError:
    raise ImproperlyConfigured("DISCORD_SHARD_IDS must be a comma-separated list of whole numbers.") from None
if DISCORD_SHARD_IDS is not None:
    if DISCORD_SHARD_COUNT is None:
        raise ImproperlyConfigured("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT to be set as well.")
    if any(not 0 <= shard < DISCORD_SHARD_COUNT for shard in DISCORD_SHARD_IDS):
        raise ImproperlyConfigured("DISCORD_SHARD_IDS must lie between 0 and DISCORD_SHARD_COUNT - 1.")
# Where discord.py reaches Discord: only changed for a REST/gateway proxy (or a test double).
DISCORD_API_BASE_URL = env_url(
    "DISCORD_API_BASE_URL", "https://discord.com/api/v10", schemes=("http", "https")
).rstrip("/")
DISCORD_GATEWAY_URL = env_url("DISCORD_GATEWAY_URL", "wss://gateway.discord.gg/", schemes=("ws", "wss"))
BOT_MAX_PERSONALITIES_PER_MESSAGE = env_int("BOT_MAX_PERSONALITIES_PER_MESSAGE", 5, minimum=1)
BOT_HISTORY_LIMIT = env_int("BOT_HISTORY_LIMIT", 20, minimum=0)
# Touched every 30 s while the bot is connected; docker-compose's health check reads it.
BOT_LIVENESS_FILE = env_str("BOT_LIVENESS_FILE", "/tmp/tzurot-bot-alive") or ""  # noqa: S108
BOT_SYNC_COMMANDS = env_bool("BOT_SYNC_COMMANDS", True)

EMBEDDING_BACKEND = (env_str("EMBEDDING_BACKEND") or "local").lower()
if EMBEDDING_BACKEND not in ("local", "openai"):
    raise ImproperlyConfigured(f"EMBEDDING_BACKEND must be 'local' or 'openai', not {EMBEDDING_BACKEND!r}.")
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL") or "all-MiniLM-L6-v2"
EMBEDDING_DIMENSIONS = env_int("EMBEDDING_DIMENSIONS", 384, minimum=1)
EMBEDDING_BASE_URL = env_url("EMBEDDING_BASE_URL", None, schemes=("http", "https")) or LLM_BASE_URL
EMBEDDING_API_KEY = env_str("EMBEDDING_API_KEY") or ""
# CPU threads of the local model per process. Worker processes already run
# side by side, one per core; more threads each only contend (measured in
# BENCHMARKS.md, "Memory").
EMBEDDING_THREADS = env_int("EMBEDDING_THREADS", 1, minimum=1)

# Imports started from the admin run as one Celery task each, for at most this many seconds.
IMPORT_TASK_TIME_LIMIT = env_int("IMPORT_TASK_TIME_LIMIT", 6 * 3600, minimum=60)

# Knowledge entries (lorebooks): cosine similarity from which an entry counts as
# relevant to a message; history messages scanned for keywords; entries per prompt.
KNOWLEDGE_THRESHOLD = env_float("KNOWLEDGE_THRESHOLD", 0.45)
KNOWLEDGE_SCAN_DEPTH = env_int("KNOWLEDGE_SCAN_DEPTH", 4, minimum=0)
KNOWLEDGE_MAX_ENTRIES = env_int("KNOWLEDGE_MAX_ENTRIES", 8, minimum=0)

# --- Logging -------------------------------------------------------------------------

LOG_LEVEL = (env_str("LOG_LEVEL") or "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {LOG_LEVEL!r}."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Request lines are uvicorn's job; Django's own is noisy at INFO.
        "django.request": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        # Celery's two lines per task ("received", "succeeded in …") cost the
        # worker measurable CPU at hundreds of jobs a second; they return with
        # LOG_LEVEL=DEBUG. Failures are still logged (WARNING and above).
        "celery.app.trace": {"level": "DEBUG" if LOG_LEVEL == "DEBUG" else "WARNING"},
        "celery.worker.strategy": {"level": "DEBUG" if LOG_LEVEL == "DEBUG" else "WARNING"},
        # At DEBUG these log whole gateway payloads, which can hold a key a user is setting.
        "discord.gateway": {"level": "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL},
        "discord.http": {"level": "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL},
        "discord.webhook": {"level": "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL},
    },
}
