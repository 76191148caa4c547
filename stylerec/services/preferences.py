"""Explicit style preferences chosen by a customer."""

from __future__ import annotations

from django.db import transaction

from stylerec.models import Style, StylePreference
from stylerec.selectors import recommendations_invalidate


def style_preferences_set(
    *, user=None, session_key: str = "", weights: dict[str, float]
) -> list[StylePreference]:
    """Replace the explicit preferences of a customer (or session) with ``weights`` {slug: 0..1};
    a weight of 0 removes the style. Other sources (inferred) are left alone."""
    if user is None and not session_key:
        raise ValueError("a style preference needs a user or a session")
    owner = {"user": user} if user is not None else {"user": None, "session_key": session_key}
    styles = {style.slug: style for style in Style.objects.filter(slug__in=weights, is_active=True)}
    unknown = set(weights) - set(styles)
    if unknown:
        raise ValueError(f"unknown or inactive styles: {', '.join(sorted(unknown))}")
    kept: list[StylePreference] = []
    with transaction.atomic():
        StylePreference.objects.filter(source=StylePreference.Source.EXPLICIT, **owner).exclude(
            style__slug__in=[slug for slug, w in weights.items() if w > 0]
        ).delete()
        for slug, weight in weights.items():
            if weight <= 0:
                continue
            preference, _ = StylePreference.objects.update_or_create(
                style=styles[slug],
                source=StylePreference.Source.EXPLICIT,
                **owner,
                defaults={"weight": weight},
            )
            kept.append(preference)
        # Blocks must follow the new choice at once, not after the cache times out.
        transaction.on_commit(
            lambda: recommendations_invalidate(
                user_id=user.pk if user is not None else None,
                session_key="" if user is not None else session_key,
            )
        )
    return kept
