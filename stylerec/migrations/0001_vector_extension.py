# The pgvector extension comes first and on its own, so that a host's swapped product model
# (which carries vector columns) can depend on it before stylerec's tables point at that model.
from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [VectorExtension()]
