"""One evaluation run: split, build every model from each stage's history, tune on validation,
score on test, learn weights, ablate. Returns a JSON-ready dict that the report module prints,
saves and draws."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stylerec.lab.evaluation import baselines, learn, metrics
from stylerec.lab.evaluation.datasets import EvalDataset
from stylerec.lab.evaluation.peers import PER_USER
from stylerec.lab.evaluation.protocol import (
    STAGES,
    LeaveOneOutSplit,
    history_matrix,
    scores_rank,
    split_leave_one_out,
)
from stylerec.lab.evaluation.stylerec_model import profile_half_life, signals_build, stylerec_rank
from stylerec.ranking.types import SIGNALS

KS = (1, 5, 10, 20)
SELECT_BY = "ndcg@10"
BASELINE_LABELS = {
    "popularity": "popularity",
    "itemknn": "item-kNN",
    "bpr": "BPR (implicit)",
    "als": "ALS (implicit)",
}
DEFAULT_METHOD = "stylerec (default)"
LEARNED_METHOD = "stylerec (learned)"


class StageData:
    """Everything one stage's models are built from, made once: the history matrix (checked
    for leakage by ``split.history``), the customers' excluded items and the signal tensor."""

    def __init__(self, *, dataset: EvalDataset, split: LeaveOneOutSplit, stage: str, half_life_days: float):
        self.stage = stage
        self.users = split.eval_users
        self.matrix = history_matrix(split=split, stage=stage)
        self.exclude = self.matrix[self.users].tocsr()
        self.targets = split.targets(stage).items
        self.relevant = [{int(item)} for item in self.targets]
        self.signals = signals_build(
            dataset=dataset, history=split.history(stage), users=self.users, half_life_days=half_life_days
        )


def _summarise(*, rankings: Sequence[np.ndarray], data: StageData, dataset: EvalDataset) -> dict[str, float]:
    return metrics.metrics_summarise(
        rankings=rankings,
        relevant=data.relevant,
        ks=KS,
        n_items=dataset.n_items,
        item_vectors=dataset.item_content,
    )


def evaluation_run(
    *,
    dataset: EvalDataset,
    base_profile,
    methods: Sequence[str] = tuple(baselines.BASELINES),
    grids: dict[str, list[dict[str, Any]]] | None = None,
    progress: Callable[[str], None] = lambda message: None,
    peers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``peers``: a scored peers file (``peers.peers_score``) made on this split; its methods join
    the table and stylerec (learned) is compared with the best of them by a paired bootstrap."""
    started = time.perf_counter()
    split = split_leave_one_out(log=dataset.log, n_users=dataset.n_users, n_items=dataset.n_items)
    if not len(split.eval_users):
        raise ValueError("no customer has the 3 interactions leave-one-out needs (train, validation, test)")
    half_life = profile_half_life(dataset=dataset, profile=base_profile)
    progress(f"signals for {len(split.eval_users)} customers × {dataset.n_items} items")
    stages = {
        stage: StageData(dataset=dataset, split=split, stage=stage, half_life_days=half_life)
        for stage in STAGES
    }
    results: dict[str, dict[str, Any]] = {}

    for name in methods:
        function = baselines.BASELINES[name]
        method_started = time.perf_counter()
        tried = []
        for params in (grids or baselines.GRIDS)[name]:
            valid = stages["valid"]
            scores = function(matrix=valid.matrix, users=valid.users, **params)
            value = _summarise(
                rankings=scores_rank(scores=scores, exclude=valid.exclude), data=valid, dataset=dataset
            )
            tried.append((value[SELECT_BY], params, value))
            progress(f"{BASELINE_LABELS[name]} {params}: validation {SELECT_BY} {value[SELECT_BY]:.4f}")
        best_value, best_params, best_valid = max(tried, key=lambda item: item[0])
        test = stages["test"]
        scores = function(matrix=test.matrix, users=test.users, **best_params)
        results[BASELINE_LABELS[name]] = {
            "params": best_params,
            "tuning": [{"params": p, SELECT_BY: v} for v, p, _ in tried],
            "valid": best_valid,
            "test": _summarise(
                rankings=scores_rank(scores=scores, exclude=test.exclude), data=test, dataset=dataset
            ),
            "seconds": round(time.perf_counter() - method_started, 1),  # the grid and the test fit
        }

    def stylerec_metrics(
        profile, stage: str, per_user: dict[str, np.ndarray] | None = None
    ) -> dict[str, float]:
        data = stages[stage]
        rankings = stylerec_rank(signals=data.signals, profile=profile, dataset=dataset, exclude=data.exclude)
        if per_user is not None:
            for key in PER_USER:
                per_user[key] = metrics.metric_per_user(rankings=rankings, relevant=data.relevant, key=key)
        return _summarise(rankings=rankings, data=data, dataset=dataset)

    results[DEFAULT_METHOD] = {
        "params": _profile_summary(base_profile),
        "valid": stylerec_metrics(base_profile, "valid"),
        "test": stylerec_metrics(base_profile, "test"),
    }
    progress(f"{DEFAULT_METHOD}: test {SELECT_BY} {results[DEFAULT_METHOD]['test'][SELECT_BY]:.4f}")

    valid = stages["valid"]
    X, y = learn.training_rows(signals=valid.signals, positives=valid.targets, exclude=valid.exclude)
    weights, bias = learn.weights_fit(X=X, y=y)
    learned = learn.profile_with_weights(
        base=base_profile, weights=weights, bias=bias, name=f"learned-{dt.date.today().isoformat()}"
    )
    knobs, _ = learn.diversity_tune(
        base=learned,
        candidates=[
            {"mmr_lambda": 1.0, "max_per_category": 0},
            {"mmr_lambda": 1.0, "max_per_category": base_profile.max_per_category},
            {"mmr_lambda": base_profile.mmr_lambda, "max_per_category": 0},
            {"mmr_lambda": base_profile.mmr_lambda, "max_per_category": base_profile.max_per_category},
        ],
        score=lambda profile: stylerec_metrics(profile, "valid")[SELECT_BY],
    )
    learned_per_user: dict[str, np.ndarray] = {}
    results[LEARNED_METHOD] = {
        "params": _profile_summary(learned),
        "training_rows": {"positives": int(y.sum()), "negatives": int(len(y) - y.sum())},
        "valid": stylerec_metrics(learned, "valid"),
        "test": stylerec_metrics(learned, "test", per_user=learned_per_user),
    }
    progress(f"{LEARNED_METHOD}: test {SELECT_BY} {results[LEARNED_METHOD]['test'][SELECT_BY]:.4f}")

    ablation = []
    for signal in SIGNALS:
        if float(np.ptp(valid.signals[:, :, SIGNALS.index(signal)])) == 0.0:
            ablation.append({"signal": signal, "available": False})
            continue
        w, b = learn.weights_fit(X=X, y=y, drop=[signal])
        without = learn.profile_with_weights(
            base=learned, weights=w, bias=b, name=f"without-{signal}", **knobs
        )
        test_metrics = stylerec_metrics(without, "test")
        ablation.append(
            {
                "signal": signal,
                "available": True,
                "weights": w,
                "ndcg@10": test_metrics["ndcg@10"],
                "hr@10": test_metrics["hr@10"],
                "delta_ndcg@10": test_metrics["ndcg@10"] - results[LEARNED_METHOD]["test"]["ndcg@10"],
            }
        )
    for name, peer in ((peers or {}).get("models") or {}).items():
        results[name] = {
            "params": peer["params"],
            "seconds": peer["seconds"],
            "peer": True,
            "test": peer["test"],
        }
    best_baseline = max(
        (name for name in results if name in BASELINE_LABELS.values()),
        key=lambda name: results[name]["test"][SELECT_BY],
        default=None,
    )
    return {
        "dataset": dataset.name,
        "label": dataset.label,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data": {
            "customers": dataset.n_users,
            "evaluated_customers": len(split.eval_users),
            "items": dataset.n_items,
            "interactions": len(dataset.log),
            "train_interactions": len(split.train),
            "content_vectors": dataset.content_source,
            "notes": dataset.notes,
        },
        "protocol": (
            "temporal leave-one-out: per customer the last interaction is the test item, the one before it "
            "validation; ranked against the full catalog minus the customer's history; models for the "
            "validation stage see train only, models for the test stage see train + validation; "
            "hyper-parameters, learned weights and diversity settings are chosen on validation"
        ),
        "ks": list(KS),
        "select_by": SELECT_BY,
        "methods": results,
        "best_baseline": best_baseline,
        "learned_profile": {"weights": weights, "bias": bias, **knobs},
        "ablation": ablation,
        "peers": _peers_comparison(peers=peers, learned_per_user=learned_per_user),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _peers_comparison(
    *, peers: dict[str, Any] | None, learned_per_user: dict[str, np.ndarray]
) -> dict[str, Any]:
    """stylerec (learned) minus each RecBole peer, per user, with paired bootstrap intervals; the
    best peer is the one with the highest test NDCG@10."""
    if not peers or not peers.get("models"):
        return {"available": False}
    comparisons = {
        name: {
            key: metrics.paired_bootstrap(a=learned_per_user[key], b=peer["per_user"][key])
            for key in PER_USER
        }
        for name, peer in peers["models"].items()
    }
    best = max(peers["models"], key=lambda name: peers["models"][name]["test"][SELECT_BY])
    return {
        "available": True,
        "generated_at": peers.get("generated_at", ""),
        "environment": peers.get("environment", {}),
        "protocol": peers.get("protocol", ""),
        "best_peer": best,
        "learned_minus_peer": comparisons,
    }


def _profile_summary(profile) -> dict[str, Any]:
    return {
        "formula": profile.formula,
        **{f"w_{signal}": float(getattr(profile, f"w_{signal}")) for signal in SIGNALS},
        "bias": float(profile.bias or 0.0),
        "mmr_lambda": float(profile.mmr_lambda),
        "max_per_category": int(profile.max_per_category),
    }
