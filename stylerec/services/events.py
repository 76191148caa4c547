"""Writes: customer events (impressions, views, clicks, carts, searches). Purchases are not events:
the store records them with its order hook, ``services.orders.order_record``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.utils import timezone

from stylerec.cache import cache_delete, cache_get, cache_set
from stylerec.conf import stylerec_settings
from stylerec.customers import PROFILE_KINDS, SERVER_ONLY_KINDS, SERVER_ONLY_MESSAGE, Owner
from stylerec.models import Interaction, RankingProfile, get_product_model

MAX_POSITION = 32767


def _user_id(user: Any) -> int | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return int(user.pk)


# Set while ``interaction_record`` saves an Interaction whose profile refresh it schedules itself,
# so that the post_save receiver (for Interactions saved anywhere else) does not do it twice.
_profile_refresh_handled: ContextVar[bool] = ContextVar("stylerec_profile_refresh_handled", default=False)


@contextmanager
def profile_refresh_handled() -> Iterator[None]:
    """Interactions saved inside this block do not trigger a profile refresh from the receiver."""
    token = _profile_refresh_handled.set(True)
    try:
        yield
    finally:
        _profile_refresh_handled.reset(token)


def profile_refresh_is_handled() -> bool:
    return _profile_refresh_handled.get()


def customer_refresh_schedule(*, user_id: int | None, session_key: str) -> None:
    """Refresh the profile now (eager mode) or through the pipeline's
    ``stylerec.customer_profile_refresh`` task after commit (a worker); the customer's cached
    recommendations are invalidated at once either way."""
    from stylerec.services import queue
    from stylerec.services.profiles import customer_profile_refresh
    from stylerec.services.recommendations import recommendations_invalidate

    # "Eager" is Celery's decision (queue.task_eager: the task's app's task_always_eager, read where
    # apply_async reads it, False unless the host sets it); reading CELERY_TASK_ALWAYS_EAGER here
    # with a default of True made every host with a broker refresh profiles in the request. Eager,
    # the refresh runs here and now, as apply_async would run it in-process anyway; always
    # enqueueing on commit would defer it past the caller's transaction, which callers read at once.
    if queue.task_eager(queue.PROFILE_REFRESH):
        customer_profile_refresh(user_id=user_id, session_key=session_key)
    else:
        queue.task_enqueue_on_commit(queue.PROFILE_REFRESH, user_id, session_key)
    # Invalidate at once: even before the worker has run, the viewed/bought product is excluded
    # and the collaborative seeds have changed.
    recommendations_invalidate(user_id=user_id, session_key=session_key)


def _last_view_key(owner: Owner) -> str:
    return f"lastview:{owner.key}"


def view_repeated(*, owner: Owner, product_id: int) -> Interaction | None:
    """The customer's earlier view when viewing ``product_id`` again is a reload (the product they
    viewed last, within ``REPEAT_VIEW_SECONDS``); None when it is a new view. One cache read and no
    query; with the cache down every view is new (fails open: an event is never lost)."""
    if not stylerec_settings.REPEAT_VIEW_SECONDS:
        return None
    last = cache_get(_last_view_key(owner))
    if not (isinstance(last, tuple) and len(last) == 3 and last[0] == product_id):
        return None
    return Interaction(
        pk=last[1],
        kind=Interaction.Kind.VIEW,
        user_id=owner.user_id,
        session_key=owner.session_key,
        product_id=product_id,
        created_at=last[2],
    )


def view_remember(*, owner: Owner, interaction: Interaction) -> None:
    seconds = int(stylerec_settings.REPEAT_VIEW_SECONDS)
    if seconds:
        value = (interaction.product_id, interaction.pk, interaction.created_at)
        cache_set(_last_view_key(owner), value, timeout=seconds)


def view_forget(*, owner: Owner) -> None:
    """Forget the customer's last view (their events were erased: the next view is new)."""
    cache_delete(_last_view_key(owner))


def interaction_record(
    *,
    kind: str,
    user: Any = None,
    session_key: str = "",
    product_id: int | None = None,
    query: str = "",
    block: str = "",
    profile_id: int | None = None,
    position: int | None = None,
) -> Interaction:
    """Record one event; for taste-revealing kinds, update the customer's profile and invalidate
    their cached recommendations. ``block``/``profile_id``/``position`` say which recommendation
    block and ranking profile showed the product (A/B attribution). ``session_key`` is an anonymous
    customer's pseudonym (``stylerec.views.customer_of``), never a live session key."""
    if kind not in Interaction.Kind.values:
        raise ValueError(f"unknown interaction kind {kind!r}")
    if kind in SERVER_ONLY_KINDS:  # purchases: services.orders.order_record, the store's order hook
        raise ValueError(SERVER_ONLY_MESSAGE)
    user_id = _user_id(user)
    owner = Owner(user_id=user_id, session_key="" if user_id else (session_key or ""))
    is_view = kind == Interaction.Kind.VIEW and product_id is not None and bool(user_id or session_key)
    if is_view and product_id is not None:  # (is_view says so; mypy wants it spelled out)
        earlier = view_repeated(owner=owner, product_id=product_id)
        if earlier is not None:  # a reload: nothing new to record, re-rank or count
            return earlier
    if product_id is not None and not get_product_model().objects.filter(pk=product_id).exists():
        raise ValueError(f"no product {product_id}")
    if profile_id is not None and not RankingProfile.objects.filter(pk=profile_id).exists():
        profile_id = None  # a deleted profile must not lose the event
    with profile_refresh_handled():  # refreshed below: the Interaction receiver must not do it again
        interaction = Interaction.objects.create(
            kind=kind,
            user_id=user_id,
            # A signed-in customer is the user alone: no session value is ever stored with them.
            session_key="" if user_id else (session_key or ""),
            product_id=product_id,
            query=(query or "")[:500],
            block=(block or "")[:40],
            profile_id=profile_id,
            position=None if position is None else max(0, min(int(position), MAX_POSITION)),
            created_at=timezone.now(),
        )
    if is_view:
        view_remember(owner=owner, interaction=interaction)
    if kind in PROFILE_KINDS and (user_id or session_key):
        customer_refresh_schedule(user_id=user_id, session_key="" if user_id else session_key)
    return interaction
