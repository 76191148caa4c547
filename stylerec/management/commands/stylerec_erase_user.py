"""``python manage.py stylerec_erase_user <username or id>``: a customer's erasure request, handled
by staff. The same service as ``POST /api/stylerec/me/erase/`` (docs/privacy.md)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from stylerec.services.privacy import customer_erase


def user_find(identifier: str) -> Any:
    """The user whose username (the model's ``USERNAME_FIELD``) or primary key is ``identifier``;
    the username wins when both match different users."""
    model = get_user_model()
    user = model.objects.filter(**{model.USERNAME_FIELD: identifier}).first()
    if user is None and identifier.isdigit():
        user = model.objects.filter(pk=int(identifier)).first()
    if user is None:
        raise CommandError(f"No user with the username or id {identifier!r}.")
    return user


class Command(BaseCommand):
    help = (
        "Erase everything stylerec holds about a customer (events, styles, profiles, reviews, their "
        "sessions before sign-in) and recompute the ratings of the products they reviewed. The "
        "account itself stays."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="username or id")

    def handle(self, *args: Any, **options: Any) -> None:
        user = user_find(options["user"])
        result = customer_erase(user_id=user.pk)
        erased = ", ".join(f"{rows} {table}" for table, rows in result["erased"].items())
        products = result["products_recomputed"]
        self.stdout.write(
            f"Erased the stylerec data of {user.get_username()!r} (id {user.pk}): {erased}; "
            f"recomputed the rating of {len(products)} product(s)."
        )
