"""Test settings for a host whose product model is its own (STYLEREC_PRODUCT_MODEL swapped)."""

from config.settings.test import *  # noqa: F403
from config.settings.test import INSTALLED_APPS, database_from_env

INSTALLED_APPS = [*INSTALLED_APPS, "tests.swapped_store"]
STYLEREC_PRODUCT_MODEL = "swapped_store.StoreItem"
DATABASES = {"default": database_from_env("stylerec_swapped")}
