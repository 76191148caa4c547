"""Privacy (issue #13): no stored value can sign anybody in any more.

* The ``session_key`` columns held live Django session keys; anonymous rows now hold the session's
  pseudonym (``stylerec.customers.session_pseudonym``: a keyed hash), and rows of signed-in
  customers hold no session value at all.
* ``CustomerLink`` remembers a customer's pre-sign-in pseudonyms (export, erasure).
* A review goes with its author's account (``on_delete=CASCADE``; was ``SET_NULL``).

Hashing cannot be undone: the reverse migration leaves the pseudonyms in place.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

ANONYMOUS_KEY_HELP = (
    "Pseudonym of an anonymous visitor's session (a keyed hash; it cannot sign anybody in). "
    "Empty for signed-in customers."
)
CHUNK = 1000


def _anonymous_key_field() -> models.CharField:
    return models.CharField(
        "anonymous customer", max_length=40, blank=True, db_index=True, help_text=ANONYMOUS_KEY_HELP
    )


def session_keys_pseudonymise(apps, schema_editor):
    from stylerec.customers import is_pseudonym, session_pseudonym

    connection = schema_editor.connection
    for name in ("Interaction", "StylePreference", "CustomerProfile"):
        model = apps.get_model("stylerec", name)
        table = connection.ops.quote_name(model._meta.db_table)
        model.objects.filter(user__isnull=False).exclude(session_key="").update(session_key="")
        keys = (
            model.objects.filter(user__isnull=True)
            .exclude(session_key="")
            .order_by()
            .values_list("session_key", flat=True)
            .distinct()
        )
        raw = [key for key in keys.iterator() if not is_pseudonym(key)]
        for start in range(0, len(raw), CHUNK):
            chunk = raw[start : start + CHUNK]
            params = [value for key in chunk for value in (key, session_pseudonym(key))]
            values = ", ".join(["(%s, %s)"] * len(chunk))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} AS t SET session_key = m.new FROM (VALUES {values}) AS m(old, new) "
                    "WHERE t.user_id IS NULL AND t.session_key = m.old",
                    params,
                )


class Migration(migrations.Migration):
    dependencies = [
        ("stylerec", "0002_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(model_name="customerprofile", name="session_key", field=_anonymous_key_field()),
        migrations.AlterField(model_name="interaction", name="session_key", field=_anonymous_key_field()),
        migrations.AlterField(model_name="stylepreference", name="session_key", field=_anonymous_key_field()),
        migrations.AlterField(
            model_name="review",
            name="user",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="stylerec_reviews",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.CreateModel(
            name="CustomerLink",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "session_key",
                    models.CharField(
                        help_text="Pseudonym of the session before sign-in.",
                        max_length=40,
                        verbose_name="anonymous customer",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["session_key"], name="stylerec_cu_session_f7ffee_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("user", "session_key"), name="stylerec_customer_link_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(session_keys_pseudonymise, migrations.RunPython.noop, elidable=True),
    ]
