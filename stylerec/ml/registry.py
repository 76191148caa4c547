"""Load each configured model once per process, thread-safely."""

from __future__ import annotations

import threading
from typing import Any

from django.core.signals import setting_changed

from stylerec.conf import stylerec_settings

_lock = threading.Lock()
_loaded: dict[str, Any] = {}

KINDS = {
    "text": ("TEXT_ENCODER", "TEXT_ENCODER_OPTIONS"),
    "sentiment": ("SENTIMENT_MODEL", "SENTIMENT_MODEL_OPTIONS"),
    "preferences": ("PREFERENCE_EXTRACTOR", "PREFERENCE_EXTRACTOR_OPTIONS"),
    "image": ("IMAGE_ENCODER", "IMAGE_ENCODER_OPTIONS"),
    "style_scorer": ("STYLE_SCORER", "STYLE_SCORER_OPTIONS"),
    "style_transfer": ("STYLE_TRANSFER", "STYLE_TRANSFER_OPTIONS"),
}


def get(kind: str) -> Any:
    """The model instance for ``kind`` (one of KINDS), built on first use in this process."""
    model = _loaded.get(kind)
    if model is not None:
        return model
    with _lock:
        model = _loaded.get(kind)
        if model is None:
            class_setting, options_setting = KINDS[kind]
            cls = stylerec_settings.import_class(class_setting)
            model = cls(**(getattr(stylerec_settings, options_setting) or {}))
            _loaded[kind] = model
    return model


def clear() -> None:
    with _lock:
        _loaded.clear()


def _clear_on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    # Models are built from STYLEREC; when it changes (override_settings in tests) they are stale.
    if setting == "STYLEREC":
        clear()


setting_changed.connect(_clear_on_setting_changed)
