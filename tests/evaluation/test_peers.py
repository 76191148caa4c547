"""The RecBole peers: the exported split is the protocol's split, their lists are scored by the
package's metric code, and (where ``.venv-peers`` exists) RecBole really trains on the export."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stylerec.lab.evaluation import metrics, peers
from stylerec.lab.evaluation.protocol import InteractionLog, log_deduplicate, split_leave_one_out

from .test_protocol import recbole_leave_one_out

ROOT = Path(__file__).resolve().parents[2]
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"


def shuffled_log(seed: int = 3) -> InteractionLog:
    """Six users, ties in time, a duplicate, rows in no particular order."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(6):
        n = 4 + user
        stamps = np.sort(rng.integers(0, 5, size=n)).astype(float)  # many ties
        items = rng.permutation(12)[:n]
        rows += [(user, int(i), float(t)) for i, t in zip(items, stamps, strict=True)]
    rows.append((0, rows[0][1], 9.0))  # a duplicate, later in time
    order = rng.permutation(len(rows))
    users, items, stamps = (np.array([rows[i][c] for i in order]) for c in range(3))
    return InteractionLog(users=users, items=items, timestamps=stamps, strengths=np.ones(len(users)))


def test_recbole_export_round_trips_to_the_same_split(tmp_path):
    log = log_deduplicate(shuffled_log())
    split = split_leave_one_out(log=log, n_users=6, n_items=12)
    path = peers.split_export_recbole(split=split, directory=tmp_path)
    recbole = recbole_leave_one_out(path)
    assert sorted(recbole) == split.eval_users.tolist()
    for user, valid, test in zip(
        split.valid.users.tolist(), split.valid.items.tolist(), split.test.items.tolist(), strict=True
    ):
        train = split.train.items[split.train.users == user].tolist()
        assert recbole[user] == [*train, valid, test]  # the same items, in the same order


def test_movielens_export_is_the_protocols_split_for_every_user(tmp_path):
    from stylerec.lab.evaluation.datasets import movielens_load

    data = movielens_load(encoder="genres")
    split = split_leave_one_out(log=data.log, n_users=data.n_users, n_items=data.n_items)
    recbole = recbole_leave_one_out(peers.split_export_recbole(split=split, directory=tmp_path))
    assert len(recbole) == 943
    got = {user: (items[-2], items[-1]) for user, items in recbole.items()}
    assert got == {
        u: (v, t)
        for u, v, t in zip(
            split.valid.users.tolist(), split.valid.items.tolist(), split.test.items.tolist(), strict=True
        )
    }
    assert sum(len(items) for items in recbole.values()) == len(data.log)


def _rankings_file(tmp_path, models: dict[str, dict[str, list[str]]]) -> Path:
    path = tmp_path / "rankings.json"
    path.write_text(
        json.dumps(
            {
                "recbole": "1.2.1",
                "models": {
                    name: {"params": {"k": 1}, "seconds": 1.5, "rankings": lists}
                    for name, lists in models.items()
                },
            }
        )
    )
    return path


def test_peer_lists_are_scored_by_the_package_metrics(tmp_path):
    split = split_leave_one_out(log=log_deduplicate(shuffled_log()), n_users=6, n_items=12)
    history = split.train.concat(split.valid)
    lists, rankings = {}, []
    for user, target in zip(split.test.users.tolist(), split.test.items.tolist(), strict=True):
        unseen = [i for i in range(12) if i not in set(history.items[history.users == user].tolist())]
        ranking = sorted(unseen, key=lambda i: (i != target) if user % 2 else -i)  # hit for odd users
        lists[str(user)] = [str(i) for i in ranking]
        rankings.append(np.array(ranking))
    scored = peers.peers_score(
        rankings_file=_rankings_file(tmp_path, {"Pop": lists}), split=split, n_items=12, ks=(1, 10)
    )
    peer = scored["models"]["MostPop (RecBole)"]
    relevant = [{int(i)} for i in split.test.items]
    assert peer["test"] == metrics.metrics_summarise(
        rankings=rankings, relevant=relevant, ks=(1, 10), n_items=12
    )
    assert (
        peer["per_user"]["hr@10"]
        == metrics.metric_per_user(rankings=rankings, relevant=relevant, key="hr@10").tolist()
    )
    assert scored["split"] == peers.split_fingerprint(split)


def test_a_peer_list_holding_a_history_item_is_refused(tmp_path):
    split = split_leave_one_out(log=log_deduplicate(shuffled_log()), n_users=6, n_items=12)
    seen = split.train.items[split.train.users == 0][0]
    lists = {
        str(u): [str(seen if u == 0 else t)] for u, t in zip(split.test.users, split.test.items, strict=True)
    }
    with pytest.raises(ValueError, match="history"):
        peers.peers_score(
            rankings_file=_rankings_file(tmp_path, {"BPR": lists}), split=split, n_items=12, ks=(10,)
        )


def test_a_peers_file_is_only_reused_for_its_own_split(tmp_path):
    split = split_leave_one_out(log=log_deduplicate(shuffled_log()), n_users=6, n_items=12)
    other = split_leave_one_out(log=log_deduplicate(shuffled_log(seed=4)), n_users=6, n_items=12)
    path = tmp_path / "peers_x.json"
    path.write_text(json.dumps({"split": peers.split_fingerprint(split), "models": {}}))
    assert peers.peers_load(path=path, split=split) is not None
    assert peers.peers_load(path=path, split=other) is None
    assert peers.peers_load(path=tmp_path / "missing.json", split=split) is None


@pytest.mark.slow
@pytest.mark.skipif(
    not PEERS_PYTHON.exists(), reason="no .venv-peers: `make peers` creates it (RecBole 1.2.1, its own numpy)"
)
def test_recbole_trains_on_the_export_and_its_lists_score(tmp_path):
    """Pop in RecBole on a small exported split: the run checks RecBole's test items against the
    export (it stops otherwise), and its lists hold no history item (``peers_score`` refuses
    those) and no padding item."""
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(30), 8)
    items = np.concatenate([rng.choice(25, size=8, replace=False) for _ in range(30)])
    log = InteractionLog(
        users=users, items=items, timestamps=np.tile(np.arange(8.0), 30), strengths=np.ones(len(users))
    )
    split = split_leave_one_out(log=log, n_users=30, n_items=25)
    peers.split_export_recbole(split=split, directory=tmp_path)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(
        [str(PEERS_PYTHON), str(ROOT / "benchmarks" / "peers" / "run_peers.py"), "--data", str(tmp_path),
         "--models", "Pop", "--top-k", "10"],
        check=True, cwd=tmp_path, env=env, timeout=300, stdout=sys.stdout,
    )  # fmt: skip
    scored = peers.peers_score(rankings_file=tmp_path / "rankings.json", split=split, n_items=25, ks=(10,))
    pop = scored["models"]["MostPop (RecBole)"]
    assert pop["test"]["users"] == 30 and 0.0 <= pop["test"]["ndcg@10"] <= 1.0
    raw = json.loads((tmp_path / "rankings.json").read_text())["models"]["Pop"]["rankings"]
    assert sorted(raw, key=int) == [str(u) for u in range(30)]
    assert all(len(set(items)) == 10 for items in raw.values())  # full lists, no padding item
