"""Importing a store's catalog (CSV or JSON lines) into the product model.

Each row is validated in full (fields, then the image is read and checked) before anything is
written; a row is written inside its own transaction together with its image file, and the file
is deleted again if the row fails, so a bad row leaves nothing half-written behind. With
``strict=True`` the whole file is one transaction: any bad row and nothing is imported."""

from __future__ import annotations

import csv
import io
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from stylerec.conf import stylerec_settings
from stylerec.models import get_product_model

REQUIRED = ("title", "category", "price")
URL_TIMEOUT_S = 10


class RowError(ValueError):
    """A row that cannot be imported; the message says why in words a shop owner understands."""


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _ValidRow:
    line: int
    fields: dict[str, Any]
    image_name: str | None
    image_bytes: bytes | None


def catalog_import(*, path: Path, images_dir: Path | None = None, strict: bool = False) -> ImportReport:
    """Import ``path`` (``.csv`` or ``.jsonl``/``.json``); rows with a ``sku`` update that product."""
    path = Path(path)
    images_dir = Path(images_dir) if images_dir else path.parent
    report = ImportReport()
    valid: list[_ValidRow] = []
    for line, raw in _read_rows(path, report):
        try:
            valid.append(_validate(line, raw, images_dir))
        except RowError as exc:
            report.errors.append((line, str(exc)))
    if strict and report.errors:
        return report
    if strict:
        with transaction.atomic():
            for row in valid:
                _write(row, report)
        return report
    for row in valid:
        try:
            _write(row, report)
        except Exception as exc:  # a database error on one row never stops the others
            report.errors.append((row.line, f"could not be saved: {exc}"))
    report.errors.sort()
    return report


def _read_rows(path: Path, report: ImportReport) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [name for name in REQUIRED if name not in (reader.fieldnames or [])]
            if missing:
                report.errors.append((1, f"the header lacks the column(s) {', '.join(missing)}"))
                return
            for row in reader:
                yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}
    elif suffix in (".jsonl", ".json", ".ndjson"):
        with path.open(encoding="utf-8") as fh:
            for line, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as exc:
                    report.errors.append((line, f"is not valid JSON ({exc.msg})"))
                    continue
                if not isinstance(row, dict):
                    report.errors.append((line, "is not a JSON object"))
                    continue
                yield line, row
    else:
        raise ValueError(f"Unsupported catalog format {suffix!r}: use .csv or .jsonl")


def _validate(line: int, raw: dict[str, Any], images_dir: Path) -> _ValidRow:
    missing = [name for name in REQUIRED if not str(raw.get(name) or "").strip()]
    if missing:
        raise RowError(f"missing required field(s): {', '.join(missing)}")
    try:
        price = Decimal(str(raw["price"]).replace(",", "").strip())
    except InvalidOperation:
        raise RowError(f"price {raw['price']!r} is not a number") from None
    if not price.is_finite() or price < 0 or price >= Decimal("1e8"):
        raise RowError(f"price {raw['price']!r} must be a non-negative amount")
    stock_raw = "" if raw.get("stock") is None else str(raw["stock"]).strip()
    if stock_raw and not stock_raw.isdigit():
        raise RowError(f"stock {stock_raw!r} is not a whole number ≥ 0")
    fields = {
        "sku": str(raw.get("sku") or "").strip()[:64],
        "title": str(raw["title"]).strip()[:255],
        "description": str(raw.get("description") or "").strip(),
        "category": str(raw["category"]).strip()[:100],
        "brand": str(raw.get("brand") or "").strip()[:100],
        "price": price.quantize(Decimal("0.01")),
    }
    if stock_raw:  # no stock given: a new product's is not tracked (None, shown), an update keeps its own
        fields["stock"] = int(stock_raw)
    image_ref = str(raw.get("image") or "").strip()
    if not image_ref:
        return _ValidRow(line, fields, None, None)
    data = _fetch_image(image_ref, images_dir)
    from stylerec.ml.base import ImageInputError
    from stylerec.ml.images import load_image

    try:
        load_image(data)  # decodes fully: corrupt, truncated and oversized images stop here
    except ImageInputError as exc:
        raise RowError(f"image {image_ref!r}: {exc}") from None
    name = Path(urllib.parse.urlparse(image_ref).path).name or "image"
    return _ValidRow(line, fields, name, data)


def _fetch_image(ref: str, images_dir: Path) -> bytes:
    """The bytes of a row's image: an http(s) URL, or a file inside ``images_dir``. Nothing else:
    not ``file://`` or other URL schemes, not ``../`` or absolute paths (or links) leading out of
    the folder, which would copy any file the server can read into the media folder."""
    limit = stylerec_settings.MAX_IMAGE_BYTES
    scheme = urllib.parse.urlparse(ref).scheme.lower()
    try:
        if scheme in ("http", "https"):
            with _http_opener().open(ref, timeout=URL_TIMEOUT_S) as response:
                data = response.read(limit + 1)
        elif scheme and not _is_windows_drive(ref):
            raise RowError(
                f"image {ref!r}: only http(s) URLs and files inside the images folder are accepted, "
                f"not {scheme}: URLs"
            )
        else:
            candidate = _inside(images_dir, ref)
            if not candidate.is_file():
                raise RowError(f"image file {ref!r} was not found in {images_dir}")
            with candidate.open("rb") as fh:
                data = fh.read(limit + 1)
    except RowError:
        raise
    except (OSError, ValueError) as exc:
        raise RowError(f"image {ref!r} could not be read: {exc}") from None
    if len(data) > limit:
        raise RowError(f"image {ref!r} is larger than {limit // (1024 * 1024)} MiB")
    return data


def _is_windows_drive(ref: str) -> bool:
    return len(ref) > 1 and ref[1] == ":" and ref[0].isalpha()  # "C:\\photos\\a.jpg": a path, not a URL


def _inside(images_dir: Path, ref: str) -> Path:
    """``ref`` resolved (links followed) against ``images_dir``; a RowError if it leads outside."""
    root = images_dir.resolve()
    candidate = (root / ref).resolve()
    if not candidate.is_relative_to(root):
        raise RowError(
            f"image {ref!r} is outside the images folder {images_dir}: only http(s) URLs and "
            "paths inside --images-dir are accepted"
        )
    return candidate


def _http_opener() -> urllib.request.OpenerDirector:
    """urllib's opener with the http(s) handlers only: a redirect to ``file://`` or ``ftp://`` fails
    instead of being followed (``urlopen``'s default opener handles both)."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def _write(row: _ValidRow, report: ImportReport) -> None:
    Product = get_product_model()
    stored: str | None = None
    try:
        with transaction.atomic():
            product = Product.objects.filter(sku=row.fields["sku"]).first() if row.fields["sku"] else None
            created = product is None
            product = product or Product()
            for name, value in row.fields.items():
                setattr(product, name, value)
            if row.image_bytes is not None:
                stored = default_storage.save(f"products/{row.image_name}", ContentFile(row.image_bytes))
                product.image.name = stored
            product.save()
    except Exception:
        if stored:
            default_storage.delete(stored)
        raise
    if created:
        report.created += 1
    else:
        report.updated += 1


def catalog_report_text(report: ImportReport) -> str:
    out = io.StringIO()
    out.write(f"{report.created} created, {report.updated} updated, {len(report.errors)} rejected\n")
    for line, reason in report.errors:
        out.write(f"  line {line}: {reason}\n")
    return out.getvalue()
