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
    EMBEDDERS,
    FORMAT,
    HEADS_FILE,
    MANIFEST_FILE,
    HashedTfidf,
    TrainedHeadSentiment,
    _embedding_cache,
    additive_mask,
    base_model_version,
    layer_forward,
    mean_pool,
)
from stylerec.ml.textutil import normalise, truncate

SEED = 0
SAMPLE_SIZE = 200  # test reviews per language whose accuracy the manifest also records (tests redo it)


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
_EN = {"embedder": "minilm", "tfidf": EN_TFIDF, "C": 4.0, "stack_C": 1.0}
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
# * en (both): hashed TF-IDF words 1-2 + chars 2-5 -> logistic regression, stacked with frozen
#   MiniLM sentence embeddings (a second regression on [out-of-fold TF-IDF logit, embedding]).
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
) -> Path | None:
    """Train one head per language on the train split, measure it on the test split, and save
    both under ``output_dir/<version>/``. Returns the version directory.

    ``data`` ({language: {"train": rows, "test": rows}}) replaces the bundled corpora (a store's
    own CSV, ``datasets.csv_reviews``). ``limit`` caps training examples per language (quick runs
    and tests), ``test_limit`` the test examples scored for the manifest. Before training it
    reports how long the whole run should take on this machine (a few timed batches);
    ``estimate_only`` stops there (and returns None).
    """
    import shutil
    import uuid

    recipe = recipe or default_recipe()
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, not {recipe!r}")
    output_dir = Path(output_dir) if output_dir is not None else model_dir() / "sentiment"
    started = time.monotonic()
    splits = _load_splits(languages, data, limit, test_limit)
    trainer = _HeadTrainer(progress, show_progress)
    estimate = sum(trainer.estimate(lang, RECIPES[recipe][lang], *splits[lang]) for lang in languages)
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
        for language in languages:
            train, test = splits[language]
            x_train = [truncate(normalise(t)) for t, _ in train]
            y_train = np.array([y for _, y in train])
            specs[language], arrays, training[language] = trainer.fit(
                language, RECIPES[recipe][language], x_train, y_train, tmp_dir
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
        created = datetime.now(UTC)
        recipes = {lang: RECIPES[recipe][lang] for lang in languages}
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

    def __init__(self, progress: Callable[[str], None], show_progress: bool) -> None:
        self.progress, self.show_progress = progress, show_progress
        self.embedders: dict[str, Any] = {}
        self.encoders: dict[str, tuple[Any, Any]] = {}
        self.versions: dict[str, str] = {}
        self.device = select_device(model_setting("DEVICE"))

    # ------------------------------------------------------------------ shared pieces
    def _embedder(self, key: str) -> Any:
        if key not in self.embedders:
            self.embedders[key] = EMBEDDERS[key]()
            self.versions[key] = self.embedders[key].version
        return self.embedders[key]

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
        if "embedder" in recipe:
            embedder = self._embedder(recipe["embedder"])
            embedder(texts[:4])  # warm-up, untimed
            probe = texts[:64]
            t0 = time.perf_counter()
            embedder(probe)
            seconds += (time.perf_counter() - t0) / len(probe) * (n_train + n_test)
            seconds += 6 * per_text_tfidf * 8 * n_train  # the stacking folds' regressions
        return seconds

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
        tokens = sum(len(ids[i]) for i in probe)
        top = torch.nn.ModuleList(copy.deepcopy(layers[first:])).train().requires_grad_(True)
        t_lower = t_step = 0.0
        for n, members in enumerate([batches[0], *batches]):  # the first, untimed, warms up
            inputs = tokenizer.pad([{"input_ids": ids[i]} for i in members], return_tensors="pt").to(
                self.device
            )
            t0 = time.perf_counter()
            with torch.inference_mode():
                hidden = _lower_forward(net, first, inputs["input_ids"], inputs["attention_mask"])
            t_lower += (time.perf_counter() - t0) if n else 0.0
            t0 = time.perf_counter()
            h = hidden.clone().float()
            mask = additive_mask(inputs["attention_mask"], h.dtype)
            for layer in top:
                h = layer_forward(layer, h, mask)
            mean_pool(h, inputs["attention_mask"]).sum().backward()
            t_step += (time.perf_counter() - t0) if n else 0.0
        per_token_lower = t_lower / tokens
        per_token_step = t_step / tokens * 1.1  # + the optimizer
        per_token_full = per_token_lower + per_token_step / 3.0
        train_tokens = n_train * mean_tokens
        return (
            per_token_lower * train_tokens
            + recipe["epochs"] * (per_token_step * train_tokens + per_token_full / 3.0 * 0.1 * train_tokens)
            + per_token_full * n_test * mean_tokens
            + 15.0  # loading the base model and writing the files
        )

    # ------------------------------------------------------------------ fitting
    def fit(
        self, language: str, recipe: dict[str, Any], x_train: list[str], y_train: np.ndarray, directory: Path
    ) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
        """(the head's spec for heads.json, the arrays of ``<lang>.npz``, training facts); an
        encoder's layers are written into ``directory``."""
        if len(set(y_train.tolist())) < 2:
            raise ValueError(f"[{language}] the training reviews must include both labels")
        if "encoder" in recipe:
            return self._fit_encoder(language, recipe, x_train, y_train, directory)
        return self._fit_stacked(language, recipe, x_train, y_train)

    def _fit_stacked(
        self, language: str, recipe: dict[str, Any], x_train: list[str], y_train: np.ndarray
    ) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        embedder = self._embedder(recipe["embedder"])
        self.progress(f"[{language}] embedding {len(x_train)} reviews with {embedder.version}")
        cache = model_dir() / "sentiment" / "embedding-cache"
        dense = _embedding_cache(cache, embedder.version, x_train, embedder, self.show_progress)
        self.progress(f"[{language}] fitting hashed TF-IDF + logistic regression on {len(x_train)} reviews")
        tfidf, features = fit_hashed_tfidf(recipe["tfidf"]["parts"], x_train, y_train, recipe["C"])
        self.progress(f"[{language}] stacking the TF-IDF logit (out of fold) with the embeddings")
        folds = min(5, int(np.bincount(y_train).min()))
        if folds >= 2:
            oof = cross_val_predict(
                LogisticRegression(C=recipe["C"], max_iter=3000),
                features,
                y_train,
                cv=StratifiedKFold(n_splits=folds, shuffle=False),  # data order is fixed: deterministic
                method="decision_function",
            )
        else:
            oof = np.asarray(features @ tfidf.coef) + tfidf.intercept
        stacker = LogisticRegression(C=recipe["stack_C"], max_iter=3000).fit(
            np.hstack([oof[:, None], dense]), y_train
        )
        arrays = {
            **tfidf.arrays(),
            "stack_coef": stacker.coef_[0].astype(np.float32),
            "stack_intercept": stacker.intercept_.astype(np.float32),
        }
        spec = {
            "inputs": ["tfidf", "embedding"],
            "tfidf": recipe["tfidf"],
            "embedder": recipe["embedder"],
            "embedder_version": embedder.version,
        }
        return spec, arrays, {"stack_folds": folds}

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
        }
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
        self.progress(
            f"[{language}] caching the output of layers 1-{first} of {recipe['encoder']} for "
            f"{len(x_fit) + len(x_held)} reviews ({self.device})"
        )
        cache_fit = self._lower_cache(tokenizer, net, first, [prefix + t for t in x_fit], recipe)
        cache_held = self._lower_cache(tokenizer, net, first, [prefix + t for t in x_held], recipe)

        torch.manual_seed(SEED)
        rng = random.Random(SEED)
        top = torch.nn.ModuleList(copy.deepcopy(layers[first:])).to(self.device).requires_grad_(True)
        hidden_size = net.config.hidden_size
        head = torch.nn.Linear(hidden_size, 1).to(self.device)
        torch.nn.init.normal_(head.weight, std=0.02)
        torch.nn.init.zeros_(head.bias)
        optimizer = torch.optim.AdamW(
            [
                {"params": list(top.parameters()), "lr": recipe["learning_rate"]},
                {"params": list(head.parameters()), "lr": recipe["head_learning_rate"]},
            ],
            weight_decay=0.01,
        )
        batch_size = int(recipe["batch_size"])
        epochs = int(recipe["epochs"])
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

        history: list[dict[str, Any]] = []
        best: tuple[float, int, dict[str, Any], np.ndarray] | None = None
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
                    state = {
                        **{
                            f"encoder.layer.{first + j}.{key}": value.detach()
                            .to("cpu", torch.float16)
                            .clone()
                            for j, layer in enumerate(top)
                            for key, value in layer.state_dict().items()
                        },
                        "classifier.weight": head.weight.detach().to("cpu", torch.float32).clone(),
                        "classifier.bias": head.bias.detach().to("cpu", torch.float32).clone(),
                    }
                    best = (accuracy, epoch, state, logits)
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
