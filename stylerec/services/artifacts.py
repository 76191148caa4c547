"""Artifacts: what the models compute from products, reviews and styles, stored beside them.

One engine for every kind (``KINDS``: vectors, style scores, review sentiment, and styled images,
registered by ``services.styled``). Every artifact has a state per object: an ``ArtifactState``
row (``kind``, ``object_id``), or the object's own columns for an artifact that is a row of its
own (``StyledImage``). Its ``input_hash`` hashes the inputs *and* the versions of the models that
read them, so

* work is needed when there is no row, the row is pending/stale, or the hash differs (a model was
  upgraded, a style changed): re-running a batch, a redelivered task or a second backfill does
  nothing twice;
* a result is written only if the inputs it was computed from are still the current ones, checked
  again under ``select_for_update`` just before writing, so a slow batch never overwrites the
  result of a newer edit;
* a permanent error (a corrupt image, a text the model rejects) is recorded on the row with the
  hash of the inputs that caused it, and those same inputs are not retried until they change or
  someone forces it: no retry storms.

Artifacts are written with ``QuerySet.update()``, which sends no ``post_save``: the receivers that
enqueue this work never see the pipeline's own writes.

The model layer knows no ORM; this module brings the rows to it and the arrays back.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import InterfaceError, OperationalError, connections, models, router, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from pgvector.django import VectorField

from stylerec.conf import stylerec_settings
from stylerec.db import product_table, rows_fetch
from stylerec.ml import registry
from stylerec.ml.base import ImageInputError, StyleSpec
from stylerec.ml.textutil import detect_language, normalise
from stylerec.models import ArtifactState, ArtifactStatus, Review, Style, get_product_model
from stylerec.services import queue
from stylerec.services.queue import AGGREGATES_UPDATE, ARTIFACTS_COMPUTE, PROFILE_REFRESH

logger = logging.getLogger(__name__)

# Errors worth retrying later (the database or a network blinked, a call timed out); everything
# else a model raises on an input is that input's fault and is recorded, not retried.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
)

# The product fields each artifact reads; the receivers watch exactly these.
PRODUCT_TEXT_FIELDS = ("title", "description", "category", "brand")
PRODUCT_IMAGE_FIELDS = ("image",)
REVIEW_TEXT_FIELDS = ("title", "text")
STYLE_INPUT_FIELDS = ("name", "description", "description_zh", "keywords", "reference_image", "is_active")

PRODUCT_TEXT = "product.text"
PRODUCT_IMAGE = "product.image"
PRODUCT_STYLES = "product.styles"
REVIEW = "review"
STYLE = "style"

NEEDS_WORK = (ArtifactStatus.PENDING, ArtifactStatus.STALE)


class NoInput(Exception):
    """The object has nothing for this model to read (a product without an image): its artifact
    is written empty and counts as ready."""


def input_hash(*, inputs: str, version: str) -> str:
    """The fingerprint that decides whether an artifact is up to date."""
    return hashlib.sha256(f"{version}\x00{inputs}".encode()).hexdigest()


def text_truncated(text: str) -> str:
    """Texts longer than MAX_TEXT_CHARS are cut, never rejected."""
    return text[: int(stylerec_settings.MAX_TEXT_CHARS)]


def product_text(product: Any) -> str:
    """What the text encoder reads of a product: title, brand, category, description."""
    parts = (product.title, product.brand, product.category, product.description)
    return text_truncated("\n".join(part.strip() for part in parts if part and part.strip()))


def review_text(review: Review) -> str:
    return text_truncated(
        "\n".join(part.strip() for part in (review.title, review.text) if part and part.strip())
    )


def style_text(style: Style) -> str:
    parts = (
        style.name,
        style.name_zh,
        style.description,
        style.description_zh,
        ", ".join(style.keyword_list),
    )
    return text_truncated("\n".join(part.strip() for part in parts if part and part.strip()))


def image_file_load(field_file: Any) -> Any:
    """The RGB image of an ImageField through the storage API, decoded now; ``NoInput`` when there
    is none."""
    return image_file_open(field_file).decode()


def image_file_open(field_file: Any) -> Any:
    """The image of an ImageField read and checked from its header, not decoded yet
    (``stylerec.ml.images.OpenedImage``); ``NoInput`` when there is none. The engine decodes it
    just before the model call whose pixel budget it fits (``MAX_BATCH_PIXELS``)."""
    from stylerec.ml.images import open_image

    if not field_file or not field_file.name:
        raise NoInput
    try:
        with field_file.storage.open(field_file.name, "rb") as fh:
            return open_image(fh)
    except FileNotFoundError as exc:
        raise ImageInputError(f"The image file {field_file.name!r} is missing from storage.") from exc


# --- quarantine: product photos that failed the image check are not shown ----------------------

# Why a product's photo is withheld (``images_withheld``).
IMAGE_QUARANTINED = "quarantined"  # the worker could not use this very file (bomb, truncated, not an image)
IMAGE_CHECKING = "checking"  # a new file, not checked yet: its check is queued
# Reason codes of an artifact state, safe to show anyone (the error text is for staff only).
REASON_IMAGE_TOO_LARGE = "image_too_large"
REASON_IMAGE_MISSING = "image_missing"
REASON_IMAGE_UNREADABLE = "image_unreadable"
REASON_PROCESSING_ERROR = "processing_error"
REASON_CODES = (
    REASON_IMAGE_TOO_LARGE,
    REASON_IMAGE_MISSING,
    REASON_IMAGE_UNREADABLE,
    REASON_PROCESSING_ERROR,
)
_IMAGE_ERROR = f"{ImageInputError.__name__}:"


def artifact_reason(*, status: str, error: str) -> str:
    """The public reason code of an artifact state: "" unless it failed, else one of
    ``REASON_CODES``. The error text itself may name files, limits and library internals."""
    if status != ArtifactStatus.FAILED:
        return ""
    if not error.startswith(_IMAGE_ERROR):
        return REASON_PROCESSING_ERROR
    if "missing from storage" in error:
        return REASON_IMAGE_MISSING
    if "limit" in error or "larger than" in error:
        return REASON_IMAGE_TOO_LARGE
    return REASON_IMAGE_UNREADABLE


def images_withheld(products: Iterable[Any]) -> dict[int, str]:
    """{product pk: why} for products whose photo must not be shown (blocks, the API, the demo's
    pages): ``IMAGE_QUARANTINED`` when the ``product.image`` artifact of this very file failed on
    the image itself (a decompression bomb, a truncated or corrupt file, not an image: saved through
    the shell or the admin, past the importer's checks), ``IMAGE_CHECKING`` while a new file waits
    for its first check. Photos never tracked (AUTO_COMPUTE off, saved before stylerec) are shown.
    One query, whatever the number of products; no model is loaded."""
    named = {product.pk: product.image.name for product in products if product.image}
    if not named:
        return {}
    states = ArtifactState.objects.filter(kind=PRODUCT_IMAGE, object_id__in=list(named)).values_list(
        "object_id", "status", "input_hash", "model_version", "error"
    )
    withheld: dict[int, str] = {}
    for object_id, status, digest, version, error in states:
        # The state's hash is of the file it last checked, with the model version it used then.
        this_file = digest == input_hash(inputs=named[object_id], version=version)
        if this_file and error.startswith(_IMAGE_ERROR):
            withheld[object_id] = IMAGE_QUARANTINED
        elif not this_file and status in NEEDS_WORK:
            withheld[object_id] = IMAGE_CHECKING
    return withheld


def image_pixels(image: Any) -> int:
    """Pixels that decoding ``image`` (an opened image, a PIL image or None) will cost."""
    from stylerec.ml.images import image_pixels as pixels

    return pixels(image)


def image_decode(image: Any) -> Any:
    """An opened image decoded to RGB (None stays None)."""
    from stylerec.ml.images import decode_image

    return None if image is None else decode_image(image)


def review_language(text: str) -> str:
    """The language a review is stored in: the one the sentiment model reads it in
    (``textutil.detect_language`` of the normalised text, the model layer's single rule); '' for
    a text with nothing to read, which the model scores as neutral without picking a language."""
    cleaned = normalise(text)
    return detect_language(cleaned) if cleaned else ""


def style_spec(style: Style, *, with_image: bool = True) -> StyleSpec:
    """What the model layer needs of a Style row. A broken reference image is left out (the style
    still works from its words) rather than failing every product."""
    image = None
    if with_image and style.reference_image:
        try:
            image = image_file_load(style.reference_image)
        except (ImageInputError, NoInput) as exc:
            logger.warning("Style %s: reference image unusable (%s); using its words only", style.slug, exc)
    return StyleSpec(
        slug=style.slug,
        name=style.name,
        description="\n".join(p for p in (style.description, style.description_zh) if p),
        keywords=tuple(style.keyword_list),
        reference_image=image,
        transfer_preset=style.transfer_preset,
        strength=style.transfer_strength,
        preserve_color=style.preserve_color,
    )


def styles_signature() -> str:
    """The active styles' inputs, cheaply: part of every hash that depends on the vocabulary."""
    rows = (
        Style.objects.filter(is_active=True)
        .order_by("slug")
        .values_list(
            "slug", "name", "name_zh", "description", "description_zh", "keywords", "reference_image"
        )
    )
    return "\x1e".join("\x1f".join(str(value) for value in row) for row in rows)


# --- the kinds --------------------------------------------------------------------------------


class StateTable:
    """Where most artifacts keep their state: one ``ArtifactState`` row per (kind, object id), for
    artifacts stored as columns of the object itself (vectors on a product, sentiment on a review)."""

    model: type[models.Model] = ArtifactState
    id_field = "object_id"
    fields: tuple[str, ...] = ("status", "input_hash", "model_version", "error", "attempts", "updated_at")

    def queryset(self, kind: str) -> models.QuerySet:
        return ArtifactState.objects.filter(kind=kind)

    def states(self, kind: str, rows: dict[int, Any], *, lock: bool = False) -> dict[int, Any]:
        queryset = self.queryset(kind).filter(object_id__in=list(rows))
        if lock:
            queryset = queryset.select_for_update().order_by("pk")
        return {state.object_id: state for state in queryset}

    def mark(self, kind: str, ids: list[int], status: str) -> None:
        """Upsert, one statement."""
        now = timezone.now()
        ArtifactState.objects.bulk_create(
            [ArtifactState(kind=kind, object_id=pk, status=status, updated_at=now) for pk in ids],
            update_conflicts=True,
            unique_fields=["kind", "object_id"],
            update_fields=["status", "updated_at"],
        )

    def ensure(self, kind: str, ids: list[int]) -> None:
        ArtifactState.objects.bulk_create(
            [ArtifactState(kind=kind, object_id=pk) for pk in ids], ignore_conflicts=True
        )

    def drop(self, kind: str, ids: list[int]) -> None:
        ArtifactState.objects.filter(kind=kind, object_id__in=ids).delete()


class OwnState(StateTable):
    """For an artifact that is a row of its own and carries its state in its own columns
    (``StyledImage``: status, hash, version and error beside the image file)."""

    id_field = "pk"
    fields = ("status", "input_hash", "model_version", "error", "updated_at")

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model

    def queryset(self, kind: str) -> models.QuerySet:
        return self.model._default_manager.all()

    def states(self, kind: str, rows: dict[int, Any], *, lock: bool = False) -> dict[int, Any]:
        return dict(rows)  # the row is its own state (and ``rows`` are locked when ``lock`` is)

    def mark(self, kind: str, ids: list[int], status: str) -> None:
        self.model._default_manager.filter(pk__in=ids).update(status=status, updated_at=timezone.now())

    def ensure(self, kind: str, ids: list[int]) -> None:
        pass

    def drop(self, kind: str, ids: list[int]) -> None:
        pass  # a deleted row takes its state with it


STATE_TABLE = StateTable()


@dataclass(frozen=True)
class ArtifactKind:
    """How one artifact is computed. ``prepare`` turns a row into a model input (per item, may
    raise for that item alone), ``infer`` runs the models on a whole batch, ``fields`` maps one
    result to the columns written (it may store a file; None: no input, or the item failed)."""

    name: str
    option: str  # its name on the command line (stylerec_backfill --kind)
    models: tuple[str, ...]  # registry kinds whose versions enter the hash
    queryset: Callable[[], QuerySet]  # QuerySet: "models" is a field of this class
    inputs: Callable[[Any, str], str]  # (row, hash context) -> the inputs, as text
    prepare: Callable[[Any, Any], Any]  # (row, compute context) -> model input
    infer: Callable[[list[Any], Any], list[Any]]  # (inputs, compute context) -> results
    fields: Callable[[Any, Any, str], dict[str, Any]]  # (result or None, row, input hash) -> columns
    hash_context: Callable[[], str] = lambda: ""
    compute_context: Callable[[list[Any]], Any] = lambda rows: None  # (a batch's rows) -> context
    input_fields: tuple[str, ...] = ()  # load only these columns (products carry big vectors)
    # Rows with different keys never share a model call (styled images: one call per style).
    batch_key: Callable[[Any], Any] = lambda row: None
    tracking: StateTable = STATE_TABLE
    # A ready artifact whose output went missing (a styled image without its file) is redone.
    has_output: Callable[[Any], bool] = lambda row: True
    # (ids) -> {pk: row}, locked in the order a save locks them; default: the rows, by pk.
    lock: Callable[[list[int]], dict[int, Any]] | None = None
    # Inputs with images are prepared opened, not decoded: ``pixels`` is what decoding an input
    # will cost (from the image headers) and ``decode`` decodes it, just before the model call whose
    # MAX_BATCH_PIXELS budget it fits (``pixel_batches``).
    pixels: Callable[[Any], int] = lambda item: 0
    decode: Callable[[Any], Any] = lambda item: item

    def version(self) -> str:
        return "+".join(registry.get(kind).version for kind in self.models)

    def rows(self) -> QuerySet:
        queryset = self.queryset()
        return queryset.only(*self.input_fields) if self.input_fields else queryset

    def locked_rows(self, ids: list[int]) -> dict[int, Any]:
        if self.lock is not None:
            return self.lock(ids)
        return {row.pk: row for row in self.rows().select_for_update().filter(pk__in=ids).order_by("pk")}


def _vectors(array: Any) -> list[Any]:
    return [row for row in array]


def _infer_text(texts: list[str], ctx: Any) -> list[Any]:
    return _vectors(registry.get("text").encode(texts))


def _infer_image(images: list[Any], ctx: Any) -> list[Any]:
    return _vectors(registry.get("image").encode(images))


@dataclass
class ProductStylesContext:
    styles: list[StyleSpec]
    # product id -> (image vector, text vector) as stored, for products whose stored vectors are
    # current (their text and image artifacts are ready for today's inputs and model versions)
    stored: dict[int, tuple[Any, Any]]


@dataclass
class ProductStylesInput:
    image: Any  # a loaded image, or None (no image, or its stored vector is used)
    text: str
    vectors: tuple[Any, Any] | None  # (image vector, text vector) reused from the product row


def _product_styles_context(rows: list[Any]) -> ProductStylesContext:
    """The active styles, and the stored vectors the scorer may reuse: encoding every photo again
    was about a third of a fresh catalog's set-up."""
    styles = _active_style_specs()
    scorer = registry.get("style_scorer")
    if not styles or not rows or not getattr(scorer, "reads_stored_vectors", False):
        return ProductStylesContext(styles, {})
    return ProductStylesContext(styles, _current_product_vectors(rows))


def _current_product_vectors(products: list[Any]) -> dict[int, tuple[Any, Any]]:
    ids = [product.pk for product in products]
    expected = {
        (kind, product.pk): input_hash(inputs=KINDS[kind].inputs(product, ""), version=KINDS[kind].version())
        for kind in (PRODUCT_TEXT, PRODUCT_IMAGE)
        for product in products
    }
    ready = ArtifactState.objects.filter(
        kind__in=(PRODUCT_TEXT, PRODUCT_IMAGE), object_id__in=ids, status=ArtifactStatus.READY
    ).values_list("kind", "object_id", "input_hash")
    current = {
        (kind, object_id) for kind, object_id, digest in ready if expected.get((kind, object_id)) == digest
    }
    table, pk = product_table()
    rows = rows_fetch(
        f"SELECT {pk}, image_embedding, text_embedding FROM {table} WHERE {pk} = ANY(%s)", [ids]
    )
    return {
        product_id: (image_vector, text_vector)
        for product_id, image_vector, text_vector in rows
        if (PRODUCT_IMAGE, product_id) in current and (PRODUCT_TEXT, product_id) in current
    }


def _prepare_product_styles(product: Any, ctx: ProductStylesContext) -> ProductStylesInput:
    text = product_text(product)
    stored = ctx.stored.get(product.pk)
    if stored is not None:
        return ProductStylesInput(image=None, text=text, vectors=stored)
    try:
        image = image_file_open(product.image)  # decoded by ``decode`` just before the model call
    except NoInput:
        image = None  # scored from its words alone
    return ProductStylesInput(image=image, text=text, vectors=None)


def _decode_product_styles(item: ProductStylesInput) -> ProductStylesInput:
    return item if item.image is None else replace(item, image=image_decode(item.image))


def _infer_product_styles(
    items: list[ProductStylesInput], ctx: ProductStylesContext
) -> list[dict[str, float]]:
    if not ctx.styles:
        return [{} for _ in items]
    scorer = registry.get("style_scorer")
    if not getattr(scorer, "reads_stored_vectors", False):
        return scorer.score([item.image for item in items], [item.text for item in items], ctx.styles)
    fresh = [item for item in items if item.vectors is None]
    encoded = iter(zip(*scorer.encode([i.image for i in fresh], [i.text for i in fresh]), strict=True))
    vectors = [item.vectors if item.vectors is not None else next(encoded) for item in items]
    return scorer.score_vectors([v[0] for v in vectors], [v[1] for v in vectors], ctx.styles)


def _infer_reviews(texts: list[str], styles: list[StyleSpec]) -> list[dict[str, Any]]:
    sentiments = registry.get("sentiment").predict(texts)
    mentions = registry.get("preferences").extract(texts, styles)
    vectors = registry.get("text").encode(texts)
    return [
        {
            "language": review_language(text),
            "sentiment_score": float(sentiment.score),
            "sentiment_label": sentiment.label,
            "sentiment_confidence": float(sentiment.confidence),
            "preferences": [{"kind": m.kind, "key": m.key, "polarity": int(m.polarity)} for m in found],
            "text_embedding": vector,
        }
        for text, sentiment, found, vector in zip(texts, sentiments, mentions, vectors, strict=True)
    ]


def _prepare_style(style: Style, ctx: Any) -> tuple[str, Any]:
    try:
        image = image_file_open(style.reference_image)
    except NoInput:
        image = None
    return style_text(style), image


def _infer_styles(items: list[tuple[str, Any]], ctx: Any) -> list[tuple[Any, Any]]:
    texts = registry.get("text").encode([text for text, _ in items])
    with_image = [i for i, (_, image) in enumerate(items) if image is not None]
    prototypes: dict[int, Any] = {}
    if with_image:
        encoded = registry.get("image").encode([items[i][1] for i in with_image])
        prototypes = dict(zip(with_image, encoded, strict=True))
    return [(texts[i], prototypes.get(i)) for i in range(len(items))]


def _active_style_specs() -> list[StyleSpec]:
    return [style_spec(style) for style in Style.objects.filter(is_active=True).order_by("slug")]


def _active_style_specs_words() -> list[StyleSpec]:
    return [
        style_spec(style, with_image=False) for style in Style.objects.filter(is_active=True).order_by("slug")
    ]


def _image_name(field_file: Any) -> str:
    # Django's storages never overwrite: a replaced image gets a new name, so the name identifies
    # the content without reading the file on every check.
    return field_file.name if field_file else ""


# Every product artifact reads product rows, and only their input columns.
_PRODUCT_ROWS: dict[str, Any] = {
    "queryset": lambda: get_product_model().objects.all(),
    "input_fields": PRODUCT_TEXT_FIELDS + PRODUCT_IMAGE_FIELDS,
}

KINDS: dict[str, ArtifactKind] = {
    kind.name: kind
    for kind in (
        ArtifactKind(
            name=STYLE,
            option="style",
            models=("text", "image"),
            queryset=lambda: Style.objects.all(),
            inputs=lambda style, _: f"{style_text(style)}\x00{_image_name(style.reference_image)}",
            prepare=_prepare_style,
            infer=_infer_styles,
            pixels=lambda item: image_pixels(item[1]),
            decode=lambda item: (item[0], image_decode(item[1])),
            fields=lambda r, *_: (
                {"text_embedding": r[0], "image_prototype": r[1]}
                if r
                else {"text_embedding": None, "image_prototype": None}
            ),
        ),
        ArtifactKind(
            name=PRODUCT_TEXT,
            option="product_text",
            models=("text",),
            **_PRODUCT_ROWS,
            inputs=lambda product, _: product_text(product),
            prepare=lambda product, _: product_text(product),
            infer=_infer_text,
            fields=lambda vector, *_: {"text_embedding": vector},
        ),
        ArtifactKind(
            name=PRODUCT_IMAGE,
            option="product_image",
            models=("image",),
            **_PRODUCT_ROWS,
            inputs=lambda product, _: _image_name(product.image),
            prepare=lambda product, _: image_file_open(product.image),
            infer=_infer_image,
            pixels=image_pixels,
            decode=image_decode,
            fields=lambda vector, *_: {"image_embedding": vector},
        ),
        ArtifactKind(
            name=PRODUCT_STYLES,
            option="product_styles",
            models=("style_scorer",),
            **_PRODUCT_ROWS,
            inputs=lambda product, styles: (
                f"{product_text(product)}\x00{_image_name(product.image)}\x00{styles}"
            ),
            prepare=_prepare_product_styles,
            infer=_infer_product_styles,
            pixels=lambda item: image_pixels(item.image),
            decode=_decode_product_styles,
            fields=lambda scores, *_: {
                "style_scores": {k: round(float(v), 4) for k, v in (scores or {}).items()}
            },
            hash_context=styles_signature,
            compute_context=_product_styles_context,
        ),
        ArtifactKind(
            name=REVIEW,
            option="review",
            models=("sentiment", "preferences", "text"),
            queryset=lambda: Review.objects.all(),
            inputs=lambda review, styles: f"{review_text(review)}\x00{styles}",
            prepare=lambda review, _: review_text(review),
            infer=_infer_reviews,
            fields=lambda r, *_: (
                r
                or {
                    "language": "",
                    "sentiment_score": None,
                    "sentiment_label": "",
                    "sentiment_confidence": None,
                    "preferences": [],
                    "text_embedding": None,
                }
            ),
            hash_context=styles_signature,
            compute_context=lambda rows: _active_style_specs_words(),
        ),
    )
}
KIND_BY_OPTION = {kind.option: kind for kind in KINDS.values()}
PRODUCT_KINDS = (PRODUCT_TEXT, PRODUCT_IMAGE, PRODUCT_STYLES)
# Styled images are one more kind, registered by ``stylerec.services.styled`` (which this module
# cannot import: it builds on it). ``stylerec.tasks`` imports it, and ``StyleRecConfig.ready()``
# imports the tasks, so every process has it.
STYLED = "styled"


def kind_register(kind: ArtifactKind) -> None:
    KINDS[kind.name] = kind
    KIND_BY_OPTION[kind.option] = kind


# --- state bookkeeping ------------------------------------------------------------------------


def artifacts_mark(*, kind: str, ids: Iterable[int], status: str = ArtifactStatus.PENDING) -> int:
    """Mark these objects' artifact as needing work."""
    ids = sorted(set(ids))
    if ids:
        KINDS[kind].tracking.mark(kind, ids, status)
    return len(ids)


def artifacts_enqueue(*, kind: str, ids: Sequence[int], force: bool = False) -> None:
    """Send batches of ``ids`` (marked pending by the caller) to a worker once the transaction
    commits."""
    batch_size = int(stylerec_settings.BATCH_SIZE)
    ids = list(ids)
    for start in range(0, len(ids), batch_size):
        args = (kind, ids[start : start + batch_size], *((True,) if force else ()))
        queue.task_enqueue_on_commit(ARTIFACTS_COMPUTE, *args)


def artifacts_request(*, kind: str, ids: Sequence[int]) -> None:
    """Mark pending now (in the caller's transaction: it survives a broker outage) and enqueue
    after commit."""
    artifacts_mark(kind=kind, ids=ids)
    artifacts_enqueue(kind=kind, ids=ids)


def artifacts_recompute(*, kind: str, ids: list[int]) -> int:
    """Mark pending with a blank hash (so even up-to-date or failed ones are redone) and enqueue
    a forced computation after commit."""
    tracking = KINDS[kind].tracking
    artifacts_mark(kind=kind, ids=ids)
    tracking.queryset(kind).filter(**{f"{tracking.id_field}__in": ids}).update(input_hash="")
    artifacts_enqueue(kind=kind, ids=ids, force=True)
    return len(ids)


def artifacts_mark_stale(*, kind: str) -> int:
    """Every computed artifact of ``kind`` is outdated (e.g. the style vocabulary changed); rows
    still pending stay pending."""
    return (
        KINDS[kind]
        .tracking.queryset(kind)
        .exclude(status=ArtifactStatus.PENDING)
        .update(status=ArtifactStatus.STALE, updated_at=timezone.now())
    )


def artifacts_forget(*, kinds: Sequence[str], object_id: int) -> None:
    """Drop the bookkeeping of a deleted object (ArtifactState has no foreign key)."""
    ArtifactState.objects.filter(kind__in=kinds, object_id=object_id).delete()


def artifacts_waiting(*, kind: str) -> models.QuerySet:
    """The pending or stale states of ``kind``."""
    return KINDS[kind].tracking.queryset(kind).filter(status__in=NEEDS_WORK)


def artifacts_pending_ids(*, kind: str, limit: int, exclude: Iterable[int] = ()) -> list[int]:
    """The oldest pending or stale ids of ``kind``: how a task fills its batch."""
    id_field = KINDS[kind].tracking.id_field
    return list(
        artifacts_waiting(kind=kind)
        .exclude(**{f"{id_field}__in": list(exclude)})
        .order_by("updated_at", id_field)
        .values_list(id_field, flat=True)[:limit]
    )


def artifacts_sweep(*, max_tasks: int = 200) -> int:
    """Send again what never made it to the broker (Redis was down when it was asked for): batches
    for the artifacts left pending or stale, every kind (at most ``max_tasks``), and the other
    tasks that could not be sent, profile refreshes and aggregate updates among them
    (``PendingTask`` rows, at most ``max_tasks`` more). The number of tasks sent."""
    batch_size = int(stylerec_settings.BATCH_SIZE)
    sent = 0
    for kind in KINDS:
        waiting = artifacts_waiting(kind=kind).count()
        for _ in range(min(-(-waiting // batch_size), max_tasks - sent)):
            sent += queue.task_enqueue(ARTIFACTS_COMPUTE, kind, [])
    return sent + queue.pending_tasks_send(limit=max_tasks)


def _needs_work(spec: ArtifactKind, row: Any, state: Any, current_hash: str) -> bool:
    if state is None or state.status in NEEDS_WORK:
        return True
    if state.input_hash != current_hash:
        return True  # ready or failed, for other inputs or another model
    return state.status == ArtifactStatus.READY and not spec.has_output(row)


def artifacts_needing_work(
    *,
    kind: str,
    force: bool = False,
    limit: int | None = None,
    ids: Sequence[int] | None = None,
    where: Q | None = None,
    chunk: int = 1000,
) -> list[int]:
    """Ids (of all objects, or of ``ids``, or of those matching ``where``) whose artifact is
    missing, pending, stale, or made from other inputs/models (backfill)."""
    spec = KINDS[kind]
    version = spec.version()
    ctx = spec.hash_context()
    queryset = spec.rows() if ids is None else spec.rows().filter(pk__in=list(ids))
    if where is not None:
        queryset = queryset.filter(where)
    found: list[int] = []
    last_pk = 0
    while limit is None or len(found) < limit:
        rows = list(queryset.filter(pk__gt=last_pk).order_by("pk")[:chunk])
        if not rows:
            break
        last_pk = rows[-1].pk
        states = spec.tracking.states(kind, {row.pk: row for row in rows})
        for row in rows:
            current = input_hash(inputs=spec.inputs(row, ctx), version=version)
            if force or _needs_work(spec, row, states.get(row.pk), current):
                found.append(row.pk)
    return found[:limit] if limit is not None else found


# --- computing --------------------------------------------------------------------------------


@dataclass
class ComputeReport:
    kind: str
    done: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: list[int] = field(default_factory=list)  # already up to date
    discarded: list[int] = field(default_factory=list)  # inputs changed while computing: a newer task has it

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "done": len(self.done),
            "failed": len(self.failed),
            "skipped": len(self.skipped),
            "discarded": len(self.discarded),
        }


def run_isolated(infer: Callable[[list[Any], Any], list[Any]], inputs: list[Any], ctx: Any) -> list[Any]:
    """``infer`` on the whole batch; if it fails on a bad item, each item alone, so one bad image
    fails one product and the rest of the batch completes. Transient errors propagate (retry)."""
    if not inputs:
        return []
    try:
        results = list(infer(inputs, ctx))
        if len(results) != len(inputs):
            raise ValueError(f"the model returned {len(results)} results for {len(inputs)} inputs")
        return results
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        if len(inputs) == 1:
            return [exc]
        logger.info(
            "Batch of %d failed (%s); retrying item by item to isolate the bad input", len(inputs), exc
        )
        return [result for item in inputs for result in run_isolated(infer, [item], ctx)]


def pixel_batches(
    items: list[tuple[int, Any]], pixels: Callable[[Any], int], budget: int
) -> Iterator[list[tuple[int, Any]]]:
    """``items`` in order, cut into model calls that decode at most ``budget`` pixels each (the
    ``MAX_BATCH_PIXELS`` setting): a batch size alone does not bound memory when one PNG of a few
    kilobytes decodes to 40 megapixels. An item over the budget on its own is a call of its own."""
    part: list[tuple[int, Any]] = []
    total = 0
    for entry in items:
        cost = max(0, int(pixels(entry[1])))
        if part and total + cost > budget:
            yield part
            part, total = [], 0
        part.append(entry)
        total += cost
    if part:
        yield part


def detached(outcome: Any) -> Any:
    """An exception kept as an item's outcome, without its tracebacks (and theirs of its causes):
    their frames hold the call's decoded images, which must be freed with the call, not when the
    batch's outcomes are stored. Anything else is returned as it is."""
    if isinstance(outcome, BaseException):
        seen: set[int] = set()
        current: BaseException | None = outcome
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            current.__traceback__ = None
            current = current.__cause__ or current.__context__
    return outcome


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def artifacts_compute(*, kind: str, ids: Sequence[int], force: bool = False) -> ComputeReport:
    """Compute ``kind`` for the objects ``ids`` (one model call per ``batch_key``: a single call for
    most kinds, cut further where its images would decode to more than ``MAX_BATCH_PIXELS``) and
    store what is still current."""
    spec = KINDS[kind]
    report = ComputeReport(kind=kind)
    ids = sorted(set(ids))
    if not ids:
        return report
    version = spec.version()
    ctx = spec.hash_context()
    rows = {row.pk: row for row in spec.rows().filter(pk__in=ids)}
    gone = [pk for pk in ids if pk not in rows]
    if gone:  # deleted since it was enqueued: nothing to compute, no bookkeeping to keep
        spec.tracking.drop(kind, gone)
    states = spec.tracking.states(kind, rows)
    hashes = {pk: input_hash(inputs=spec.inputs(row, ctx), version=version) for pk, row in rows.items()}
    todo = [pk for pk in rows if force or _needs_work(spec, rows[pk], states.get(pk), hashes[pk])]
    report.skipped = [pk for pk in rows if pk not in todo]
    if not todo:
        return report

    batches: dict[Any, list[int]] = {}
    for pk in todo:
        batches.setdefault(spec.batch_key(rows[pk]), []).append(pk)
    outcomes: dict[int, Any] = {}
    for batch in batches.values():
        compute_ctx = spec.compute_context([rows[pk] for pk in batch])
        prepared: list[tuple[int, Any]] = []
        for pk in batch:
            try:
                prepared.append((pk, spec.prepare(rows[pk], compute_ctx)))
            except NoInput:
                outcomes[pk] = None
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:  # this item's input is unusable; the others go on
                outcomes[pk] = detached(exc)
        for part in pixel_batches(prepared, spec.pixels, int(stylerec_settings.MAX_BATCH_PIXELS)):
            # Decoded here, one part at a time: a part's images are freed before the next is decoded.
            decoded: list[tuple[int, Any]] = []
            for pk, item in part:
                try:
                    decoded.append((pk, spec.decode(item)))
                except TRANSIENT_ERRORS:
                    raise
                except Exception as exc:  # truncated or corrupt: this item fails, the others go on
                    outcomes[pk] = detached(exc)
            results = run_isolated(spec.infer, [item for _, item in decoded], compute_ctx)
            outcomes.update({pk: detached(result) for (pk, _), result in zip(decoded, results, strict=True)})
            del decoded, results
    _outcomes_store(spec=spec, version=version, hashes=hashes, outcomes=outcomes, force=force, report=report)
    return report


def _outcomes_store(
    *,
    spec: ArtifactKind,
    version: str,
    hashes: dict[int, str],
    outcomes: dict[int, Any],
    force: bool,
    report: ComputeReport,
) -> None:
    ids = sorted(outcomes)
    tracking = spec.tracking
    tracking.ensure(spec.name, ids)
    now = timezone.now()
    written_rows, written_states, columns = [], [], {}
    with transaction.atomic():
        # Lock order matches a save (object row, then its state row), so the two never deadlock;
        # a save in flight makes us wait and then see its new inputs.
        locked = spec.locked_rows(ids)
        states = tracking.states(spec.name, locked, lock=True)
        ctx = spec.hash_context()  # read after the locks: a style change committed meanwhile counts
        for pk in ids:
            row, state = locked.get(pk), states.get(pk)
            if row is None or state is None:
                continue
            current = input_hash(inputs=spec.inputs(row, ctx), version=version)
            if current != hashes[pk]:
                report.discarded.append(pk)  # the newer inputs have their own pending task
                continue
            if (
                not force
                and state.status == ArtifactStatus.READY
                and state.input_hash == current
                and spec.has_output(row)
            ):
                report.skipped.append(pk)  # another delivery stored it first
                continue
            outcome = outcomes[pk]
            failed = isinstance(outcome, BaseException)
            values = spec.fields(None if failed else outcome, row, current)
            for name, value in values.items():
                setattr(row, name, value)
            columns.update(dict.fromkeys(values))
            state.status = ArtifactStatus.FAILED if failed else ArtifactStatus.READY
            state.input_hash, state.model_version, state.updated_at = current, version[:200], now
            state.error = error_text(outcome) if failed else ""
            if "attempts" in tracking.fields:
                state.attempts += 1  # the row is locked: no lost update
            written_rows.append(row)
            written_states.append(state)
            if failed:
                report.failed[pk] = state.error
                logger.warning("%s #%s failed: %s", spec.name, pk, state.error)
            else:
                report.done.append(pk)
        rows_update(model=spec.queryset().model, rows=written_rows, fields=list(columns))
        rows_update(model=tracking.model, rows=written_states, fields=list(tracking.fields))


def rows_update(*, model: type[models.Model], rows: list[Any], fields: list[str]) -> None:
    """Write ``fields`` of ``rows`` in one round trip (psycopg pipelines ``executemany``).

    Like ``QuerySet.update()`` it sends no signals; unlike ``bulk_update`` it builds no CASE
    expression per row, which on a batch of vectors costs more than the model (see the benchmark)."""
    if not rows or not fields:
        return
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    meta = model._meta
    columns: list[models.Field] = []
    assignments = []
    for name in fields:
        f = meta.get_field(name)
        # Callers name concrete columns: never a reverse relation or a many-to-many field.
        assert isinstance(f, models.Field) and f.column is not None, f"{name} is not a column"
        columns.append(f)
        assignments.append(f"{quote(f.column)} = %s")
    pk_column = meta.pk.column
    assert pk_column is not None, "a concrete model's primary key always has a database column"
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        quote(meta.db_table), ", ".join(assignments), quote(pk_column)
    )
    # Vectors go in pgvector's binary format: formatting 384 floats as text costs about a
    # millisecond per row, as much as PostgreSQL needs to store the row and update its index.
    params = [
        [
            _vector_param(getattr(row, f.attname))
            if isinstance(f, VectorField)
            else f.get_db_prep_save(getattr(row, f.attname), connection)
            for f in columns
        ]
        + [row.pk]
        for row in rows
    ]
    from stylerec.db import vector_cursor

    with vector_cursor() as cursor:
        cursor.executemany(sql, params)


def _vector_param(value: Any) -> Any:
    import numpy as np

    return None if value is None else np.asarray(value, dtype=np.float32)


def artifacts_compute_pending(
    *, kind: str, ids: Sequence[int] = (), force: bool = False, fill: bool = True
) -> ComputeReport:
    """What a task does: the given ids plus (with ``fill``) the oldest other pending ones of the
    kind, in batches of BATCH_SIZE, so a GPU worker sees full batches even when saves arrive one
    at a time."""
    batch_size = int(stylerec_settings.BATCH_SIZE)
    ids = list(dict.fromkeys(ids))
    if fill and len(ids) < batch_size:
        ids += artifacts_pending_ids(kind=kind, limit=batch_size - len(ids), exclude=ids)
    total = ComputeReport(kind=kind)
    for start in range(0, len(ids), batch_size):
        part = artifacts_compute(kind=kind, ids=ids[start : start + batch_size], force=force)
        total.done += part.done
        total.failed.update(part.failed)
        total.skipped += part.skipped
        total.discarded += part.discarded
    return total


def reviews_follow_up(*, review_ids: Sequence[int]) -> None:
    """New review artifacts change their products' aggregates and their authors' profiles."""
    rows = Review.objects.filter(pk__in=list(review_ids)).values_list("product_id", "user_id")
    product_ids = sorted({product_id for product_id, _ in rows})
    if product_ids:
        queue.task_enqueue(AGGREGATES_UPDATE, product_ids)
    for user_id in sorted({user_id for _, user_id in rows if user_id is not None}):
        queue.task_enqueue(PROFILE_REFRESH, user_id, "")
