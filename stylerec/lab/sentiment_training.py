"""Training and held-out evaluation of the offline sentiment model (lab only).

``train_head`` fits one head per language by a recipe of ``RECIPES`` on labelled reviews (the
bundled corpora of ``stylerec.lab.datasets``, or a store's own CSV) and writes a version directory
that the runtime ``stylerec.ml.sentiment.TrainedHeadSentiment`` loads: ``heads.json`` (what each
head reads), ``<lang>.npz`` (hashed TF-IDF weights and the stacking regression, fp16 / fp32),
``<lang>.encoder.safetensors`` (the fine-tuned top layers of the base encoder, fp16, and the
classifier) and ``manifest.json`` (data hashes, split, seed, recipe, metrics, wall time, device).
The held-out metrics are measured by loading the written files through the runtime loader, so
they are the figures of what ships. Serving never imports this module.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from stylerec.ml.base import model_dir, model_setting, select_device
from stylerec.ml.sentiment import (
    BASE_MODELS,
    DEFAULT_NEUTRAL_BAND,
    EMBEDDERS,
    FORMAT,
    HEADS_FILE,
    MANIFEST_FILE,
    SHIPPED_DIR,
    EncoderClassifier,
    HashedTfidf,
    TrainedHeadSentiment,
    additive_mask,
    base_model_version,
    find_head,
    layer_forward,
    lexicon_scores,
    mean_pool,
)
from stylerec.ml.textutil import normalise, truncate

SEED = 0
SAMPLE_SIZE = 200  # test reviews per language whose accuracy the manifest also records (tests redo it)
NEUTRAL_SHARE = 0.05  # a head's neutral band holds at most this share of its held-back reviews


def calibrated_band(probabilities: np.ndarray) -> float:
    """The head's neutral band: the margin |score| below which ``NEUTRAL_SHARE`` of its held-back
    reviews fall, never wider than the old fixed ±0.2 (a head sure of most reviews marks few
    neutral; one trained on another domain would otherwise mark 12-20 %)."""
    if not len(probabilities):
        return DEFAULT_NEUTRAL_BAND
    margin = np.abs(2.0 * np.asarray(probabilities, dtype=np.float64) - 1.0)
    return round(float(min(DEFAULT_NEUTRAL_BAND, np.quantile(margin, NEUTRAL_SHARE))), 4)


def _validation_split(texts: Sequence[str], percent: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices to fit on and indices held back (``percent`` of them, chosen by a salted hash of
    the text: the same reviews on every run and machine, and independent of the test split's hash,
    which would otherwise have put every training review in the same buckets). The held-back
    reviews choose the epoch and learn the weights of the stack; the test split is never seen."""
    from stylerec.lab.datasets import hash_bucket

    held = np.array([hash_bucket(t, salt="blend") < percent for t in texts], dtype=bool)
    return np.flatnonzero(~held), np.flatnonzero(held)


_calibration_split = _validation_split  # the name the blend's tests know it by


# TF-IDF parts (hashed: no vocabulary to store; see ``HashedTfidf``).
ZH_TFIDF = {"parts": [{"analyzer": "char_wb", "ngram_range": [1, 5], "n_features": 2**20, "min_df": 2}]}
EN_TFIDF = {
    "parts": [
        {"analyzer": "word", "ngram_range": [1, 2], "n_features": 2**20, "min_df": 1},
        {"analyzer": "char_wb", "ngram_range": [2, 5], "n_features": 2**20, "min_df": 2},
    ]
}
_EN = {
    "encoder_from": "zh",  # the multilingual encoder fine-tuned on Chinese reviews, read across languages
    "lexicon": "vader",
    "tfidf": EN_TFIDF,
    "C": 4.0,
    "stack_set": "uci-yelp",  # bundled data: review sentences that learn the stack beside held-back rows
    "validation_percent": 10,  # training reviews held back to learn the stack
}
_ZH = {
    "encoder": "multilingual-e5-small",
    "prefix": "query: ",  # e5 reads every text after a "query: " or "passage: " prefix
    "batch_size": 32,
    "max_length": 128,
    "tfidf": ZH_TFIDF,
    "tfidf_C": 4.0,
    "validation_percent": 10,  # training reviews held back to choose the epoch and learn the stack
}
# Two recipes (see docs/models.md, "Sentiment"):
# * en (both): the zh head's fine-tuned multilingual-e5 logit read on English text (it learnt what
#   a shopper likes from Chinese shopping reviews, and e5 aligns the two languages), hashed TF-IDF
#   words 1-2 + chars 2-5 -> logistic regression fitted on the film snippets, and VADER's compound
#   score, stacked by a logistic regression learnt on the UCI Yelp review sentences (measured
#   against the alternatives in docs/models.md; the Amazon sentences stay the check set).
# * zh "fast" (CPU, the shipped head): multilingual-e5-small with its top 4 of 12 layers
#   fine-tuned over a cache of the frozen lower layers' output (one forward pass of the lower
#   layers, then each epoch runs only the top 4: a third of a full fine-tune's compute), mean
#   pooling and a linear logit, the epoch chosen on held-back training reviews; stacked with
#   hashed TF-IDF characters 1-5 + logistic regression (the two err differently). The 4 layers
#   in fp16 are 14 MB.
# * zh "full" (the default when CUDA is present): every encoder layer fine-tuned (word
#   embeddings frozen), the same head and stack; 42 MB of fp16 layers.
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "fast": {
        "zh": {**_ZH, "train_layers": 4, "epochs": 2, "learning_rate": 1e-4, "head_learning_rate": 1e-3},
        "en": _EN,
    },
    "full": {
        "zh": {**_ZH, "train_layers": 12, "epochs": 2, "learning_rate": 5e-5, "head_learning_rate": 1e-3},
        "en": _EN,
    },
}


def default_recipe() -> str:
    """ "full" where torch sees a GPU (STYLEREC['DEVICE'] permitting), else "fast"."""
    return "full" if select_device(model_setting("DEVICE")) == "cuda" else "fast"


def _subsample(rows: list[tuple[str, int]], limit: int | None) -> list[tuple[str, int]]:
    """The first ``limit`` rows by text hash: deterministic and balanced enough without an RNG."""
    if limit is None or limit >= len(rows):
        return rows
    return sorted(rows, key=lambda r: hashlib.sha1(r[0].encode("utf-8")).hexdigest())[:limit]


def binary_metrics(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray
) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "n": len(y_true),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro")), 4),
    }


def _rows_fingerprint(rows: Sequence[tuple[str, int]]) -> str:
    digest = hashlib.sha256()
    for text, label in rows:
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


def train_head(
    *,
    output_dir: Path | None = None,
    languages: Sequence[str] = ("zh", "en"),
    recipe: str | None = None,
    limit: int | None = None,
    test_limit: int | None = None,
    data: dict[str, dict[str, list[tuple[str, int]]]] | None = None,
    source: str = "bundled",
    progress: Callable[[str], None] = lambda message: None,
    show_progress: bool = False,
    estimate_only: bool = False,
    warm_start: Path | None = None,
    epochs: int | None = None,
    train_layers: int | None = None,
) -> Path | None:
    """Train one head per language on the train split, measure it on the test split, and save
    both under ``output_dir/<version>/``. Returns the version directory.

    ``data`` ({language: {"train": rows, "test": rows}}) replaces the bundled corpora (a store's
    own CSV, ``datasets.csv_reviews``). ``limit`` caps training examples per language (quick runs
    and tests), ``test_limit`` the test examples scored for the manifest. Before training it
    reports how long the whole run should take on this machine (a few timed batches);
    ``estimate_only`` stops there (and returns None). ``warm_start`` (a version directory) starts
    each fine-tuned encoder from that version's layers instead of the base model's, for
    ``epochs`` more epochs (default: the recipe's; 0 keeps them and refits the rest); the
    manifest records where they came from. ``train_layers`` fine-tunes that many top layers
    instead of the recipe's number (layers the warm start did not train start from the base).
    """
    import shutil
    import uuid

    recipe = recipe or default_recipe()
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, not {recipe!r}")
    output_dir = Path(output_dir) if output_dir is not None else model_dir() / "sentiment"
    chosen = {
        lang: {**spec, "train_layers": int(train_layers)}
        if train_layers is not None and "train_layers" in spec
        else spec
        for lang, spec in RECIPES[recipe].items()
    }
    started = time.monotonic()
    splits = _load_splits(languages, data, limit, test_limit)
    trainer = _HeadTrainer(progress, show_progress, warm_start=warm_start, epochs=epochs)
    estimate = sum(trainer.estimate(lang, chosen[lang], *splits[lang]) for lang in languages)
    progress(
        f"recipe {recipe!r} on {trainer.device} ({_threads()} threads): this run should take about "
        f"{_duration(estimate)} on this machine"
    )
    if estimate_only:
        return None
    tmp_dir = output_dir / f".{uuid.uuid4().hex[:12]}.partial"
    tmp_dir.mkdir(parents=True)
    try:
        specs: dict[str, Any] = {}
        training: dict[str, Any] = {}
        data_info: dict[str, Any] = {}
        # heads that fine-tune an encoder first: another language's head may read it
        for language in sorted(languages, key=lambda lang: "encoder_from" in chosen[lang]):
            train, test = splits[language]
            x_train = [truncate(normalise(t)) for t, _ in train]
            y_train = np.array([y for _, y in train])
            stack = _stack_rows(chosen[language], data)
            specs[language], arrays, training[language] = trainer.fit(
                language, chosen[language], x_train, y_train, tmp_dir, stack
            )
            # numpy's stub has a keyword allow_pickle: bool, so mypy rejects any **dict of arrays.
            np.savez_compressed(tmp_dir / f"{language}.npz", **arrays)  # type: ignore[arg-type]
            data_info[language] = {
                "source": source,
                "sha256": _rows_fingerprint(train + test) if data is not None else _corpus_sha(language),
                "train_examples": len(train),
                "validation_examples": training[language].get("validation_examples", 0),
                "test_examples": len(test),
            }
            if stack is not None:
                data_info[language]["stack_set"] = {
                    "source": chosen[language]["stack_set"],
                    "examples": len(stack),
                    "sha256": _rows_fingerprint(stack),
                }
        created = datetime.now(UTC)
        recipes = {lang: chosen[lang] for lang in languages}
        fingerprint = hashlib.sha256(
            json.dumps([data_info, recipes, trainer.versions], sort_keys=True).encode()
        )
        version = f"{created:%Y%m%dT%H%M%S}-{fingerprint.hexdigest()[:8]}"
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": version,
            "created": created.isoformat(),
            "languages": list(languages),
            "source": source,
            "recipe": recipe,
            "recipes": recipes,
            "limit": limit,
            "seed": SEED,
            "split": {
                "test": "sha1 of the normalised text, bucket < 20 of 100 (stylerec.lab.datasets)",
                "validation": "held-back training reviews: salted sha1 bucket < validation_percent",
                "sample": f"the first {SAMPLE_SIZE} test reviews by sha1 of the text",
            },
            "embedders": {k: v for k, v in trainer.versions.items() if k in EMBEDDERS},
            "base_models": {k: v for k, v in trainer.versions.items() if k not in EMBEDDERS},
            "data": data_info,
            "training": training,
        }
        if trainer.warm_started:
            manifest["warm_start"] = trainer.warm_started
        (tmp_dir / HEADS_FILE).write_text(json.dumps(specs, indent=2, ensure_ascii=False), encoding="utf-8")
        _write_manifest(tmp_dir, manifest)
        progress("scoring the held-out reviews with the saved files (runtime loader)")
        model = TrainedHeadSentiment(path=tmp_dir)
        metrics, sample_metrics = {}, {}
        for language in languages:
            test = splits[language][1]
            metrics[language] = _score(model, language, test)
            sample_metrics[language] = _score(model, language, _subsample(test, SAMPLE_SIZE))
            m = metrics[language]
            progress(f"[{language}] held-out accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}")
        manifest["metrics"] = metrics
        manifest["sample_metrics"] = sample_metrics
        manifest["train_seconds"] = round(time.monotonic() - started, 1)
        manifest["estimated_seconds"] = round(estimate, 1)
        manifest["device"] = trainer.device
        manifest["threads"] = _threads()
        manifest["size_bytes"] = sum(p.stat().st_size for p in tmp_dir.iterdir() if p.is_file())
        manifest["libraries"] = _libraries()
        _write_manifest(tmp_dir, manifest)
        version_dir = output_dir / version
        tmp_dir.rename(version_dir)  # a loader never sees a half-written version
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    progress(f"saved {version_dir} in {manifest['train_seconds']} s ({manifest['size_bytes'] / 1e6:.1f} MB)")
    return version_dir


def _load_splits(
    languages: Sequence[str],
    data: dict[str, dict[str, list[tuple[str, int]]]] | None,
    limit: int | None,
    test_limit: int | None,
) -> dict[str, tuple[list[tuple[str, int]], list[tuple[str, int]]]]:
    from stylerec.lab.datasets import labelled_reviews

    out = {}
    for language in languages:
        if data is not None:
            train, test = data[language]["train"], data[language]["test"]
        else:
            train = labelled_reviews(language=language, split="train")
            test = labelled_reviews(language=language, split="test")
        out[language] = (_subsample(train, limit), _subsample(test, test_limit))
    return out


def _stack_rows(
    recipe: dict[str, Any], data: dict[str, dict[str, list[tuple[str, int]]]] | None
) -> list[tuple[str, int]] | None:
    """The labelled rows a recipe learns its stack on, when they are not its own held-back
    reviews: the UCI Yelp sentences for the bundled English head; None for a store's CSV."""
    if data is not None or "stack_set" not in recipe:
        return None
    from stylerec.lab.datasets import STACK_SET, review_sentences

    assert recipe["stack_set"] == f"uci-{STACK_SET}", recipe["stack_set"]
    return review_sentences(STACK_SET)


def _corpus_sha(language: str) -> str:
    from stylerec.lab.datasets import corpus_fingerprint

    return corpus_fingerprint(language)


def _score(model: TrainedHeadSentiment, language: str, rows: list[tuple[str, int]]) -> dict[str, float]:
    p = model.probabilities([t for t, _ in rows], language=language)
    return binary_metrics([y for _, y in rows], (p > 0.5).astype(int))


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    (directory / MANIFEST_FILE).write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8"
    )


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _libraries() -> dict[str, str]:
    import scipy
    import sklearn
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def fit_hashed_tfidf(
    parts: list[dict[str, Any]], texts: Sequence[str], y: np.ndarray, C: float
) -> tuple[HashedTfidf, Any]:
    """A ``HashedTfidf`` fitted on ``texts`` (idf from them, then a logistic regression) and the
    training features (for out-of-fold stacking)."""
    from sklearn.linear_model import LogisticRegression

    model = HashedTfidf(parts, np.zeros(0), np.zeros(0), 0.0)
    counts = model.counts(texts)
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=model.width).astype(np.float64)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0  # TfidfVectorizer's smoothed idf
    for p, start, stop in zip(parts, model.offsets[:-1], model.offsets[1:], strict=True):
        idf[start:stop][df[start:stop] < int(p.get("min_df", 1))] = 0.0
    # idf as it will be stored (fp16), so the regression fits the features the runtime computes
    model.idf = idf.astype(np.float16).astype(np.float32)
    features = model.features(counts)
    classifier = LogisticRegression(C=C, max_iter=3000).fit(features, y)
    model.coef = classifier.coef_[0].astype(np.float32)
    model.intercept = float(classifier.intercept_[0])
    return model, features


class _HeadTrainer:
    """Fits one head per recipe; remembers the embedders and base encoders it used."""

    def __init__(
        self,
        progress: Callable[[str], None],
        show_progress: bool,
        warm_start: Path | None = None,
        epochs: int | None = None,
    ) -> None:
        self.progress, self.show_progress = progress, show_progress
        self.encoders: dict[str, tuple[Any, Any]] = {}
        self.versions: dict[str, str] = {}
        self.device = select_device(model_setting("DEVICE"))
        self.warm_start = Path(warm_start) if warm_start is not None else None
        self.epochs = epochs
        self.warm_started: dict[str, Any] = {}
        self.encoder_specs: dict[str, dict[str, Any]] = {}  # language -> its fine-tuned encoder

    # ------------------------------------------------------------------ shared pieces
    def _encoder(self, name: str) -> tuple[Any, Any]:
        """(tokenizer, frozen base model in eval mode) of the base encoder ``name``."""
        if name not in self.encoders:
            from transformers import AutoModel, AutoTokenizer

            base = BASE_MODELS[name]()
            self.versions[name] = base_model_version(name, base)
            net = AutoModel.from_pretrained(base).to(self.device).eval()
            net.requires_grad_(False)
            self.encoders[name] = (AutoTokenizer.from_pretrained(base), net)
        return self.encoders[name]

    # ------------------------------------------------------------------ time estimate
    def estimate(
        self, language: str, recipe: dict[str, Any], train: list[tuple[str, int]], test: list[tuple[str, int]]
    ) -> float:
        """Seconds the recipe should take on ``train`` and scoring ``test`` on this machine, from
        a few timed batches."""
        texts = [truncate(normalise(t)) for t, _ in train[:400]] or ["x"]
        n_train, n_test = len(train), len(test)
        tfidf = HashedTfidf(recipe["tfidf"]["parts"], np.zeros(0), np.zeros(0), 0.0)
        tfidf.counts(texts[:8])  # warm-up (imports, first call), untimed
        probe = texts[:200]
        t0 = time.perf_counter()
        tfidf.counts(probe)
        per_text_tfidf = (time.perf_counter() - t0) / len(probe)
        # hashing for the idf and for scoring, and the logistic regressions (~8x the hashing)
        seconds = per_text_tfidf * (n_train + n_test) * 10
        if "encoder" in recipe:
            seconds += self._estimate_encoder(recipe, texts, n_train, n_test)
        if "encoder_from" in recipe:  # reads the shared encoder: the stack's rows and the test split
            seconds += self._estimate_forward(RECIPES["fast"]["zh"], texts) * (n_test + 1000)
        return seconds

    def _estimate_forward(self, recipe: dict[str, Any], texts: list[str]) -> float:
        """Seconds per text of a full forward pass of the recipe's base encoder."""
        import torch

        tokenizer, net = self._encoder(recipe["encoder"])
        probe = [recipe.get("prefix", "") + t for t in texts[:32]]
        batch = tokenizer(
            probe, truncation=True, max_length=_max_length(net, recipe), padding=True, return_tensors="pt"
        )
        with torch.inference_mode():
            net(**batch.to(self.device))  # warm-up, untimed
            t0 = time.perf_counter()
            net(**batch.to(self.device))
        return (time.perf_counter() - t0) / len(probe)

    def _estimate_encoder(self, recipe: dict[str, Any], texts: list[str], n_train: int, n_test: int) -> float:
        import torch

        tokenizer, net = self._encoder(recipe["encoder"])
        layers = list(net.encoder.layer)
        first = len(layers) - min(recipe["train_layers"], len(layers))
        prefix = recipe.get("prefix", "")
        ids = tokenizer([prefix + t for t in texts], truncation=True, max_length=_max_length(net, recipe))[
            "input_ids"
        ]
        if not ids:
            return 0.0
        mean_tokens = float(np.mean([len(r) for r in ids]))
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        mid = len(order) // 2
        batch_size = recipe["batch_size"]
        probe = order[max(0, mid - batch_size) : mid + batch_size] or order
        batches = [probe[i : i + batch_size] for i in range(0, len(probe), batch_size)]
        top = torch.nn.ModuleList(copy.deepcopy(layers[first:])).train().requires_grad_(True)
        # per-token seconds of each timed batch; the fastest is kept, so that a moment of other
        # work on the machine (a test run, a backup) does not multiply the whole estimate
        lower_rates: list[float] = []
        step_rates: list[float] = []
        for n, members in enumerate([batches[0], *batches]):  # the first, untimed, warms up
            inputs = tokenizer.pad([{"input_ids": ids[i]} for i in members], return_tensors="pt").to(
                self.device
            )
            tokens = sum(len(ids[i]) for i in members)
            t0 = time.perf_counter()
            with torch.inference_mode():
                hidden = _lower_forward(net, first, inputs["input_ids"], inputs["attention_mask"])
            t_lower = time.perf_counter() - t0
            t0 = time.perf_counter()
            h = hidden.clone().float()
            mask = additive_mask(inputs["attention_mask"], h.dtype)
            for layer in top:
                h = layer_forward(layer, h, mask)
            mean_pool(h, inputs["attention_mask"]).sum().backward()
            if n:
                lower_rates.append(t_lower / tokens)
                step_rates.append((time.perf_counter() - t0) / tokens)
        per_token_lower = min(lower_rates)
        per_token_step = min(step_rates) * 1.1  # + the optimizer
        per_token_full = per_token_lower + per_token_step / 3.0
        train_tokens = n_train * mean_tokens
        epochs = recipe["epochs"] if self.epochs is None else self.epochs
        cached_share = 1.0 if epochs else recipe["validation_percent"] / 100  # 0 epochs: held-back only
        return (
            per_token_lower * train_tokens * cached_share
            + epochs * (per_token_step * train_tokens + per_token_full / 3.0 * 0.1 * train_tokens)
            + per_token_full * n_test * mean_tokens
            + 15.0  # loading the base model and writing the files
        )

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        language: str,
        recipe: dict[str, Any],
        x_train: list[str],
        y_train: np.ndarray,
        directory: Path,
        stack: list[tuple[str, int]] | None = None,
    ) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
        """(the head's spec for heads.json, the arrays of ``<lang>.npz``, training facts); an
        encoder's layers are written into ``directory``."""
        if len(set(y_train.tolist())) < 2:
            raise ValueError(f"[{language}] the training reviews must include both labels")
        if "encoder" in recipe:
            return self._fit_encoder(language, recipe, x_train, y_train, directory)
        return self._fit_transfer(language, recipe, x_train, y_train, directory, stack)

    def _shared_encoder(self, language: str, directory: Path) -> dict[str, Any]:
        """The spec of ``language``'s fine-tuned encoder: trained in this run, else copied into
        ``directory`` from the warm-start version or the shipped one."""
        import shutil

        if language not in self.encoder_specs:
            source = find_head(self.warm_start if self.warm_start is not None else SHIPPED_DIR)
            spec = dict(json.loads((source / HEADS_FILE).read_text(encoding="utf-8"))[language]["encoder"])
            shutil.copyfile(source / spec["file"], directory / spec["file"])
            (directory / spec["file"]).chmod(0o644)
            name = spec["base"]
            self.versions[name] = spec["base_version"]
            self.warm_started.setdefault(f"{language}-encoder", _provenance(source, spec["file"], language))
            self.encoder_specs[language] = spec
        return self.encoder_specs[language]

    def _fit_transfer(
        self,
        language: str,
        recipe: dict[str, Any],
        x_train: list[str],
        y_train: np.ndarray,
        directory: Path,
        stack: list[tuple[str, int]] | None,
    ) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
        """TF-IDF on the training reviews, stacked with another language's fine-tuned encoder
        and the lexicon's score by a regression learnt on ``stack`` (or held-back reviews)."""
        from sklearn.linear_model import LogisticRegression

        fit, held = _validation_split(x_train, recipe["validation_percent"])
        if len(set(y_train[held].tolist())) < 2 or len(set(y_train[fit].tolist())) < 2:
            fit, held = np.arange(len(x_train)), np.zeros(0, dtype=int)  # too few to hold back
        x_fit, y_fit = [x_train[i] for i in fit], y_train[fit]
        # the stack learns on held-back training reviews (in-domain) and, for the bundled head,
        # on the review sentences too, so that it weighs its parts for both kinds of text
        x_stack, y_stack = [x_train[i] for i in held], y_train[held]
        if stack is not None:
            x_stack += [truncate(normalise(t)) for t, _ in stack]
            y_stack = np.concatenate([y_stack, [y for _, y in stack]]).astype(int)
        if len(set(y_stack.tolist())) < 2:
            x_stack, y_stack = x_fit, y_fit  # in-sample: a store with very few reviews
        encoder_spec = self._shared_encoder(recipe["encoder_from"], directory)
        self.progress(f"[{language}] fitting hashed TF-IDF + logistic regression on {len(x_fit)} reviews")
        tfidf, _ = fit_hashed_tfidf(recipe["tfidf"]["parts"], x_fit, y_fit, recipe["C"])
        self.progress(f"[{language}] learning the stack on {len(x_stack)} reviews")
        encoder = EncoderClassifier(
            BASE_MODELS[encoder_spec["base"]](),
            directory / encoder_spec["file"],
            prefix=encoder_spec.get("prefix", ""),
            max_length=encoder_spec.get("max_length", 128),
        )
        columns = np.column_stack([encoder.logit(x_stack), tfidf.logit(x_stack), lexicon_scores(x_stack)])
        stacker = LogisticRegression().fit(columns, y_stack)
        band = calibrated_band(stacker.predict_proba(columns)[:, 1])
        arrays = {
            **tfidf.arrays(),
            "stack_coef": stacker.coef_[0].astype(np.float32),
            "stack_intercept": stacker.intercept_.astype(np.float32),
        }
        spec = {
            "inputs": ["encoder", "tfidf", "lexicon"],
            "tfidf": recipe["tfidf"],
            "encoder": encoder_spec,
            "lexicon": recipe["lexicon"],
            "neutral_band": band,
        }
        info = {
            "validation_examples": len(held),
            "stack_examples": len(x_stack),
            "stack_coef": [round(float(c), 4) for c in stacker.coef_[0]],
            "neutral_band": band,
        }
        return spec, arrays, info

    def _fit_encoder(
        self, language: str, recipe: dict[str, Any], x_train: list[str], y_train: np.ndarray, directory: Path
    ) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
        from sklearn.linear_model import LogisticRegression

        name = recipe["encoder"]
        fit, held = _validation_split(x_train, recipe["validation_percent"])
        if len(held) == 0 or len(set(y_train[held].tolist())) < 2 or len(set(y_train[fit].tolist())) < 2:
            # too few reviews to hold some back: train on all, stop at the last epoch, average
            fit, held = np.arange(len(x_train)), np.zeros(0, dtype=int)
        x_fit, y_fit = [x_train[i] for i in fit], y_train[fit]
        x_held, y_held = [x_train[i] for i in held], y_train[held]
        layers_file = f"{language}.encoder.safetensors"
        info = self._train_top_layers(language, recipe, x_fit, y_fit, x_held, y_held, directory / layers_file)
        self.progress(f"[{language}] fitting hashed TF-IDF + logistic regression on {len(x_fit)} reviews")
        tfidf, _ = fit_hashed_tfidf(recipe["tfidf"]["parts"], x_fit, y_fit, recipe["tfidf_C"])
        arrays = tfidf.arrays()
        if len(held):
            self.progress(f"[{language}] learning the stack on {len(held)} held-back reviews")
            pair = np.column_stack([info.pop("held_logits"), tfidf.logit(x_held)])
            stacker = LogisticRegression().fit(pair, y_held)
            arrays["stack_coef"] = stacker.coef_[0].astype(np.float32)
            arrays["stack_intercept"] = stacker.intercept_.astype(np.float32)
            info["stack_coef"] = [round(float(c), 4) for c in stacker.coef_[0]]
            info["neutral_band"] = calibrated_band(stacker.predict_proba(pair)[:, 1])
        else:
            info.pop("held_logits")
            arrays["stack_coef"] = np.array([0.5, 0.5], dtype=np.float32)  # the mean of the two logits
            arrays["stack_intercept"] = np.zeros(1, dtype=np.float32)
        info["validation_examples"] = len(held)
        spec = {
            "inputs": ["encoder", "tfidf"],
            "tfidf": recipe["tfidf"],
            "encoder": {
                "base": name,
                "base_version": self.versions[name],
                "file": layers_file,
                "prefix": recipe.get("prefix", ""),
                "max_length": recipe["max_length"],
                "trained_layers": info["trained_layers"],
                "pooling": "mean",
            },
            "neutral_band": info.get("neutral_band", DEFAULT_NEUTRAL_BAND),
        }
        self.encoder_specs[language] = spec["encoder"]
        return spec, arrays, info

    def _train_top_layers(
        self,
        language: str,
        recipe: dict[str, Any],
        x_fit: list[str],
        y_fit: np.ndarray,
        x_held: list[str],
        y_held: np.ndarray,
        path: Path,
    ) -> dict[str, Any]:
        """Fine-tune the top ``train_layers`` layers of the base encoder and a linear logit over
        their mean-pooled output, on a cache of the frozen lower layers' output; keep the epoch
        that does best on the held-back reviews. Saves the layers (fp16) and logit to ``path``."""
        import torch
        from safetensors.torch import save_file
        from tqdm import tqdm

        from stylerec.lab.finetune import length_sorted_batches

        tokenizer, net = self._encoder(recipe["encoder"])
        layers = list(net.encoder.layer)
        k = min(int(recipe["train_layers"]), len(layers))
        first = len(layers) - k
        prefix = recipe.get("prefix", "")
        epochs = int(recipe["epochs"]) if self.epochs is None else int(self.epochs)
        self.progress(
            f"[{language}] caching the output of layers 1-{first} of {recipe['encoder']} for "
            f"{(len(x_fit) if epochs else 0) + len(x_held)} reviews ({self.device})"
        )
        cache_fit = (
            self._lower_cache(tokenizer, net, first, [prefix + t for t in x_fit], recipe) if epochs else []
        )
        cache_held = self._lower_cache(tokenizer, net, first, [prefix + t for t in x_held], recipe)

        torch.manual_seed(SEED)
        rng = random.Random(SEED)
        top = torch.nn.ModuleList(copy.deepcopy(layers[first:])).to(self.device).requires_grad_(True)
        hidden_size = net.config.hidden_size
        head = torch.nn.Linear(hidden_size, 1).to(self.device)
        torch.nn.init.normal_(head.weight, std=0.02)
        torch.nn.init.zeros_(head.bias)
        if self.warm_start is not None:
            self._load_warm_start(language, path.name, top, head, first)
        elif not epochs:
            raise ValueError("epochs=0 keeps fine-tuned layers: it needs a warm start")
        optimizer = torch.optim.AdamW(
            [
                {"params": list(top.parameters()), "lr": recipe["learning_rate"]},
                {"params": list(head.parameters()), "lr": recipe["head_learning_rate"]},
            ],
            weight_decay=0.01,
        )
        batch_size = int(recipe["batch_size"])
        per_epoch = -(-len(cache_fit) // batch_size)
        total = max(1, per_epoch * epochs)
        warmup = max(1, round(0.06 * total))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / total)
        )
        y = torch.tensor(y_fit, dtype=torch.float32)
        lengths = [len(h) for h in cache_fit]
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if self.device == "cuda"
            else torch.autocast("cpu", enabled=False)
        )

        def logits_of(cache: list[Any], members: list[int]) -> Any:
            hidden, mask = _pad([cache[i] for i in members], self.device)
            extended = additive_mask(mask, hidden.dtype)
            with autocast:
                for layer in top:
                    hidden = layer_forward(layer, hidden, extended)
            return head(mean_pool(hidden.float(), mask))[:, 0]

        def held_logits() -> np.ndarray:
            top.eval()
            out = np.zeros(len(cache_held))
            with torch.inference_mode():
                order = sorted(range(len(cache_held)), key=lambda i: len(cache_held[i]))
                for start in range(0, len(order), 64):
                    members = order[start : start + 64]
                    out[members] = logits_of(cache_held, members).cpu().numpy()
            top.train()
            return out

        def snapshot() -> dict[str, Any]:
            return {
                **{
                    f"encoder.layer.{first + j}.{key}": value.detach().to("cpu", torch.float16).clone()
                    for j, layer in enumerate(top)
                    for key, value in layer.state_dict().items()
                },
                "classifier.weight": head.weight.detach().to("cpu", torch.float32).clone(),
                "classifier.bias": head.bias.detach().to("cpu", torch.float32).clone(),
            }

        history: list[dict[str, Any]] = []
        best: tuple[float, int, dict[str, Any], np.ndarray] | None = None
        if not epochs:  # the warm start's layers as they are
            logits = held_logits() if len(cache_held) else np.zeros(0)
            accuracy = float(np.mean((logits > 0).astype(int) == y_held)) if len(cache_held) else float("nan")
            history.append({"epoch": 0, "validation_accuracy": round(accuracy, 4)})
            self.progress(f"[{language}] warm start kept as it is: held-back accuracy {accuracy:.4f}")
            best = (accuracy, 0, snapshot(), logits)
        step = 0
        top.train()
        with tqdm(total=total, desc="fine-tuning", unit="batch", disable=not self.show_progress) as bar:
            for epoch in range(1, epochs + 1):
                for members in length_sorted_batches(lengths, batch_size, rng):
                    loss = torch.nn.functional.binary_cross_entropy_with_logits(
                        logits_of(cache_fit, members), y[members].to(self.device)
                    )
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_([*top.parameters(), *head.parameters()], 1.0)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    step += 1
                    bar.set_postfix(loss=f"{float(loss.detach()):.3f}", refresh=False)
                    bar.update(1)
                if len(cache_held):
                    logits = held_logits()
                    accuracy = float(np.mean((logits > 0).astype(int) == y_held))
                else:
                    logits, accuracy = np.zeros(0), float("nan")
                history.append({"epoch": epoch, "validation_accuracy": round(accuracy, 4)})
                self.progress(f"[{language}] epoch {epoch}: held-back accuracy {accuracy:.4f}")
                if best is None or not len(cache_held) or accuracy > best[0]:
                    best = (accuracy, epoch, snapshot(), logits)
        assert best is not None
        save_file({k: v.contiguous() for k, v in best[2].items()}, os.fspath(path))
        path.chmod(0o644)  # safetensors writes 0600; the file ships in a wheel and is read by any user
        return {
            "trained_layers": list(range(first, len(layers))),
            "epochs": history,
            "chosen_epoch": best[1],
            "steps": step,
            "held_logits": best[3],
        }

    def _load_warm_start(self, language: str, filename: str, top: Any, head: Any, first: int) -> None:
        """Put the warm-start version's fine-tuned layers and logit into ``top`` and ``head``."""
        from safetensors.torch import load_file

        assert self.warm_start is not None
        source = find_head(self.warm_start)
        state = load_file(os.fspath(source / filename))
        from_base = []
        for j, layer in enumerate(top):
            prefix = f"encoder.layer.{first + j}."
            own = {k[len(prefix) :]: v.float() for k, v in state.items() if k.startswith(prefix)}
            if not own:  # trained below the warm start's layers: starts from the base model
                from_base.append(first + j)
                continue
            if set(own) != set(layer.state_dict()):
                raise ValueError(f"{source / filename} has an incomplete fine-tuned layer {first + j}")
            layer.load_state_dict(own)
        if len(from_base) == len(top):
            raise ValueError(f"{source / filename} has none of the layers to train: start without it")
        head.weight.data.copy_(state["classifier.weight"].float())
        head.bias.data.copy_(state["classifier.bias"].float())
        self.warm_started[f"{language}-encoder"] = {
            **_provenance(source, filename, language),
            "epochs_after": self.epochs,
            "layers_from_base": from_base,
        }

    def _lower_cache(
        self, tokenizer: Any, net: Any, first: int, texts: list[str], recipe: dict[str, Any]
    ) -> list[Any]:
        """Per text, the output of the frozen layers below the trained ones (fp16, on the CPU)."""
        import torch
        from tqdm import tqdm

        from stylerec.ml.textutil import tokenized_batches

        out: list[Any] = [None] * len(texts)
        batches = tokenized_batches(
            tokenizer,
            texts,
            order=range(len(texts)),
            batch_size=64,
            max_length=_max_length(net, recipe),
            device=self.device,
        )
        with (
            torch.inference_mode(),
            tqdm(
                total=len(texts), desc="frozen layers", unit="review", disable=not self.show_progress
            ) as bar,
        ):
            for idx, batch in batches:
                hidden = _lower_forward(net, first, batch["input_ids"], batch["attention_mask"])
                hidden = hidden.to("cpu", torch.float16)
                lengths = batch["attention_mask"].sum(dim=1).tolist()
                for row, (i, n) in enumerate(zip(idx, lengths, strict=True)):
                    out[i] = hidden[row, : int(n)].clone()
                bar.update(len(idx))
        return out


def _provenance(source: Path, filename: str, language: str) -> dict[str, Any]:
    """Where fine-tuned layers came from: the version, the file's hash, and how that version made
    them (its recipe, data and training facts), so the record survives the version's removal."""
    manifest = json.loads((source / MANIFEST_FILE).read_text(encoding="utf-8"))
    return {
        "version": source.name,
        "file": filename,
        "sha256": hashlib.sha256((source / filename).read_bytes()).hexdigest(),
        "recipe": manifest.get("recipes", {}).get(language),
        "data": manifest.get("data", {}).get(language),
        "training": manifest.get("training", {}).get(language),
        "seed": manifest.get("seed"),
        "warm_start": manifest.get("warm_start"),
    }


def _max_length(net: Any, recipe: dict[str, Any]) -> int:
    return min(int(recipe["max_length"]), getattr(net.config, "max_position_embeddings", None) or 512)


def _lower_forward(net: Any, first: int, input_ids: Any, attention_mask: Any) -> Any:
    """The embeddings and the first ``first`` layers of a BERT-style encoder."""
    import torch

    hidden = net.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
    extended = additive_mask(attention_mask, hidden.dtype)
    for layer in list(net.encoder.layer)[:first]:
        hidden = layer_forward(layer, hidden, extended)
    return hidden


def _pad(rows: list[Any], device: str) -> tuple[Any, Any]:
    """Stack variable-length (tokens, hidden) rows into (batch, longest, hidden) + a 0/1 mask."""
    import torch

    longest = max(len(r) for r in rows)
    hidden = torch.zeros(len(rows), longest, rows[0].shape[1], dtype=torch.float32)
    mask = torch.zeros(len(rows), longest, dtype=torch.long)
    for i, r in enumerate(rows):
        hidden[i, : len(r)] = r.float()
        mask[i, : len(r)] = 1
    return hidden.to(device), mask.to(device)


def evaluate_sentiment(model: Any, *, language: str, limit: int | None = None) -> dict[str, Any]:
    """Accuracy and macro-F1 of any SentimentModel on the fixed test split of ``language``
    (positive = score > 0). A TrainedHeadSentiment scores every review with that language's head,
    as its manifest's metrics were measured, and reads cached test embeddings when it has them."""
    from stylerec.lab.datasets import labelled_reviews

    rows = _subsample(labelled_reviews(language=language, split="test"), limit)
    texts = [t for t, _ in rows]
    started = time.perf_counter()
    if isinstance(model, TrainedHeadSentiment) and language in model.heads:
        predicted = [int(p > 0.5) for p in model.probabilities(texts, use_cache=True, language=language)]
    else:
        predicted = [int(r.score > 0) for r in model.predict(texts)]
    seconds = time.perf_counter() - started
    return {
        "language": language,
        **binary_metrics([y for _, y in rows], predicted),
        "seconds": round(seconds, 2),
    }


# --------------------------------------------------------------------------- product-review check sets
def score_metrics(
    y_true: Sequence[int], scores: Sequence[float] | np.ndarray, band: float = 0.0
) -> dict[str, Any]:
    """Accuracy and macro-F1 of ``score > 0`` as positive, ROC AUC of the scores, the majority
    class's share (what always answering it scores) and the share inside ``band`` (neutral)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y_true, dtype=int)
    s = np.asarray(scores, dtype=np.float64)
    out: dict[str, Any] = binary_metrics(y, (s > 0).astype(int))
    out["auc"] = round(float(roc_auc_score(y, s)), 4) if len(set(y.tolist())) == 2 else None
    out["majority"] = round(float(max(y.mean(), 1 - y.mean())), 4) if len(y) else None
    out["neutral_share"] = round(float(np.mean(np.abs(s) <= band)), 4) if band else 0.0
    return out


def baseline_scores(name: str, texts: Sequence[str]) -> np.ndarray:
    """Scores in [-1, 1] of a baseline: ``vader`` (English lexicon) or ``snownlp`` (its shipped
    Chinese naive Bayes, 2 * P(positive) - 1)."""
    if name == "vader":
        return lexicon_scores(texts)
    if name == "snownlp":
        from snownlp import SnowNLP

        return np.array([2.0 * SnowNLP(t).sentiments - 1.0 if t.strip() else 0.0 for t in texts])
    raise ValueError(f"unknown baseline {name!r}")


BASELINES = {"en": "vader", "zh": "snownlp"}


def evaluate_check_sets(model: Any, *, limit: int | None = None) -> dict[str, Any]:
    """The model and each language's baseline on the product-review check sets
    (``stylerec.lab.datasets.CHECK_SETS``) and the other labelled sentences it never trained on
    (IMDb). Scores as the model serves them (``predict``: its language routing, its neutral band)."""
    from stylerec.lab.datasets import CHECK_SETS, REVIEW_SENTENCES, check_set, review_sentences

    sets: dict[str, tuple[str, str, list[tuple[str, int]]]] = {
        f"{lang}-products": (lang, source, check_set(lang)) for lang, (_, source) in CHECK_SETS.items()
    }
    sets["en-films"] = ("en", f"UCI labelled sentences, {REVIEW_SENTENCES['imdb']}", review_sentences("imdb"))
    report: dict[str, Any] = {}
    for name, (language, source, rows) in sets.items():
        rows = _subsample(rows, limit)
        texts, y = [t for t, _ in rows], [label for _, label in rows]
        results = model.predict(texts)
        band = float(getattr(model, "neutral_band", None) or 0.0)
        heads = getattr(model, "heads", {})
        if not band and language in heads:
            band = heads[language].neutral_band
        baseline = BASELINES[language]
        report[name] = {
            "language": language,
            "source": source,
            "model": score_metrics(y, [r.score for r in results], band),
            baseline: score_metrics(y, baseline_scores(baseline, texts)),
        }
    return report
