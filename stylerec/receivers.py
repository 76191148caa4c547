"""Signal receivers: notice saves that change a model's inputs and enqueue work, by primary key.

Thin by design. Inside the saving transaction they only mark the affected artifacts pending (so
the work survives a broker outage: the sweep or the next backfill finds it); the task is sent on
commit. They stay silent for fixture loading (``raw``), for saves that touch none of the inputs
(stock, price, the artifacts themselves) and when ``STYLEREC["AUTO_COMPUTE"]`` is False. The
pipeline writes its results with ``QuerySet.update()``, which sends no signal, so there is no loop.

Which inputs changed is found by comparing with the values loaded from the database, kept at
``post_init`` (only fields already loaded: a deferred field is never fetched here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db.models import Model
from django.db.models.signals import post_delete, post_init, post_save, pre_delete
from django.dispatch import Signal

from stylerec.conf import stylerec_settings
from stylerec.customers import PROFILE_KINDS, session_pre_sign_in_key
from stylerec.models import Interaction, Review, Style, StylePreference, get_product_model
from stylerec.ranking.pools import pool_wanted
from stylerec.services.artifacts import (
    PRODUCT_IMAGE,
    PRODUCT_IMAGE_FIELDS,
    PRODUCT_KINDS,
    PRODUCT_STYLES,
    PRODUCT_TEXT,
    PRODUCT_TEXT_FIELDS,
    REVIEW,
    REVIEW_TEXT_FIELDS,
    STYLE,
    STYLE_INPUT_FIELDS,
    artifacts_forget,
    artifacts_mark_stale,
    artifacts_request,
)
from stylerec.services.events import profile_refresh_is_handled
from stylerec.services.pools import candidate_pools_request
from stylerec.services.privacy import customer_erase, customer_link_record
from stylerec.services.queue import (
    AGGREGATES_UPDATE,
    ARTIFACTS_COMPUTE,
    PROFILE_REFRESH,
    task_enqueue_on_commit,
)
from stylerec.services.styled import styled_images_mark_stale

SNAPSHOT = "_stylerec_inputs"
# Set on an Interaction by a caller that refreshes the customer's profile itself, so the receiver
# does not do it twice; ``services.events.profile_refresh_handled()`` does the same for a block of code.
PROFILE_REFRESHED = "_stylerec_profile_refreshed"
PRODUCT_WATCHED = PRODUCT_TEXT_FIELDS + PRODUCT_IMAGE_FIELDS
REVIEW_WATCHED = (*REVIEW_TEXT_FIELDS, "rating", "verified_purchase", "user_id", "product_id")
STYLE_TRANSFER_FIELDS = ("transfer_preset", "transfer_strength", "preserve_color")
STYLE_WATCHED = STYLE_INPUT_FIELDS + STYLE_TRANSFER_FIELDS


def _value(instance: Any, name: str) -> Any:
    value = instance.__dict__[name]
    return getattr(value, "name", value)  # a FieldFile compares by its name


def _snapshot(instance: Any, fields: tuple[str, ...]) -> None:
    instance.__dict__[SNAPSHOT] = {
        name: _value(instance, name) for name in fields if name in instance.__dict__
    }


def changed_fields(instance: Any, fields: tuple[str, ...], *, created: bool, update_fields: Any) -> set[str]:
    """The watched fields this save wrote with a new value."""
    if created:
        return set(fields)
    before = instance.__dict__.get(SNAPSHOT, {})
    changed = set()
    for name in fields:
        if name not in instance.__dict__:
            continue  # deferred and never assigned: the save did not write it
        column = name.removesuffix("_id")
        if update_fields is not None and name not in update_fields and column not in update_fields:
            continue
        if name not in before or before[name] != _value(instance, name):
            changed.add(name)
    return changed


def _active(raw: bool) -> bool:
    return not raw and bool(stylerec_settings.AUTO_COMPUTE)


# --- products ---------------------------------------------------------------------------------


def product_loaded(sender: Any, instance: Any, **kwargs: Any) -> None:
    _snapshot(instance, PRODUCT_WATCHED)


def product_saved(
    sender: Any, instance: Any, created: bool, raw: bool, update_fields: Any = None, **kw: Any
) -> None:
    if not _active(raw):
        return
    changed = changed_fields(instance, PRODUCT_WATCHED, created=created, update_fields=update_fields)
    _snapshot(instance, PRODUCT_WATCHED)  # a second save of the same object compares with this one
    text_changed = bool(changed & set(PRODUCT_TEXT_FIELDS))
    image_changed = bool(changed & set(PRODUCT_IMAGE_FIELDS))
    if text_changed:
        artifacts_request(kind=PRODUCT_TEXT, ids=[instance.pk])
    if image_changed:
        artifacts_request(kind=PRODUCT_IMAGE, ids=[instance.pk])
    if text_changed or image_changed:
        artifacts_request(kind=PRODUCT_STYLES, ids=[instance.pk])
    if image_changed and not created:
        styled_images_mark_stale(product_ids=[instance.pk])


def product_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    artifacts_forget(kinds=PRODUCT_KINDS, object_id=instance.pk)


# --- reviews ----------------------------------------------------------------------------------


def review_loaded(sender: Any, instance: Review, **kwargs: Any) -> None:
    _snapshot(instance, REVIEW_WATCHED)


def review_saved(
    sender: Any, instance: Review, created: bool, raw: bool, update_fields: Any = None, **kw: Any
) -> None:
    if not _active(raw):
        return
    changed = changed_fields(instance, REVIEW_WATCHED, created=created, update_fields=update_fields)
    before = instance.__dict__.get(SNAPSHOT, {})
    _snapshot(instance, REVIEW_WATCHED)
    if changed & set(REVIEW_TEXT_FIELDS):
        artifacts_request(kind=REVIEW, ids=[instance.pk])
    if changed:
        # Ratings and counts move at once; sentiment follows when the review's artifact is ready.
        products = sorted({instance.product_id, before.get("product_id") or instance.product_id})
        task_enqueue_on_commit(AGGREGATES_UPDATE, products)


def review_deleted(sender: Any, instance: Review, **kwargs: Any) -> None:
    artifacts_forget(kinds=[REVIEW], object_id=instance.pk)
    if stylerec_settings.AUTO_COMPUTE:
        task_enqueue_on_commit(AGGREGATES_UPDATE, [instance.product_id])


# --- styles -----------------------------------------------------------------------------------


def style_loaded(sender: Any, instance: Style, **kwargs: Any) -> None:
    _snapshot(instance, STYLE_WATCHED)


def style_saved(
    sender: Any, instance: Style, created: bool, raw: bool, update_fields: Any = None, **kw: Any
) -> None:
    if not _active(raw):
        return
    changed = changed_fields(instance, STYLE_WATCHED, created=created, update_fields=update_fields)
    _snapshot(instance, STYLE_WATCHED)
    if changed & set(STYLE_INPUT_FIELDS):
        artifacts_request(kind=STYLE, ids=[instance.pk])
        _vocabulary_changed()
    if not created and changed:
        styled_images_mark_stale(style_ids=[instance.pk])


def style_deleted(sender: Any, instance: Style, **kwargs: Any) -> None:
    artifacts_forget(kinds=[STYLE], object_id=instance.pk)
    if stylerec_settings.AUTO_COMPUTE:
        _vocabulary_changed()


def _vocabulary_changed() -> None:
    """Every product's style scores are read against the active styles: all are outdated now.
    Marked stale in this transaction; batches are sent on commit (the sweep sends any rest)."""
    count = artifacts_mark_stale(kind=PRODUCT_STYLES)
    batch_size = int(stylerec_settings.BATCH_SIZE)
    for _ in range(min(-(-count // batch_size), 200)):
        task_enqueue_on_commit(ARTIFACTS_COMPUTE, PRODUCT_STYLES, [])


# --- customers --------------------------------------------------------------------------------


def _profile_refresh(user_id: int | None, session_key: str) -> None:
    if user_id is not None or session_key:
        task_enqueue_on_commit(PROFILE_REFRESH, user_id, "" if user_id is not None else session_key)


def preference_changed(sender: Any, instance: StylePreference, raw: bool = False, **kwargs: Any) -> None:
    # Only the customer's own choices: inferred preferences are written by the profile refresh
    # itself, and reacting to those would refresh forever.
    # Nor inside ``profile_refresh_handled()`` (erasure, retention): the customer is gone.
    if (
        _active(raw)
        and instance.source == StylePreference.Source.EXPLICIT
        and not profile_refresh_is_handled()
    ):
        _profile_refresh(instance.user_id, instance.session_key)


def interaction_saved(sender: Any, instance: Interaction, created: bool, raw: bool, **kwargs: Any) -> None:
    if not _active(raw) or not created or instance.kind not in PROFILE_KINDS:
        return
    if getattr(instance, PROFILE_REFRESHED, False) or profile_refresh_is_handled():
        return
    _profile_refresh(instance.user_id, instance.session_key)


def candidate_pool_wanted(sender: Any, owner: Any, **kwargs: Any) -> None:
    """A request found the customer's candidate pool missing or old: a worker builds it."""
    candidate_pools_request(owner=owner)


def user_deleting(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A host deletes an account: erase everything stylerec holds about the customer (their
    pre-sign-in sessions' data included) and recompute the ratings of the products they reviewed,
    in the deleting transaction. Always, whatever ``AUTO_COMPUTE`` says: this is privacy, not
    artifact computing."""
    customer_erase(user_id=instance.pk)


def user_signed_in(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """Remember the pseudonym the session had before sign-in (``customer_link_record``)."""
    if user is not None and user.pk is not None:
        key = session_pre_sign_in_key(getattr(request, "session", None))
        customer_link_record(user_id=user.pk, session_key=key)


def receivers_connect() -> None:
    """Connect everything (idempotent: dispatch uids). Runs when ``StyleRecConfig.ready()``
    imports this module, after the app registry is ready, so the swappable product model resolves."""
    product_model = get_product_model()
    connections: list[tuple[Signal, Callable[..., None], type[Model] | None]] = [
        (post_init, product_loaded, product_model),
        (post_save, product_saved, product_model),
        (post_delete, product_deleted, product_model),
        (post_init, review_loaded, Review),
        (post_save, review_saved, Review),
        (post_delete, review_deleted, Review),
        (post_init, style_loaded, Style),
        (post_save, style_saved, Style),
        (post_delete, style_deleted, Style),
        (post_save, preference_changed, StylePreference),
        (post_delete, preference_changed, StylePreference),
        (post_save, interaction_saved, Interaction),
        (pre_delete, user_deleting, get_user_model()),
        (user_logged_in, user_signed_in, None),
        (pool_wanted, candidate_pool_wanted, None),
    ]
    for signal, receiver, sender in connections:
        signal.connect(receiver, sender=sender, dispatch_uid=f"stylerec.{receiver.__name__}")


receivers_connect()
