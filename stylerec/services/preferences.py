"""Explicit style preferences chosen by a customer."""

from __future__ import annotations

from django.db import transaction

from stylerec.customers import Owner
from stylerec.models import Style, StylePreference
from stylerec.services.recommendations import recommendations_invalidate


class UnknownStyles(ValueError):
    """A customer asked for styles that do not exist or that staff deactivated."""


def style_preferences_set(*, owner: Owner, weights: dict[str, float]) -> list[StylePreference]:
    """Replace the explicit preferences of a customer (or session) with ``weights`` {slug: 0..1}.

    Every explicit preference not chosen here with a weight above 0 is dropped, including those of
    styles staff have since deactivated; only a style asked for with a weight above 0 must exist and
    be active (else ``UnknownStyles``, and nothing changes). Other sources (inferred) are left alone."""
    if not owner.known:
        raise ValueError("a style preference needs a user or a session")
    chosen = {slug: weight for slug, weight in weights.items() if weight > 0}
    styles = {style.slug: style for style in Style.objects.filter(slug__in=chosen, is_active=True)}
    unknown = sorted(set(chosen) - set(styles))
    if unknown:
        raise UnknownStyles(f"Unknown or inactive styles: {', '.join(unknown)}.")
    kept: list[StylePreference] = []
    with transaction.atomic():
        StylePreference.objects.filter(owner.q(), source=StylePreference.Source.EXPLICIT).exclude(
            style__slug__in=list(chosen)
        ).delete()
        for slug, weight in chosen.items():
            preference, _ = StylePreference.objects.update_or_create(
                style=styles[slug],
                source=StylePreference.Source.EXPLICIT,
                **owner.fields(),
                defaults={"weight": weight},
            )
            kept.append(preference)
        # Blocks must follow the new choice at once, not after the cache times out.
        transaction.on_commit(
            lambda: recommendations_invalidate(user_id=owner.user_id, session_key=owner.session_key)
        )
    return kept
