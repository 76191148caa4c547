from django.apps import AppConfig


class SwappedStoreConfig(AppConfig):
    name = "tests.swapped_store"
    label = "swapped_store"
    default_auto_field = "django.db.models.BigAutoField"
