"""Styled images: a product photo rendered in a style by neural style transfer.

Never every product in every style up front (a catalog of 10k products and 12 styles would be
120k transfers, most never seen). A styled image is made

* on demand: ``styled_image_for`` returns a ready image or asks a worker for one and returns None
  (the page shows the plain photo meanwhile);
* ahead of time for the best sellers only: ``styled_images_precompute(top_n=...)``;
* again when it goes stale: the product image, the style's transfer inputs, the output size or
  the transfer model changed (``input_hash``), for the ones that already exist.

They are one more kind of the artifact engine (``services.artifacts``, kind ``"styled"``): its
objects are ``StyledImage`` rows, one per (product, style), which carry their own state. The engine
decides freshness, batches (one transfer call per style), isolates failures and writes a result
only if its inputs are still current; this module says what the inputs are, which pairs to make,
how a result is stored (JPEG at ``STYLED_IMAGE_SIZE``, longest side, through Django's storage
API) and serves them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from stylerec.cache import cache_add
from stylerec.conf import stylerec_settings
from stylerec.ml import registry
from stylerec.models import ArtifactStatus, Style, StyledImage, get_product_model
from stylerec.services.artifacts import (
    STYLED,
    ArtifactKind,
    ComputeReport,
    NoInput,
    OwnState,
    artifacts_compute_pending,
    artifacts_enqueue,
    artifacts_mark,
    artifacts_needing_work,
    image_decode,
    image_file_open,
    image_pixels,
    input_hash,
    kind_register,
    style_spec,
)

# How long a page view's request for a missing styled image is remembered, so a popular page does
# not enqueue the same transfer on every view while the worker is busy with it.
REQUEST_DEBOUNCE_SECONDS = 60
JPEG_QUALITY = 88


def styled_inputs(*, product: Any, style: Style) -> str:
    return "\x00".join(
        str(value)
        for value in (
            product.image.name if product.image else "",
            style.slug,
            style.reference_image.name if style.reference_image else "",
            style.transfer_preset,
            style.transfer_strength,
            style.preserve_color,
            stylerec_settings.STYLED_IMAGE_SIZE,
        )
    )


# --- serving and asking -----------------------------------------------------------------------


def _is_fresh(row: StyledImage, *, product: Any, style: Style) -> bool:
    # The row's own model version is used here, so the serving path never loads the transfer
    # model; a model upgrade is found by the backfill, which compares with the current version.
    expected = input_hash(inputs=styled_inputs(product=product, style=style), version=row.model_version)
    return row.input_hash == expected


def styled_image_for(*, product: Any, style: Style) -> StyledImage | None:
    """The ready styled image of ``product`` in ``style``, or None after asking a worker for it."""
    if not product.image or not style.is_active:
        return None
    row = StyledImage.objects.filter(product=product, style=style).first()
    if row is not None and _is_fresh(row, product=product, style=style):
        if row.status == ArtifactStatus.READY and row.image:
            return row
        if row.status == ArtifactStatus.FAILED:
            return None  # these very inputs failed; a change of inputs or the admin retries
    styled_images_request(pairs=[(product.pk, style.pk)])
    return None


def styled_images_request(*, pairs: Iterable[tuple[int, int]]) -> list[int]:
    """Mark (product id, style id) pairs as wanted and enqueue their generation after commit."""
    # With the cache down (Redis), each web process debounces on its own (``cache_add``).
    wanted = [
        (product_id, style_id)
        for product_id, style_id in dict.fromkeys(pairs)
        if cache_add(
            f"styled-request:{product_id}:{style_id}",
            1,
            timeout=REQUEST_DEBOUNCE_SECONDS,
            what="styled-image request debounce",
        )
    ]
    if not wanted:
        return []
    now = timezone.now()
    StyledImage.objects.bulk_create(
        [
            StyledImage(product_id=p, style_id=s, status=ArtifactStatus.PENDING, updated_at=now)
            for p, s in wanted
        ],
        update_conflicts=True,
        unique_fields=["product", "style"],
        update_fields=["status", "updated_at"],
    )
    condition = Q()
    for product_id, style_id in wanted:
        condition |= Q(product_id=product_id, style_id=style_id)
    ids = list(StyledImage.objects.filter(condition).values_list("pk", flat=True))
    artifacts_enqueue(kind=STYLED, ids=ids)
    return ids


def styled_images_mark_stale(*, product_ids: Iterable[int] = (), style_ids: Iterable[int] = ()) -> list[int]:
    """Existing styled images of these products or styles are outdated: regenerate them."""
    product_ids, style_ids = list(product_ids), list(style_ids)
    if not product_ids and not style_ids:
        return []
    rows = StyledImage.objects.filter(Q(product_id__in=product_ids) | Q(style_id__in=style_ids)).exclude(
        status=ArtifactStatus.PENDING
    )
    ids = list(rows.values_list("pk", flat=True))
    artifacts_mark(kind=STYLED, ids=ids, status=ArtifactStatus.STALE)
    artifacts_enqueue(kind=STYLED, ids=ids)
    return ids


def styled_images_precompute(*, top_n: int, enqueue: bool = True) -> list[int]:
    """Rows for the ``top_n`` best sellers in every active style; the ids that still need work.

    With ``enqueue`` a worker makes them; the backfill passes False and makes them itself."""
    products = list(
        get_product_model()
        .objects.filter(is_active=True)
        .exclude(image="")
        .order_by("-sales_count", "-popularity", "pk")
        .values_list("pk", flat=True)[:top_n]
    )
    styles = list(Style.objects.filter(is_active=True).values_list("pk", flat=True))
    StyledImage.objects.bulk_create(
        [StyledImage(product_id=p, style_id=s) for p in products for s in styles], ignore_conflicts=True
    )
    ids = styled_images_needing_work(product_ids=products)
    if enqueue:
        artifacts_enqueue(kind=STYLED, ids=ids)
    return ids


def styled_images_needing_work(*, product_ids: Sequence[int] | None = None, force: bool = False) -> list[int]:
    """Existing rows of active styles that are pending, stale, without a file, or made from other
    inputs or by another version of the transfer model (failed rows only when their inputs
    changed)."""
    where = Q(style__is_active=True)
    if product_ids is not None:
        where &= Q(product_id__in=list(product_ids))
    return artifacts_needing_work(kind=STYLED, force=force, where=where)


def styled_images_generate(
    *, ids: Sequence[int] = (), force: bool = False, fill: bool = True
) -> ComputeReport:
    """Generate the given styled images (with ``fill``, topped up with other pending ones to a full
    batch); one transfer call per style and batch."""
    return artifacts_compute_pending(kind=STYLED, ids=ids, force=force, fill=fill)


# --- the artifact kind --------------------------------------------------------------------------


def _styled_rows() -> Any:
    # The vectors of products and styles are not inputs here, and cost the most to load.
    return StyledImage.objects.select_related("product", "style").defer(
        "product__text_embedding",
        "product__image_embedding",
        "style__text_embedding",
        "style__image_prototype",
    )


def _styled_lock(ids: list[int]) -> dict[int, StyledImage]:
    product_ids = sorted(set(StyledImage.objects.filter(pk__in=ids).values_list("product_id", flat=True)))
    # Product rows first, as a save locks them (and then marks their styled images stale): an
    # edit in flight is waited for, and the read below sees it.
    list(
        get_product_model()
        .objects.select_for_update()
        .filter(pk__in=product_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    rows = _styled_rows().select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk")
    return {row.pk: row for row in rows}


def _styled_prepare(row: StyledImage, spec: Any) -> Any:
    try:
        return image_file_open(row.product.image)  # decoded just before its transfer call
    except NoInput:
        raise ValueError("The product has no image to style.") from None


def _jpeg_bytes(image: Any) -> bytes:
    from stylerec.ml.images import fit_within, to_rgb

    image = fit_within(to_rgb(image), int(stylerec_settings.STYLED_IMAGE_SIZE))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def _styled_infer(images: list[Any], spec: Any) -> list[bytes]:
    return [_jpeg_bytes(image) for image in registry.get("style_transfer").stylize(images, spec)]


def _styled_fields(content: bytes | None, row: StyledImage, current_hash: str) -> dict[str, Any]:
    """Store the JPEG under a name of its inputs; the file it replaces goes once this commits."""
    if content is None:
        return {}  # failed: a failed row is never served, and its inputs' next success replaces it
    storage = row.image.storage
    name = storage.save(
        f"styled/{row.product_id}/{row.style.slug}-{current_hash[:12]}.jpg", ContentFile(content)
    )
    old = row.image.name
    if old and old != name:
        transaction.on_commit(lambda: storage.delete(old))
    return {"image": name}


kind_register(
    ArtifactKind(
        name=STYLED,
        option="styled",
        models=("style_transfer",),
        queryset=_styled_rows,
        inputs=lambda row, _: styled_inputs(product=row.product, style=row.style),
        prepare=_styled_prepare,
        infer=_styled_infer,
        pixels=image_pixels,
        decode=image_decode,
        fields=_styled_fields,
        compute_context=lambda rows: style_spec(rows[0].style),
        batch_key=lambda row: row.style_id,
        tracking=OwnState(StyledImage),
        has_output=lambda row: bool(row.image),
        lock=_styled_lock,
    )
)
