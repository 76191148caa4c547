# What a host's ``makemigrations`` writes when stylerec adds a product column (issue #18).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("swapped_store", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="storeitem",
            name="aspect_summary",
            field=models.JSONField(blank=True, default=list, editable=False),
        ),
    ]
