import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import database_from_env, env_bool

DEBUG = env_bool("DEBUG", False)
if os.environ.get("SECRET_KEY", "").startswith("insecure") or len(os.environ.get("SECRET_KEY", "")) < 32:
    raise ImproperlyConfigured(
        "Production needs a real SECRET_KEY (at least 32 characters) in the environment."
    )
if not os.environ.get("DATABASE_URL"):
    raise ImproperlyConfigured("Production needs DATABASE_URL pointing at PostgreSQL with pgvector.")
DATABASES = {"default": database_from_env("stylerec")}
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
