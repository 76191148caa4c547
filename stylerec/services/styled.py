"""Styled images: a product photo rendered in a style by neural style transfer.

Never every product in every style up front (a catalog of 10k products and 12 styles would be
120k transfers, most never seen). A styled image is made

* on demand: ``styled_image_for`` returns a ready image or asks a worker for one and returns None
  (the page shows the plain photo meanwhile);
* ahead of time for the best sellers only: ``styled_images_precompute(top_n=...)``;
* again when it goes stale: the product image, the style's transfer inputs, the output size or
  the transfer model changed (``input_hash``), for the ones that already exist.

Images are stored through Django's storage API at ``STYLED_IMAGE_SIZE`` (longest side), as JPEG.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import caches
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from stylerec.conf import stylerec_settings
from stylerec.ml import registry
from stylerec.models import ArtifactStatus, Style, StyledImage, get_product_model
from stylerec.services.artifacts import (
    NEEDS_WORK,
    TRANSIENT_ERRORS,
    NoInput,
    error_text,
    image_file_load,
    input_hash,
    run_isolated,
    style_spec,
)

logger = logging.getLogger(__name__)

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


def _transfer_version() -> str:
    return registry.get("style_transfer").version


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
    cache = caches[stylerec_settings.CACHE_ALIAS]
    wanted = [
        (product_id, style_id)
        for product_id, style_id in dict.fromkeys(pairs)
        if cache.add(f"stylerec:styled-request:{product_id}:{style_id}", 1, REQUEST_DEBOUNCE_SECONDS)
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
    styled_images_enqueue(ids=ids)
    return ids


def styled_images_enqueue(*, ids: Sequence[int]) -> None:
    from stylerec import tasks  # local: tasks import this module

    batch_size = int(stylerec_settings.BATCH_SIZE)
    for start in range(0, len(ids), batch_size):
        part = list(ids[start : start + batch_size])
        transaction.on_commit(lambda part=part: tasks.task_enqueue(tasks.styled_images_generate, part))


def styled_images_mark_stale(*, product_ids: Iterable[int] = (), style_ids: Iterable[int] = ()) -> list[int]:
    """Existing styled images of these products or styles are outdated: regenerate them."""
    product_ids, style_ids = list(product_ids), list(style_ids)
    if not product_ids and not style_ids:
        return []
    rows = StyledImage.objects.filter(Q(product_id__in=product_ids) | Q(style_id__in=style_ids)).exclude(
        status=ArtifactStatus.PENDING
    )
    ids = list(rows.values_list("pk", flat=True))
    StyledImage.objects.filter(pk__in=ids).update(status=ArtifactStatus.STALE, updated_at=timezone.now())
    styled_images_enqueue(ids=ids)
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
        styled_images_enqueue(ids=ids)
    return ids


def styled_images_needing_work(*, product_ids: Sequence[int] | None = None, force: bool = False) -> list[int]:
    """Existing rows that are pending, stale, without a file, or made from other inputs or by
    another version of the transfer model (failed rows only when their inputs changed)."""
    version = _transfer_version()
    rows = StyledImage.objects.select_related("product", "style").filter(style__is_active=True).order_by("pk")
    if product_ids is not None:
        rows = rows.filter(product_id__in=list(product_ids))
    found = []
    for row in rows.iterator(chunk_size=500):
        current = input_hash(inputs=styled_inputs(product=row.product, style=row.style), version=version)
        if (
            force
            or row.status in NEEDS_WORK
            or row.input_hash != current
            or (row.status == ArtifactStatus.READY and not row.image)
        ):
            found.append(row.pk)
    return found


def styled_pending_ids(*, limit: int, exclude: Iterable[int] = ()) -> list[int]:
    return list(
        StyledImage.objects.filter(status__in=NEEDS_WORK)
        .exclude(pk__in=list(exclude))
        .order_by("updated_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


@dataclass
class StyledReport:
    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)
    discarded: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "styled",
            **{name: len(getattr(self, name)) for name in ("done", "failed", "skipped", "discarded")},
        }


def styled_images_generate(
    *, ids: Sequence[int] = (), force: bool = False, fill: bool = True
) -> StyledReport:
    """Generate the given styled images (with ``fill``, topped up with other pending ones to a full
    batch); one transfer call per style and batch."""
    batch_size = int(stylerec_settings.BATCH_SIZE)
    ids = list(dict.fromkeys(ids))
    if fill and len(ids) < batch_size:
        ids += styled_pending_ids(limit=batch_size - len(ids), exclude=ids)
    report = StyledReport()
    rows = list(
        StyledImage.objects.select_related("product", "style").filter(pk__in=ids).order_by("style_id", "pk")
    )
    if not rows:
        return report
    version = _transfer_version()
    by_style: dict[int, list[StyledImage]] = {}
    for row in rows:
        current = input_hash(inputs=styled_inputs(product=row.product, style=row.style), version=version)
        up_to_date = row.input_hash == current and (
            (row.status == ArtifactStatus.READY and row.image) or row.status == ArtifactStatus.FAILED
        )
        if not force and up_to_date:
            report.skipped.append(row.pk)
        else:
            by_style.setdefault(row.style_id, []).append(row)
    for group in by_style.values():
        for start in range(0, len(group), batch_size):
            _styled_batch(rows=group[start : start + batch_size], version=version, force=force, report=report)
    return report


def _styled_batch(*, rows: list[StyledImage], version: str, force: bool, report: StyledReport) -> None:
    style = rows[0].style
    spec = style_spec(style)
    hashes = {
        row.pk: input_hash(inputs=styled_inputs(product=row.product, style=style), version=version)
        for row in rows
    }
    outcomes: dict[int, Any] = {}
    prepared: list[tuple[int, Any]] = []
    for row in rows:
        try:
            prepared.append((row.pk, image_file_load(row.product.image)))
        except NoInput:
            outcomes[row.pk] = ValueError("The product has no image to style.")
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            outcomes[row.pk] = exc
    transfer = registry.get("style_transfer")
    results = run_isolated(lambda images, s: transfer.stylize(images, s), [img for _, img in prepared], spec)
    outcomes.update({pk: result for (pk, _), result in zip(prepared, results, strict=True)})
    for row in rows:
        _styled_store(
            row=row,
            expected=hashes[row.pk],
            version=version,
            outcome=outcomes[row.pk],
            force=force,
            report=report,
        )


def _jpeg_bytes(image: Any) -> bytes:
    from stylerec.ml.images import fit_within, to_rgb

    image = fit_within(to_rgb(image), int(stylerec_settings.STYLED_IMAGE_SIZE))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def _styled_store(
    *, row: StyledImage, expected: str, version: str, outcome: Any, force: bool, report: StyledReport
) -> None:
    failed = isinstance(outcome, BaseException)
    content = None if failed else _jpeg_bytes(outcome)
    product_model = get_product_model()
    with transaction.atomic():
        # Product row first, as a save locks it: an edit in flight is waited for and then seen.
        product = product_model.objects.select_for_update().filter(pk=row.product_id).first()
        locked = StyledImage.objects.select_for_update().filter(pk=row.pk).first()
        style = Style.objects.filter(pk=row.style_id).first()
        if product is None or locked is None or style is None:
            return
        current = input_hash(inputs=styled_inputs(product=product, style=style), version=version)
        if current != expected:
            report.discarded.append(row.pk)
            return
        if (
            not force
            and locked.input_hash == current
            and locked.status == ArtifactStatus.READY
            and locked.image
        ):
            report.skipped.append(row.pk)  # another delivery stored it first
            return
        fields: dict[str, Any] = {
            "input_hash": current,
            "model_version": version[:200],
            "updated_at": timezone.now(),
        }
        if failed:
            fields.update(status=ArtifactStatus.FAILED, error=error_text(outcome))
            report.failed[row.pk] = fields["error"]
        else:
            storage = locked.image.storage
            name = storage.save(
                f"styled/{row.product_id}/{style.slug}-{current[:12]}.jpg", ContentFile(content)
            )
            fields.update(status=ArtifactStatus.READY, error="", image=name)
            old = locked.image.name
            if old and old != name:
                transaction.on_commit(lambda: storage.delete(old))
            report.done.append(row.pk)
        StyledImage.objects.filter(pk=row.pk).update(**fields)
