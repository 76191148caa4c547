"""Settings of the web-node child process of ``test_web_node_without_ml``: the test settings, as a
web node runs them.

* A broker (``memory://``, in this process only): tasks are sent for a worker, never run here, as
  on a web node with Redis. The test settings' eager mode would run them in the request.
* The parent test's database (``STYLEREC_WEB_NODE_DB``, JSON of the DATABASES entry's connection
  keys), so the child reads the rows the test committed.
"""

import json
import os
from pathlib import Path

from config.settings.test import *  # noqa: F403
from config.settings.test import DATABASES, MEDIA_ROOT

CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = False

if os.environ.get("STYLEREC_WEB_NODE_DB"):
    DATABASES = {"default": {**DATABASES["default"], **json.loads(os.environ["STYLEREC_WEB_NODE_DB"])}}
MEDIA_ROOT = Path(os.environ.get("STYLEREC_WEB_NODE_MEDIA", MEDIA_ROOT))
