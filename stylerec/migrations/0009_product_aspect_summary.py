"""Issue #18: a product's review aspect summary ("fit: runs small (12 reviews)") is stored beside
its other review aggregates, so a recommendation block shows it without reading the reviews.
Existing products start with an empty summary; ``stylerec_backfill`` (aggregates) fills it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("stylerec", "0008_candidatepool"),
    ]

    operations = [
        migrations.AddField(
            model_name="product",
            name="aspect_summary",
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
    ]
