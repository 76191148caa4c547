"""Writes: what stylerec holds about one customer, exported or erased, and how long raw events live.

A customer is their user (when signed in) plus every anonymous pseudonym that is theirs: the one
of the current session (what they did before signing in) and those linked at earlier sign-ins
(``CustomerLink``). ``customer_export`` returns all of it as plain data, ``customer_erase`` deletes
all of it and recomputes the rating aggregates of the products they reviewed, ``events_prune``
deletes raw events older than ``STYLEREC["EVENT_RETENTION_DAYS"]``. What is stored and why:
docs/privacy.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from stylerec.conf import stylerec_settings
from stylerec.customers import Owner
from stylerec.models import (
    CandidatePool,
    CustomerLink,
    CustomerProfile,
    Interaction,
    PendingTask,
    Review,
    StylePreference,
)
from stylerec.services.aggregates import products_sentiment_aggregate
from stylerec.services.events import profile_refresh_handled, view_forget
from stylerec.services.queue import PROFILE_REFRESH
from stylerec.services.recommendations import recommendations_invalidate

PRUNE_BATCH = 10_000


def customer_keys(*, user_id: int | None, session_keys: Iterable[str] = ()) -> list[str]:
    """The anonymous pseudonyms that are the customer's: ``session_keys`` (the current session's)
    plus, for a user, those linked at their earlier sign-ins."""
    keys = {key for key in session_keys if key}
    if user_id:
        keys.update(CustomerLink.objects.filter(user_id=user_id).values_list("session_key", flat=True))
    return sorted(keys)


def _owned(*, user_id: int | None, keys: list[str]) -> Q:
    """Rows (with ``user`` + ``session_key`` columns) of the user or of one of the pseudonyms."""
    rows = Q(user__isnull=True, session_key__in=keys) if keys else Q(pk__in=[])
    return rows | Q(user_id=user_id) if user_id else rows


def _owner_of(row_user_id: int | None) -> str:
    return "account" if row_user_id else "session"


def _vector_summary(vector: Any) -> dict[str, Any] | None:
    """A profile vector as its size and length: what it is, not 1,664 floats."""
    if vector is None:
        return None
    values = [float(v) for v in vector]
    return {"dimensions": len(values), "norm": round(sum(v * v for v in values) ** 0.5, 4)}


def customer_export(*, user_id: int | None, session_keys: Iterable[str] = ()) -> dict[str, Any]:
    """Everything stylerec holds about the customer (shape: ``api.serializers.
    CustomerExportSerializer``): their events, style preferences (chosen and inferred), reviews with
    what the models read in them, profiles (vectors summarised) and the style weights the ranker
    derives from all of that. Nothing of anybody else: rows are selected by the customer's user and
    pseudonyms only."""
    from stylerec.selectors import customer_style_weights

    keys = customer_keys(user_id=user_id, session_keys=session_keys)
    owned = _owned(user_id=user_id, keys=keys)
    fields = ("kind", "product_id", "query", "block", "position", "order_id", "created_at")
    events = [
        {"owner": _owner_of(row["user_id"]), **{name: row[name] for name in fields}}
        for row in Interaction.objects.filter(owned)
        .order_by("created_at", "pk")
        .values("user_id", *fields)
        .iterator()
    ]
    styles = [
        {
            "owner": _owner_of(preference.user_id),
            "style": preference.style.slug,
            "name": preference.style.name,
            "weight": preference.weight,
            "source": preference.source,
            "inferred": preference.source != StylePreference.Source.EXPLICIT,
            "updated_at": preference.updated_at,
        }
        for preference in StylePreference.objects.filter(owned)
        .select_related("style")
        .order_by("source", "style__slug", "pk")
    ]
    reviews = (
        list(
            Review.objects.filter(user_id=user_id)
            .order_by("created_at", "pk")
            .values(
                "id",
                "product_id",
                "rating",
                "title",
                "text",
                "verified_purchase",
                "created_at",
                "language",
                "sentiment_label",
                "sentiment_score",
                "preferences",
            )
        )
        if user_id
        else []
    )
    profiles = [
        {
            "owner": _owner_of(profile.user_id),
            "interaction_count": profile.interaction_count,
            "updated_at": profile.updated_at,
            "text_vector": _vector_summary(profile.text_vector),
            "image_vector": _vector_summary(profile.image_vector),
        }
        for profile in CustomerProfile.objects.filter(owned).order_by("pk")
    ]
    ranked_as = Owner(user_id=user_id) if user_id else Owner(session_key=keys[0] if keys else "")
    return {
        "generated_at": timezone.now(),
        "customer": {"user_id": user_id, "anonymous_keys": keys},
        "event_retention_days": stylerec_settings.EVENT_RETENTION_DAYS,
        "events": events,
        "styles": styles,
        "style_weights": customer_style_weights(user_id=ranked_as.user_id, session_key=ranked_as.session_key),
        "reviews": reviews,
        "profiles": profiles,
    }


def customer_erase(*, user_id: int | None, session_keys: Iterable[str] = ()) -> dict[str, Any]:
    """Delete everything stylerec holds about the customer: events, style preferences, profiles,
    reviews and sign-in links, of the user and of every pseudonym that is theirs; then recompute the
    rating aggregates of the products they had reviewed, so that the ratings are as if the reviews
    had never been written. The user account itself is the host's and stays.

    Returns ``{"erased": {table: rows}, "products_recomputed": [product ids]}``."""
    keys = customer_keys(user_id=user_id, session_keys=session_keys)
    owned = _owned(user_id=user_id, keys=keys)
    reviews = Review.objects.filter(user_id=user_id) if user_id else Review.objects.none()
    # Deleting explicit preferences must not queue a profile refresh that would recreate an (empty)
    # profile for the customer just erased.
    with transaction.atomic(), profile_refresh_handled():
        product_ids = sorted(set(reviews.values_list("product_id", flat=True)))
        erased = {
            "events": Interaction.objects.filter(owned).delete()[0],
            "styles": StylePreference.objects.filter(owned).delete()[0],
            "profiles": CustomerProfile.objects.filter(owned).delete()[0],
            "pools": CandidatePool.objects.filter(owned).delete()[0],
            "reviews": reviews.delete()[0],
            "links": CustomerLink.objects.filter(
                Q(user_id=user_id) | Q(session_key__in=keys) if user_id else Q(session_key__in=keys)
            ).delete()[0],
        }
        # Profile refreshes that could not be sent (the broker was down) name the customer: not
        # sent again for a customer just erased, nor kept.
        named = Q(args__1__in=keys) | Q(args__0=user_id) if user_id else Q(args__1__in=keys)
        PendingTask.objects.filter(named, name=PROFILE_REFRESH).delete()
        products_sentiment_aggregate(product_ids=product_ids)
    for owner in [*([Owner(user_id=user_id)] if user_id else []), *(Owner(session_key=k) for k in keys)]:
        recommendations_invalidate(user_id=owner.user_id, session_key=owner.session_key)
        view_forget(owner=owner)  # a view after erasure is recorded anew
    return {"erased": erased, "products_recomputed": product_ids}


def customer_link_record(*, user_id: int, session_key: str) -> bool:
    """At sign-in: remember that the anonymous pseudonym ``session_key`` (the session's, before
    sign-in) is the user's, when anything is stored under it. The anonymous rows stay anonymous
    (they are not merged into the account); the link lets the customer export and erase them, and
    deleting the account erase them."""
    if not user_id or not session_key:
        return False
    anonymous = Q(user__isnull=True, session_key=session_key)
    if not (
        Interaction.objects.filter(anonymous).exists() or StylePreference.objects.filter(anonymous).exists()
    ):
        return False
    CustomerLink.objects.get_or_create(user_id=user_id, session_key=session_key)
    return True


def events_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete raw events older than ``STYLEREC["EVENT_RETENTION_DAYS"]`` (None: keep them), in
    batches, and what only anonymous visitors left behind that has not changed since: their
    profiles and style preferences, and sign-in links to pseudonyms with nothing stored any more.
    Signed-in customers' profiles stay (they fade: an event's weight halves every 30 days)."""
    days = stylerec_settings.EVENT_RETENTION_DAYS
    pruned = {"events": 0, "styles": 0, "profiles": 0, "links": 0}
    if days is None:
        return pruned
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = Interaction.objects.filter(created_at__lt=cutoff).order_by().values_list("pk", flat=True)
    while ids := list(old[:PRUNE_BATCH]):
        pruned["events"] += Interaction.objects.filter(pk__in=ids).delete()[0]
    stale = Q(user__isnull=True, updated_at__lt=cutoff)
    with profile_refresh_handled():
        pruned["styles"] = StylePreference.objects.filter(stale).delete()[0]
    pruned["profiles"] = CustomerProfile.objects.filter(stale).delete()[0]

    def anonymous(model: Any) -> Exists:
        return Exists(model.objects.filter(user__isnull=True, session_key=OuterRef("session_key")))

    pruned["links"] = (
        CustomerLink.objects.filter(created_at__lt=cutoff)
        .exclude(anonymous(Interaction))
        .exclude(anonymous(StylePreference))
        .exclude(anonymous(CustomerProfile))
        .delete()[0]
    )
    return pruned
