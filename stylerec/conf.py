"""The one settings object of stylerec.

Hosts configure stylerec with a single ``STYLEREC`` dict in their settings (plus the swappable
``STYLEREC_PRODUCT_MODEL``, which must be a top-level setting because Django's swappable machinery
reads it there). Values are read at call time through ``stylerec_settings`` and the cache is dropped
when Django's ``setting_changed`` fires, so ``override_settings`` works in tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

DEFAULT_PRODUCT_MODEL = "stylerec.Product"

DEFAULTS: dict[str, Any] = {
    # --- models (import strings; each class documents its own options) -----------------------
    "TEXT_ENCODER": "stylerec.ml.text.TransformerTextEncoder",
    "TEXT_ENCODER_OPTIONS": {},  # e.g. {"model": "intfloat/multilingual-e5-small"}
    "SENTIMENT_MODEL": "stylerec.ml.sentiment.TrainedHeadSentiment",
    "SENTIMENT_MODEL_OPTIONS": {},  # e.g. {"model": "path/or/hub-id"} for HFSequenceClassifierSentiment
    "PREFERENCE_EXTRACTOR": "stylerec.ml.preferences.LexiconPreferenceExtractor",
    "PREFERENCE_EXTRACTOR_OPTIONS": {},
    "IMAGE_ENCODER": "stylerec.ml.vision.EfficientNetImageEncoder",
    "IMAGE_ENCODER_OPTIONS": {},
    "STYLE_SCORER": "stylerec.ml.styles.PrototypeStyleScorer",
    "STYLE_SCORER_OPTIONS": {},
    "STYLE_TRANSFER": "stylerec.ml.transfer.OnnxStyleTransfer",
    "STYLE_TRANSFER_OPTIONS": {},
    # Where trained artifacts (the sentiment head) live; None -> ~/.cache/stylerec/models
    "MODEL_DIR": None,
    # "auto" picks CUDA when present, else CPU; "cpu" or "cuda" force one.
    "DEVICE": "auto",
    # --- input limits -------------------------------------------------------------------------
    "MAX_IMAGE_PIXELS": 40_000_000,  # decompression-bomb guard, also given to Pillow
    "MAX_IMAGE_BYTES": 15 * 1024 * 1024,
    # Decoded pixels per model call: a worker opens a batch's images (headers only), then decodes
    # and runs them in calls of at most this many pixels, so memory is bounded per batch and not
    # only per image (an image over the budget runs alone; 64 Mpx is about 200 MB of RGB).
    "MAX_BATCH_PIXELS": 64_000_000,
    "MAX_TEXT_CHARS": 4000,  # longer texts are truncated, never rejected
    "MAX_REVIEW_CHARS": 5000,  # what the review form and API accept
    # --- pipeline -----------------------------------------------------------------------------
    "AUTO_COMPUTE": True,  # enqueue artifact work on save
    "GPU_QUEUE": "stylerec.gpu",
    "CPU_QUEUE": "stylerec.cpu",
    "TASK_ROUTES": None,  # None -> model inference on GPU_QUEUE, the rest on CPU_QUEUE
    "BATCH_SIZE": 32,
    "STYLED_IMAGE_SIZE": 320,  # longest side of stored styled images, in pixels
    "PRECOMPUTE_STYLED_TOP_N": 50,  # best sellers whose styled images are made ahead of time
    # --- serving ------------------------------------------------------------------------------
    # URL name of the host's product page, reversed with the product's pk, for click redirects of
    # products without get_absolute_url() (the demo: "shop:product").
    "PRODUCT_URL_NAME": None,
    "DEFAULT_K": 8,
    "MAX_K": 50,
    "HNSW_EF_SEARCH": 100,
    "CACHE_TIMEOUT": 300,
    "CACHE_ALIAS": "default",
    # A view of the product a customer viewed last, within this many seconds, is a reload: it is
    # not a new event (no row, no profile refresh, cached blocks stay valid), so reloading a page
    # neither re-ranks it nor pumps the product's popularity. 0 records every view.
    "REPEAT_VIEW_SECONDS": 600,
    # The database alias serving reads from (a PostgreSQL replica); None: the default database.
    # Pool builds and every write stay on the primary (docs/ranking.md, "Candidate pools").
    "READ_DATABASE_ALIAS": None,
    # --- display ------------------------------------------------------------------------------
    # ISO 4217 code of the store's prices, and the callable (amount, currency) -> str that
    # blocks, the |stylerec_price filter and the API's price_display write prices with.
    "CURRENCY": "USD",
    "PRICE_FORMATTER": "stylerec.formatting.price_format",
    # --- privacy (docs/privacy.md) --------------------------------------------------------------
    # Raw events older than this many days are deleted by the beat task stylerec.events_prune;
    # None keeps them forever.
    "EVENT_RETENTION_DAYS": 365,
}

IMPORT_STRINGS = {
    "TEXT_ENCODER",
    "SENTIMENT_MODEL",
    "PREFERENCE_EXTRACTOR",
    "IMAGE_ENCODER",
    "STYLE_SCORER",
    "STYLE_TRANSFER",
    "PRICE_FORMATTER",
}

# A setting must have its default's type; a key whose default is None also takes the type listed
# here (a new None default without an entry fails at import, so the table cannot fall behind).
_TYPES_OF_NONE_DEFAULTS: dict[str, type] = {
    "MODEL_DIR": str,
    "PRODUCT_URL_NAME": str,
    "TASK_ROUTES": dict,
    "READ_DATABASE_ALIAS": str,
}
# Keys whose default is not None that also take None (it switches the feature off).
_NONE_ALSO_ALLOWED = frozenset({"EVENT_RETENTION_DAYS"})
SETTING_TYPES: dict[str, tuple[type, ...]] = {
    name: (type(None), _TYPES_OF_NONE_DEFAULTS[name])
    if default is None
    else (type(None), type(default))
    if name in _NONE_ALSO_ALLOWED
    else (type(default),)
    for name, default in DEFAULTS.items()
}


class StyleRecSettings:
    """Attribute access to STYLEREC settings with defaults; import strings stay strings here
    (``import_class`` resolves them) so that reading a setting never imports torch."""

    def __init__(self) -> None:
        self._cached: dict[str, Any] = {}

    @property
    def user_settings(self) -> dict[str, Any]:
        # A STYLEREC that is not a dict is reported by the system check stylerec.E007; reading
        # settings meanwhile falls back to the defaults instead of failing on every access.
        configured = getattr(settings, "STYLEREC", None)
        return configured if isinstance(configured, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in DEFAULTS:
            raise AttributeError(f"Invalid stylerec setting: {name!r}")
        if name not in self._cached:
            self._cached[name] = self.user_settings.get(name, DEFAULTS[name])
        return self._cached[name]

    @property
    def PRODUCT_MODEL(self) -> str:  # noqa: N802 - mirrors the setting's name
        return getattr(settings, "STYLEREC_PRODUCT_MODEL", DEFAULT_PRODUCT_MODEL)

    def import_class(self, name: str) -> Any:
        if name not in IMPORT_STRINGS:
            raise AttributeError(f"{name} is not an import-string setting")
        return import_string(getattr(self, name))

    def reload(self) -> None:
        self._cached.clear()


stylerec_settings = StyleRecSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    # Other holders of values built from these settings (the model registry) connect their own
    # receivers, so that this module depends on nothing else in stylerec.
    if setting in ("STYLEREC", "STYLEREC_PRODUCT_MODEL"):
        stylerec_settings.reload()


setting_changed.connect(_reload)
