"""Issue #14: every product column can be added to a host's table that already has rows.

``makemigrations`` asked for one-off values (and failed with EOFError when not on a terminal) for
``title``, ``category``, ``price`` and ``created_at``; ``stock`` was added as 0, and the default
ranking profile shows only products in stock, so every block was empty. Now: ``title`` and
``category`` default to "", ``price`` may be NULL (not known yet), ``stock`` NULL means "not tracked"
(shown), ``created_at`` defaults to now. Existing rows keep their values.
"""

import django.core.validators
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("stylerec", "0004_interaction_order_id"),
    ]

    operations = [
        migrations.AlterField(
            model_name="product",
            name="title",
            field=models.CharField(default="", max_length=255),
        ),
        migrations.AlterField(
            model_name="product",
            name="category",
            field=models.CharField(db_index=True, default="", max_length=100),
        ),
        migrations.AlterField(
            model_name="product",
            name="price",
            field=models.DecimalField(
                decimal_places=2,
                max_digits=10,
                null=True,
                validators=[django.core.validators.MinValueValidator(0)],
            ),
        ),
        migrations.AlterField(
            model_name="product",
            name="stock",
            field=models.PositiveIntegerField(
                blank=True, default=None, help_text="Units in stock; empty = not tracked (shown).", null=True
            ),
        ),
        migrations.AlterField(
            model_name="product",
            name="created_at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False),
        ),
    ]
