"""Settings shared by every environment. Everything a deployment changes comes from the
environment: DATABASE_URL, REDIS_URL / CELERY_BROKER_URL, SECRET_KEY, DEBUG, ALLOWED_HOSTS."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stylerec import task_limits  # plain numbers: the tasks' time limits

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("STYLEREC_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    return default if not value else [item.strip() for item in value.split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-dev-key-change-me")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "stylerec",
    "stylerec.lab",  # training, evaluation and benchmarks: the demo runs them, a store may not
    "shop",
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

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "shop.context_processors.categories",
                "shop.context_processors.cart",
            ]
        },
    }
]


def database_from_env(default_name: str) -> dict[str, Any]:
    """DATABASE_URL when set; otherwise the embedded PostgreSQL with pgvector."""
    url = os.environ.get("DATABASE_URL")
    if url:
        import dj_database_url

        return dict(dj_database_url.parse(url, conn_max_age=60))
    from config.embedded_db import embedded_database

    return embedded_database(default_name)


DATABASES: dict[str, dict[str, Any]] = {}  # set by local/test/production

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "shop:login"
LOGIN_REDIRECT_URL = "shop:catalog"
LOGOUT_REDIRECT_URL = "shop:catalog"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"

# --- Celery: always a real worker; eager mode is for tests only (settings.test) ---------------
# With no broker configured, the demo's worker and web server share kombu's filesystem transport:
# it needs no server to install or run (the SQLAlchemy transport would add a dependency and poll
# PostgreSQL), survives restarts (messages are files) and is plenty for one machine. A deployment
# sets REDIS_URL or CELERY_BROKER_URL.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL) or "filesystem://"
BROKER_DIR = VAR_DIR / "broker"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# stylerec's tasks: model inference on STYLEREC["GPU_QUEUE"], the rest on CPU_QUEUE
# (stylerec.services.queue; "stylerec.tasks.route_task" still works).
CELERY_TASK_ROUTES = ("stylerec.services.queue.route_task",)
CELERY_TASK_SOFT_TIME_LIMIT = 300  # defaults; stylerec's tasks set their own
CELERY_TASK_TIME_LIMIT = 360
# Unacknowledged (acks_late) messages of a dead worker come back after this many seconds; it must
# exceed the longest task including its wait in the worker: 2 × the longest hard time_limit of
# stylerec's tasks (960 s × 2 = 1920 s; stylerec.task_limits says why; check stylerec.W002).
VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", task_limits.VISIBILITY_TIMEOUT))
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": VISIBILITY_TIMEOUT}
if CELERY_BROKER_URL == "filesystem://":
    for _folder in ("queue", "processed", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.2,  # a styled image asked for by a page view starts within 0.2 s
    }
CELERY_BEAT_SCHEDULE = {
    "stylerec-artifacts-sweep": {"task": "stylerec.artifacts_sweep", "schedule": 300.0},
    "stylerec-candidate-pools-sweep": {"task": "stylerec.candidate_pools_sweep", "schedule": 300.0},
    "stylerec-collaborative-refresh": {"task": "stylerec.ranking.collaborative_refresh", "schedule": 600.0},
    # Retention (docs/privacy.md): deletes events older than STYLEREC["EVENT_RETENTION_DAYS"].
    "stylerec-events-prune": {"task": "stylerec.events_prune", "schedule": 86400.0},
}
CELERY_IMPORTS = ("stylerec.ranking.tasks",)  # not an app's tasks.py, so autodiscovery misses it

# --- Cache: shared by the web server and the worker (a worker's invalidation must reach the pages):
# Redis when configured, else files under var/ (one machine, no server to run).
# With Redis down, pages and the API carry on without the cache (docs/operations.md, "When Redis is
# down"); the timeouts keep an unreachable Redis from holding each request for the OS's TCP timeout.
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache, with one Redis client per pool instead of one per call
            "BACKEND": "stylerec.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 24,
}
SPECTACULAR_SETTINGS = {"TITLE": "stylerec API", "VERSION": "0.1.0", "SERVE_INCLUDE_SCHEMA": False}

# --- stylerec ------------------------------------------------------------------------------
STYLEREC_PRODUCT_MODEL = "stylerec.Product"
# The demo prices in yuan; its own pages write prices with the same |stylerec_price filter as the blocks.
STYLEREC = {"MODEL_DIR": str(VAR_DIR / "models"), "PRODUCT_URL_NAME": "shop:product", "CURRENCY": "CNY"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"stylerec": {"handlers": ["console"], "level": os.environ.get("STYLEREC_LOG_LEVEL", "INFO")}},
}
