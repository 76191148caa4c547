"""Settings of the Celery worker subprocesses that the worker tests start.

The test process passes what the worker must share with it through the environment: the test
database (pytest-django's ``test_*`` database on the same server), the broker with its per-run key
prefix and queues, the (fake) model settings and the media folder.
"""

import json
import os

from config.settings.test import *  # noqa: F403
from config.settings.test import DATABASES

DATABASES = {"default": {**DATABASES["default"], **json.loads(os.environ["STYLEREC_TEST_DATABASE"])}}
CELERY_BROKER_URL = os.environ["STYLEREC_TEST_BROKER"]
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_TRANSPORT_OPTIONS = json.loads(os.environ["STYLEREC_TEST_TRANSPORT"])
STYLEREC = json.loads(os.environ["STYLEREC_TEST_STYLEREC"])
MEDIA_ROOT = os.environ["STYLEREC_TEST_MEDIA_ROOT"]
