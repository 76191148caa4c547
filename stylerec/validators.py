"""Validation shared by every way a customer's text reaches stylerec (forms, API, importer)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from stylerec.conf import stylerec_settings


def validate_review_text(value: str) -> str:
    """Non-blank and at most MAX_REVIEW_CHARS characters; returns the stripped text."""
    text = (value or "").strip()
    if not text:
        raise ValidationError("Please write a few words about the product.", code="blank")
    limit = stylerec_settings.MAX_REVIEW_CHARS
    if len(text) > limit:
        raise ValidationError(
            f"Reviews can be at most {limit} characters long (this one has {len(text)}).", code="max_length"
        )
    return text
