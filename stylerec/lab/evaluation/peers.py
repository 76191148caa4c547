"""RecBole peers in the same report: the split exported to RecBole's atomic files, the peers'
top-100 lists read back and scored by this package's metric code.

``make peers`` runs the three steps: ``stylerec_evaluate --export-recbole var/peers`` (this
module's ``split_export_recbole``), ``benchmarks/peers/run_peers.py`` in ``.venv-peers`` (RecBole
1.2.1 trains BPR, ItemKNN, Pop and SASRec on that split and writes every user's top 100, their
history removed), and ``stylerec_evaluate --score-peers var/peers/rankings.json``
(``peers_score``), which writes ``benchmarks/results/peers_<dataset>.json``: per peer its
hyper-parameters, wall time, the test metrics and each user's NDCG@10 and HR@10 (what the paired
bootstrap resamples). ``stylerec_evaluate`` puts that file's peers beside its own methods.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from stylerec.lab.evaluation import metrics
from stylerec.lab.evaluation.protocol import InteractionLog, LeaveOneOutSplit

RECBOLE_DATASET = "stylerec-ml100k"
PEERS_FILE = "peers_{dataset}.json"
PER_USER = ("ndcg@10", "hr@10")  # what the bootstrap compares
PEER_LABELS = {"Pop": "MostPop (RecBole)", "ItemKNN": "ItemKNN (RecBole)", "BPR": "BPR (RecBole)"}


def peer_label(model: str) -> str:
    return PEER_LABELS.get(model, f"{model} (RecBole)")


def split_log_ordered(split: LeaveOneOutSplit) -> InteractionLog:
    """Every interaction of the split, each user's in the split's order (train by time, ties in
    the log's order, then the validation item, then the test item), users in index order."""
    log = split.train.concat(split.valid).concat(split.test)
    stage = np.r_[np.zeros(len(split.train)), np.ones(len(split.valid)), np.full(len(split.test), 2)]
    # the train rows are already in the split's order within each user (a stable sort keeps it)
    order = np.lexsort((np.arange(len(log)), stage, log.users))
    return log.take(order)


def split_fingerprint(split: LeaveOneOutSplit) -> str:
    """A short hash of the evaluated (user, validation item, test item) triples: a peers file is
    reused only for the split it was made on."""
    triples = np.stack([split.valid.users, split.valid.items, split.test.items]).astype(np.int64)
    return hashlib.sha1(triples.tobytes()).hexdigest()[:16]


def split_export_recbole(*, split: LeaveOneOutSplit, directory: Path) -> Path:
    """Write the split as RecBole's atomic ``.inter`` file (``user_id:token item_id:token
    timestamp:float``; tokens are this package's 0-based indices). Rows follow
    ``split_log_ordered``: RecBole's leave-one-out (``order: TO``, a stable sort on time over
    the file's order) then gives back exactly this split. Returns the file's path."""
    path = directory / RECBOLE_DATASET / f"{RECBOLE_DATASET}.inter"
    path.parent.mkdir(parents=True, exist_ok=True)
    log = split_log_ordered(split)
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    lines.extend(
        f"{u}\t{i}\t{t:.0f}"
        for u, i, t in zip(log.users.tolist(), log.items.tolist(), log.timestamps.tolist(), strict=True)
    )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def peers_score(
    *, rankings_file: Path, split: LeaveOneOutSplit, n_items: int, ks, item_vectors=None
) -> dict[str, Any]:
    """Score every peer's top-100 lists with ``metrics`` against the split's test items.
    A user a peer left without a list counts as a miss."""
    raw = json.loads(Path(rankings_file).read_text(encoding="utf-8"))
    users = split.test.users
    relevant = [{int(item)} for item in split.test.items]
    history = split.train.concat(split.valid).matrix(n_users=split.n_users, n_items=n_items)
    out: dict[str, Any] = {
        "split": split_fingerprint(split),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": {key: raw.get(key) for key in ("recbole", "torch", "numpy", "threads", "top_k")},
        "protocol": (
            "RecBole's standard: trained on train, early stopping on validation NDCG@10, scored on "
            "test; the top-100 of the full catalog per user, the user's train + validation items "
            "removed; scored by stylerec's metric code (MRR is MRR@100)"
        ),
        "models": {},
    }
    for model, entry in raw["models"].items():
        lists = entry["rankings"]
        rankings = [np.array([int(i) for i in lists.get(str(int(u)), [])], dtype=np.int64) for u in users]
        leaked = sum(
            bool(np.isin(r, history.indices[history.indptr[u] : history.indptr[u + 1]]).any())
            for r, u in zip(rankings, users.tolist(), strict=True)
        )
        if leaked:
            raise ValueError(f"{model}: {leaked} users' lists contain items of their history")
        summary = metrics.metrics_summarise(
            rankings=rankings, relevant=relevant, ks=ks, n_items=n_items, item_vectors=item_vectors
        )
        out["models"][peer_label(model)] = {
            "model": model,
            "params": entry["params"],
            "seconds": entry["seconds"],
            "best_epoch": entry.get("best_epoch"),
            "test": summary,
            "per_user": {
                key: np.round(
                    metrics.metric_per_user(rankings=rankings, relevant=relevant, key=key), 6
                ).tolist()
                for key in PER_USER
            },
        }
    return out


def peers_load(*, path: Path, split: LeaveOneOutSplit) -> dict[str, Any] | None:
    """The committed peers file when it was made on this split, else None."""
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if data.get("split") == split_fingerprint(split) else None
