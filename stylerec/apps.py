from django.apps import AppConfig


class StyleRecConfig(AppConfig):
    name = "stylerec"
    verbose_name = "stylerec recommendations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from stylerec import (
            checks,  # noqa: F401  (registers system checks)
            receivers,  # noqa: F401  (connects the artifact pipeline's signal handlers)
            tasks,  # noqa: F401  (registers the tasks, which services enqueue by name, in every process)
        )
        from stylerec.ranking import tasks as ranking_tasks  # noqa: F401  (no CELERY_IMPORTS needed)
