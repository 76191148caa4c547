"""A host store's own product model adopting stylerec through the abstract base."""

from django.db import models

from stylerec.models import AbstractProduct


class StoreItem(AbstractProduct):
    # The host's own columns stay: stylerec only adds its fields beside them.
    warehouse_code = models.CharField(max_length=20, blank=True)

    class Meta(AbstractProduct.Meta):
        app_label = "swapped_store"
