import os

from .base import *  # noqa: F403
from .base import VAR_DIR, database_from_env

# pytest-django creates and drops "test_<NAME>" on the same server, so the demo's data is untouched
# and the demo and the tests can run at once.
# STYLEREC_TEST_DB lets two test runs share the server without sharing a database.
DATABASES = {"default": database_from_env(os.environ.get("STYLEREC_TEST_DB", "stylerec"))}
# A second alias on the same test database, as a replica would be (tests/ranking/test_pools.py
# serves through it with STYLEREC["READ_DATABASE_ALIAS"]).
DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user fixtures
MEDIA_ROOT = VAR_DIR / "test-media"
CELERY_TASK_ALWAYS_EAGER = True  # unit tests run eagerly; worker tests override this
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
