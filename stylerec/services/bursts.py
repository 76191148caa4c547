"""Writes: purging a burst of new accounts (shilling) that staff found in the admin.

``stylerec.trust.bursts_find`` lists products that many new customers took up within hours;
``burst_purge`` removes what those customers did, everywhere, and keeps them from coming back:

* their interactions and reviews are deleted (so popularity, "bought together", co-views and
  review aggregates forget them at once);
* their accounts are deactivated (``is_active = False``) when the user model has that flag;
  anonymous sessions have no account and only lose their events;
* popularity is recomputed, the cached neighbour lists and review aggregates of every product they
  touched are refreshed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from stylerec.customers import Owner
from stylerec.models import Interaction, Review
from stylerec.trust import BURST_HOURS, burst_owners


@dataclass(frozen=True)
class PurgeReport:
    customers: int
    accounts_deactivated: int
    interactions: int
    reviews: int
    products: int  # products whose signals were refreshed


def owners_purge(*, owners: list[Owner]) -> PurgeReport:
    """Delete the interactions and reviews of ``owners``, deactivate their accounts and refresh
    the signals of every product they touched."""
    from stylerec.ranking.collaborative import neighbours_forget, popularity_refresh
    from stylerec.services.aggregates import products_sentiment_aggregate

    user_ids = sorted({o.user_id for o in owners if o.user_id})
    session_keys = sorted({o.session_key for o in owners if not o.user_id and o.session_key})
    if not user_ids and not session_keys:
        return PurgeReport(0, 0, 0, 0, 0)
    events = Interaction.objects.filter(
        Q(user_id__in=user_ids) | Q(user__isnull=True, session_key__in=session_keys)
    )
    reviews = Review.objects.filter(user_id__in=user_ids)
    with transaction.atomic():
        products = set(events.exclude(product=None).values_list("product_id", flat=True))
        products |= set(reviews.values_list("product_id", flat=True))
        n_reviews = reviews.delete()[0]
        n_events = events.delete()[0]
        users = get_user_model()._default_manager.filter(pk__in=user_ids)
        has_flag = any(f.name == "is_active" for f in get_user_model()._meta.concrete_fields)
        deactivated = users.filter(is_active=True).update(is_active=False) if has_flag else 0
    products_sentiment_aggregate(product_ids=sorted(products))
    popularity_refresh()
    neighbours_forget(product_ids=products)  # recomputed, without them, when next needed
    return PurgeReport(
        customers=len(user_ids) + len(session_keys),
        accounts_deactivated=int(deactivated),
        interactions=int(n_events),
        reviews=int(n_reviews),
        products=len(products),
    )


def burst_purge(*, product_id: int, hours: float = BURST_HOURS) -> PurgeReport:
    """Purge the new customers behind the burst on ``product_id`` within the last ``hours``
    (``stylerec.trust.burst_owners``)."""
    return owners_purge(owners=burst_owners(product_id=product_id, hours=hours))
