"""The demo's test settings as a host that never set REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]."""

from config.settings.test import *  # noqa: F403
from config.settings.test import REST_FRAMEWORK

REST_FRAMEWORK = {key: value for key, value in REST_FRAMEWORK.items() if key != "DEFAULT_SCHEMA_CLASS"}
