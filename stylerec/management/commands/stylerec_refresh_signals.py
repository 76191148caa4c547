from django.core.management.base import BaseCommand

from stylerec.ranking.collaborative import collaborative_refresh


class Command(BaseCommand):
    help = "Refresh decayed popularity and item-item neighbours now (Celery beat does it every 10 minutes)."

    def handle(self, *args, **options):
        counts = collaborative_refresh()
        self.stdout.write("Refreshed: " + ", ".join(f"{name} {n}" for name, n in counts.items()))
