"""stylerec's REST API (Django REST framework; schema by drf-spectacular). Mounted by
``stylerec.urls`` under ``api/stylerec/``."""
