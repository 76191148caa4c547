"""RecBole 1.2.1 peers on stylerec's exported split: train each model, write its top-100 per user.

Runs in ``.venv-peers`` (``make peers``), never in the main environment: RecBole 1.2.1 needs
numpy < 2. It reads the atomic file that ``manage.py stylerec_evaluate --export-recbole DIR``
wrote (``DIR/stylerec-ml100k/stylerec-ml100k.inter``: each user's interactions in the split's
order, so RecBole's own leave-one-out, ``order: TO`` with a stable sort on time, gives back
exactly that split; this script checks it user by user before training anything) and writes
``DIR/rankings.json``: per model its hyper-parameters, wall time, epochs, and for every user
the 100 best items of the full catalog with the user's train + validation items removed. The
metrics are computed by stylerec's own metric code from that file
(``manage.py stylerec_evaluate --score-peers DIR/rankings.json``): one metric code for all.

RecBole's standard protocol: models train on train, stop early on validation NDCG@10, and are
scored on test; a sequential model reads the user's train + validation sequence at test time.

    .venv-peers/bin/python benchmarks/peers/run_peers.py --data var/peers [--models BPR,SASRec]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch

DATASET = "stylerec-ml100k"
TOP_K = 100
SEED = 2020
THREADS = 2

COMMON = {
    "USER_ID_FIELD": "user_id",
    "ITEM_ID_FIELD": "item_id",
    "TIME_FIELD": "timestamp",
    "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
    # The exported log is already the protocol's: no filtering, no de-duplication by RecBole.
    "user_inter_num_interval": "[0,inf)",
    "item_inter_num_interval": "[0,inf)",
    "rm_dup_inter": None,
    "eval_args": {"order": "TO", "split": {"LS": "valid_and_test"}, "group_by": "user", "mode": "full"},
    "metrics": ["NDCG", "Hit"],
    "topk": [10],
    "valid_metric": "NDCG@10",
    "train_batch_size": 2048,
    "eval_batch_size": 4096,
    "device": "cpu",
    "use_gpu": False,
    "seed": SEED,
    "reproducibility": True,
    "show_progress": False,
    "save_dataset": False,
    "save_dataloaders": False,
}

# Each model's hyper-parameters: RecBole's defaults, a small grid where a peer has a knob that
# matters (chosen by RecBole's validation NDCG@10, never by test), epochs bounded so that the whole
# run takes well under half an hour on two CPU cores (early stopping on validation NDCG@10 stops most
# runs earlier).
# SASRec: RecBole's model (its defaults), trained on every position of each user's training
# sequence (chunks of MAX_ITEM_LIST_LENGTH + 1 items, softmax cross-entropy over the catalog at
# each position: the SASRec paper's objective with RecBole's CE loss). RecBole's own loop turns
# every prefix into a sample (98k sequences of 50 per epoch on MovieLens-100K), about 50 times
# the compute for the same signal: over eight minutes an epoch on two shared CPU cores.
SASREC = {
    "n_layers": 2,
    "n_heads": 2,
    "hidden_size": 64,
    "inner_size": 256,
    "hidden_dropout_prob": 0.5,
    "attn_dropout_prob": 0.5,
    "hidden_act": "gelu",
    "loss_type": "CE",
    "train_neg_sample_args": None,
    "MAX_ITEM_LIST_LENGTH": 50,
    "learning_rate": 0.001,
    "train_batch_size": 64,
    "epochs": 60,
    "stopping_step": 8,
}
PEERS: dict[str, list[dict]] = {
    "Pop": [{"epochs": 1}],
    "ItemKNN": [{"k": k, "shrink": 0.0, "epochs": 1} for k in (50, 100, 200)],
    "BPR": [
        {"embedding_size": 64, "learning_rate": lr, "epochs": 150, "stopping_step": 10}
        for lr in (0.001, 0.005)
    ],
    "SASRec": [SASREC],
}


def split_read(inter: Path) -> dict[str, list[str]]:
    """{user token: item tokens in file order} of the exported atomic file."""
    by_user: dict[str, list[str]] = {}
    with inter.open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            user, item, _ = line.rstrip("\n").split("\t")
            by_user.setdefault(user, []).append(item)
    return by_user


def split_check(dataset, test_data, expected: dict[str, list[str]]) -> None:
    """RecBole's test target for every user is the last item of the exported history, and its
    train + validation history is everything before it: the split round-trips."""
    uid_field, iid_field = dataset.uid_field, dataset.iid_field
    test = test_data.dataset.inter_feat
    users = dataset.id2token(uid_field, test[uid_field].numpy())
    items = dataset.id2token(iid_field, test[iid_field].numpy())
    got = dict(zip(users.tolist(), items.tolist(), strict=True))
    wrong = [u for u, seq in expected.items() if got.get(u) != seq[-1]]
    if wrong or len(got) != len(expected):
        raise SystemExit(f"RecBole's test items differ from the exported split for {len(wrong)} users")


def model_rankings(
    model, test_data, dataset, expected: dict[str, list[str]], top_k: int = TOP_K
) -> dict[str, list[str]]:
    """Top-``top_k`` item tokens per user over the full catalog, the user's train + validation
    items (all but the exported test item) and RecBole's padding item removed."""
    uid_field, iid_field = dataset.uid_field, dataset.iid_field
    item_index = {token: i for i, token in enumerate(dataset.field2id_token[iid_field])}
    out: dict[str, list[str]] = {}
    model.eval()
    with torch.no_grad():
        for batch in test_data:
            interaction = batch[0]
            scores = model.full_sort_predict(interaction).view(len(interaction), -1).clone()
            scores[:, 0] = -np.inf
            tokens = dataset.id2token(uid_field, interaction[uid_field].numpy())
            for row, user in enumerate(tokens.tolist()):
                seen = [item_index[item] for item in expected[user][:-1]]
                scores[row, seen] = -np.inf
            top = torch.topk(scores, min(top_k, scores.shape[1] - 1), dim=1).indices.numpy()
            for row, user in enumerate(tokens.tolist()):
                out[user] = dataset.id2token(iid_field, top[row]).tolist()
    return out


def pop_recount(model, train_data) -> None:
    """RecBole 1.2.1's Pop adds 1 per item per *batch* (``item_cnt[item] += 1`` with repeated
    indices counts once), so popular items tie near the number of batches; set the counts it
    means, the item's training interactions."""
    items = train_data._dataset.inter_feat[train_data._dataset.iid_field]
    counts = torch.bincount(items, minlength=model.n_items).to(torch.long)
    model.item_cnt = counts.view(-1, 1)
    model.max_cnt = counts.max().view(1)


def config_fit(name: str, params: dict, data: Path, expected: dict[str, list[str]]):
    """Train one configuration; (model, test data, dataset, validation NDCG@10, best epoch)."""
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    config = Config(
        model=name,
        dataset=DATASET,
        config_dict={**COMMON, **params, "data_path": str(data), "checkpoint_dir": str(data / "checkpoints")},
    )
    init_seed(config["seed"], config["reproducibility"])
    torch.set_num_threads(THREADS)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    split_check(dataset, test_data, expected)
    model = get_model(config["model"])(config, train_data._dataset).to("cpu")
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    # RecBole reloads the best epoch with torch.load's old default; torch >= 2.6 needs it said.
    checkpoint = torch.load(trainer.saved_model_file, map_location="cpu", weights_only=False)
    model.load_state_dict(checkpoint["state_dict"])
    model.load_other_parameter(checkpoint.get("other_parameter"))
    if name == "Pop":
        pop_recount(model, train_data)
        valid = trainer.evaluate(valid_data, load_best_model=False)["ndcg@10"]
    else:
        valid = checkpoint["best_valid_score"]
    return model, test_data, dataset, float(valid), int(checkpoint.get("epoch", 0)) + 1


def _padded(rows: list[list[int]], length: int) -> torch.Tensor:
    out = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def sasrec_positions(model, item_seq: torch.Tensor) -> torch.Tensor:
    """SASRec's forward (``SASRec.forward``) at every position, not only the last: B × L × H."""
    positions = torch.arange(item_seq.size(1), dtype=torch.long).unsqueeze(0).expand_as(item_seq)
    hidden = model.item_embedding(item_seq) + model.position_embedding(positions)
    hidden = model.dropout(model.LayerNorm(hidden))
    mask = model.get_attention_mask(item_seq)
    return model.trm_encoder(hidden, mask, output_all_encoded_layers=True)[-1]


def sasrec_scores(model, sequences: list[list[int]], length: int) -> torch.Tensor:
    """Full-catalog scores after each sequence (its last ``length`` items), RecBole's
    ``full_sort_predict``: the last position's output · every item embedding."""
    model.eval()
    rows = [seq[-length:] for seq in sequences]
    with torch.no_grad():
        out = []
        for start in range(0, len(rows), 512):
            batch = rows[start : start + 512]
            item_seq = _padded(batch, length)
            lengths = torch.tensor([len(r) for r in batch], dtype=torch.long)
            out.append(model.full_sort_predict({model.ITEM_SEQ: item_seq, model.ITEM_SEQ_LEN: lengths}))
    return torch.cat(out)


def masked_ndcg_at_10(scores: torch.Tensor, histories: list[list[int]], targets: list[int]) -> float:
    scores = scores.clone()
    scores[:, 0] = -np.inf
    for row, seen in enumerate(histories):
        scores[row, seen] = -np.inf
    target_scores = scores[torch.arange(len(targets)), torch.tensor(targets)]
    ranks = (scores > target_scores[:, None]).sum(dim=1).numpy()
    return float(np.where(ranks < 10, 1.0 / np.log2(ranks + 2.0), 0.0).mean())


def sasrec_run(params: dict, data: Path, expected: dict[str, list[str]], top_k: int) -> dict:
    """RecBole's SASRec trained on all positions (see ``SASREC``), early stopping on validation
    NDCG@10 (history masked), the best epoch's top-``top_k`` for the test stage."""
    from recbole.config import Config
    from recbole.data.dataset import Dataset
    from recbole.model.sequential_recommender.sasrec import SASRec
    from recbole.utils import init_seed

    started = time.perf_counter()
    config = Config(
        model="SASRec",
        dataset=DATASET,
        config_dict={**COMMON, **params, "data_path": str(data), "checkpoint_dir": str(data / "checkpoints")},
    )
    init_seed(config["seed"], config["reproducibility"])
    torch.set_num_threads(THREADS)
    dataset = Dataset(config)  # the item vocabulary only: no prefix augmentation
    token = {t: i for i, t in enumerate(dataset.field2id_token[dataset.iid_field])}
    users = sorted(expected, key=int)
    sequences = {u: [token[item] for item in expected[u]] for u in users}
    length = int(params["MAX_ITEM_LIST_LENGTH"])
    chunks = []
    for u in users:
        train = sequences[u][:-2]
        for end in range(len(train), 1, -length):
            chunks.append(train[max(0, end - length - 1) : end])
    inputs = _padded([c[:-1] for c in chunks], length)
    targets = _padded([c[1:] for c in chunks], length)
    model = SASRec(config, dataset)
    optimiser = torch.optim.Adam(model.parameters(), lr=float(params["learning_rate"]))
    generator = torch.Generator().manual_seed(SEED)
    valid_inputs = [sequences[u][:-2] for u in users]
    valid_targets = [sequences[u][-2] for u in users]
    best: tuple[float, int, dict] | None = None
    for epoch in range(int(params["epochs"])):
        model.train()
        for batch in torch.randperm(len(chunks), generator=generator).split(int(params["train_batch_size"])):
            optimiser.zero_grad()
            logits = sasrec_positions(model, inputs[batch]) @ model.item_embedding.weight.T
            wanted = targets[batch] > 0
            loss = torch.nn.functional.cross_entropy(logits[wanted], targets[batch][wanted])
            loss.backward()
            optimiser.step()
        valid = masked_ndcg_at_10(sasrec_scores(model, valid_inputs, length), valid_inputs, valid_targets)
        print(f"  SASRec epoch {epoch + 1}: validation NDCG@10 {valid:.4f}", flush=True)
        if best is None or valid > best[0]:
            best = (valid, epoch + 1, {k: v.clone() for k, v in model.state_dict().items()})
        elif epoch + 1 - best[1] >= int(params["stopping_step"]):
            break
    assert best is not None
    model.load_state_dict(best[2])
    test_inputs = [sequences[u][:-1] for u in users]
    scores = sasrec_scores(model, test_inputs, length)
    scores[:, 0] = -np.inf
    for row, seen in enumerate(test_inputs):
        scores[row, seen] = -np.inf
    top = torch.topk(scores, min(top_k, scores.shape[1] - 1), dim=1).indices.numpy()
    items = dataset.field2id_token[dataset.iid_field]
    return {
        "params": {**{key: params[key] for key in sorted(params)}, "training": "all positions"},
        "tuning": [],
        "best_epoch": best[1],
        "epochs_run": epoch + 1,
        "recbole_valid_ndcg@10": round(best[0], 4),
        "seconds": round(time.perf_counter() - started, 1),
        "rankings": {u: [str(items[i]) for i in top[row]] for row, u in enumerate(users)},
    }


def peer_run(name: str, grid: list[dict], data: Path, expected: dict[str, list[str]], top_k: int) -> dict:
    """Every configuration of ``grid`` trained and scored on validation; the best one's lists."""
    if name == "SASRec":
        return sasrec_run(grid[0], data, expected, top_k)
    started = time.perf_counter()
    tried, best = [], None
    for params in grid:
        model, test_data, dataset, valid, epoch = config_fit(name, params, data, expected)
        tried.append({"params": params, "valid_ndcg@10": round(valid, 4), "best_epoch": epoch})
        print(f"  {name} {params}: validation NDCG@10 {valid:.4f} (best epoch {epoch})", flush=True)
        if best is None or valid > best[0]:
            best = (valid, params, epoch, model, test_data, dataset)
    assert best is not None
    valid, params, epoch, model, test_data, dataset = best
    rankings = model_rankings(model, test_data, dataset, expected, top_k)
    return {
        "params": {key: params[key] for key in sorted(params)},
        "tuning": tried,
        "best_epoch": epoch,
        "recbole_valid_ndcg@10": round(valid, 4),
        "seconds": round(time.perf_counter() - started, 1),  # the whole grid
        "rankings": rankings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the folder --export-recbole wrote")
    parser.add_argument("--models", default=",".join(PEERS))
    parser.add_argument("--top-k", type=int, default=TOP_K, help="items kept per user")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.WARNING)
    import recbole

    data = args.data.resolve()
    os.chdir(data)  # RecBole writes its log/ and log_tensorboard/ folders into the working directory
    inter = data / DATASET / f"{DATASET}.inter"
    expected = split_read(inter)
    results = {
        "recbole": recbole.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "threads": THREADS,
        "top_k": args.top_k,
        "split_sha1": hashlib.sha1(inter.read_bytes()).hexdigest(),
        "models": {},
    }
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        print(f"{name}: training", flush=True)
        results["models"][name] = peer_run(name, PEERS[name], data, expected, args.top_k)
        print(f"{name}: {results['models'][name]['seconds']} s", flush=True)
    path = data / "rankings.json"
    previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if previous.get("split_sha1") == results["split_sha1"]:  # re-training some peers keeps the others
        kept = previous.get("models", {})
        results["models"] = {
            **{k: v for k, v in kept.items() if k not in results["models"]},
            **results["models"],
        }
    path.write_text(json.dumps(results), encoding="utf-8")
    print(f"wrote {data / 'rankings.json'}")


if __name__ == "__main__":
    main()
