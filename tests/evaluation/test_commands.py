"""The evaluation and learning commands end to end on small samples, the store loader, the
text-encoder path and the admin report page."""

import datetime as dt
import json

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from stylerec.lab.evaluation import datasets, stylerec_model
from stylerec.lab.evaluation.runner import LEARNED_METHOD
from stylerec.lab.management.commands.stylerec_learn_weights import profile_name_free
from stylerec.models import Interaction, RankingProfile
from tests.factories import make_product, make_user

pytestmark = pytest.mark.django_db

SMALL = {"dataset": "movielens", "max_users": 60, "encoder": "genres"}


@pytest.fixture
def fuse_calls(monkeypatch):
    """Counts the calls of the serving formula made by the offline ranker."""
    from stylerec.ranking import scoring

    calls = []

    def spy(matrix, profile):
        calls.append(profile)
        return scoring.fuse(matrix, profile)

    monkeypatch.setattr(stylerec_model, "fuse", spy)
    return calls


def test_evaluate_movielens_sample_writes_json_and_html(tmp_path, fuse_calls, capsys):
    call_command("stylerec_evaluate", **SMALL, quick=True, output_dir=tmp_path)
    result = json.loads((tmp_path / "evaluation_movielens.json").read_text())
    assert result["label"] == "real"
    assert result["data"]["evaluated_customers"] == 60 and result["data"]["items"] == 1682
    expected = {
        "popularity",
        "item-kNN",
        "BPR (implicit)",
        "ALS (implicit)",
        "stylerec (default)",
        LEARNED_METHOD,
    }
    assert set(result["methods"]) == expected
    for method in result["methods"].values():
        for key in ("hr@1", "ndcg@5", "recall@10", "f1@20", "mrr", "coverage@10", "diversity@10"):
            assert 0.0 <= method["test"][key] <= 1.0
    assert {row["signal"] for row in result["ablation"]} == {
        "history", "context", "style", "visual", "sentiment", "collaborative", "popularity", "freshness",
        "factor", "sequence",
    }  # fmt: skip
    assert [row["available"] for row in result["ablation"] if row["signal"] == "visual"] == [False]
    html = (tmp_path / "evaluation_movielens.html").read_text()
    assert html.count("<svg") == 4 and "http" not in html.replace("http://www.w3.org/2000/svg", "")
    out = capsys.readouterr().out
    assert "stylerec (learned)" in out and "NDCG@10" in out
    # stylerec is scored by the serving formula (default + learned + tuning + ablation profiles)
    assert len(fuse_calls) >= 60 * 4


def test_evaluate_shows_the_sentiment_report_when_present(tmp_path, capsys):
    (tmp_path / "sentiment_eval.json").write_text(
        json.dumps(
            {
                "languages": {
                    "zh": {"accuracy": 0.91, "macro_f1": 0.9},
                    "en": {"accuracy": 0.8, "macro_f1": 0.79},
                }
            }
        )
    )
    call_command(
        "stylerec_evaluate",
        **SMALL,
        quick=True,
        methods="popularity",
        include_sentiment=True,
        output_dir=tmp_path,
    )
    out = capsys.readouterr().out
    assert "accuracy 0.9100, macro-F1 0.9000" in out
    html = (tmp_path / "evaluation_movielens.html").read_text()
    assert "Sentiment model" in html and "0.7900" in html


def test_learn_weights_saves_an_inactive_profile_with_before_and_after(capsys):
    RankingProfile.objects.create(name="live", is_active=True)
    call_command("stylerec_learn_weights", **SMALL, name="learned-test")
    profile = RankingProfile.objects.get(name="learned-test")
    assert not profile.is_active
    assert RankingProfile.objects.get(name="live").is_active
    assert profile.formula == "additive"
    assert profile.w_collaborative != RankingProfile._meta.get_field("w_collaborative").default
    assert profile.w_visual == 0.0  # MovieLens has no images: the learner leaves the signal out
    metrics = profile.metrics
    assert metrics["base_profile"] == "live" and metrics["dataset"] == "movielens"
    assert set(metrics["before"]) >= {"ndcg@10", "hr@10"} and set(metrics["after"]) >= {"ndcg@10", "hr@10"}
    assert metrics["trained_on"]["positives"] == 60
    # a second run the same day does not clash with the first
    assert profile_name_free("learned-test") == "learned-test-2"


def _store_history():
    """12 customers; each views 3 shirts then buys a bag, in time order."""
    shirts = [make_product(direction=i, category="Shirt") for i in range(6)]
    bags = [make_product(direction=10 + i, category="Bag") for i in range(3)]
    start = timezone.now() - dt.timedelta(days=20)
    for n in range(12):
        user = make_user()
        viewed = [shirts[(n + j) % 6] for j in range(3)]
        for j, product in enumerate([*viewed, bags[n % 3]]):
            Interaction.objects.create(
                user=user, product=product, kind="purchase" if product in bags else "view",
                created_at=start + dt.timedelta(days=n, hours=j),
            )  # fmt: skip
        Interaction.objects.create(user=user, product=bags[0], kind="impression", created_at=start)
    return shirts, bags


def test_store_loader_reads_positive_interactions_only():
    _store_history()
    data = datasets.store_load()
    assert data.label == "real" and data.n_items == 9 and data.n_users == 12
    assert len(data.log) == 12 * 4  # impressions are not positives
    assert data.item_content.shape == (9, 384)
    assert data.item_visual is not None and data.item_visual.shape == (9, 1280)
    assert datasets.dataset_load(name="demo").label == "simulated"


def test_learn_weights_on_store_data_and_admin_shows_the_report(tmp_path, settings, client):
    settings.BASE_DIR = tmp_path
    _store_history()
    call_command("stylerec_learn_weights")
    learned = RankingProfile.objects.get(name__startswith="learned-")
    assert not learned.is_active and learned.metrics["dataset"] == "store"
    call_command("stylerec_evaluate", dataset="store", quick=True)
    assert (tmp_path / "benchmarks" / "results" / "evaluation_store.json").exists()
    admin_user = make_user(is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    page = client.get(reverse("admin:stylerec_rankingprofile_evaluation"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "stylerec (learned)" in body and "<svg" in body
    missing = client.get(reverse("admin:stylerec_rankingprofile_evaluation") + "?dataset=demo")
    assert "stylerec_evaluate --dataset demo" in missing.content.decode()


def test_no_interactions_is_a_clear_error():
    from django.core.management.base import CommandError

    make_product(direction=1)
    with pytest.raises(CommandError, match="no view/click/cart/purchase"):
        call_command("stylerec_evaluate", dataset="store")


def test_movielens_item_vectors_come_from_the_text_encoder_and_are_cached(monkeypatch, settings, tmp_path):
    settings.VAR_DIR = tmp_path

    class FakeEncoder:
        version = "fake-1"
        calls = 0

        def encode(self, texts):
            FakeEncoder.calls += 1
            vectors = np.zeros((len(texts), 384), dtype=np.float32)
            vectors[:, 0] = [len(t) for t in texts]
            vectors[:, 1] = 1.0
            return vectors

    from stylerec.ml import registry

    monkeypatch.setattr(registry, "get", lambda kind: FakeEncoder())
    first = datasets.movielens_load(max_users=5)
    calls = FakeEncoder.calls
    second = datasets.movielens_load(max_users=5)
    assert first.content_source.startswith("text encoder fake-1")
    assert first.item_content.shape == (1682, 384)
    assert FakeEncoder.calls == calls  # the second load read var/cache
    assert np.allclose(first.item_content, second.item_content)
    assert list((tmp_path / "cache").glob("ml100k-text-*.npy"))


def test_movielens_falls_back_to_genres_when_the_encoder_is_unavailable(monkeypatch, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    from stylerec.ml import registry

    def broken(kind):
        raise RuntimeError("no weights here")

    monkeypatch.setattr(registry, "get", broken)
    data = datasets.movielens_load(max_users=5)
    assert "genre one-hot (text encoder unavailable: no weights here)" == data.content_source
    assert data.item_content.shape == (1682, len(datasets.GENRE_STYLES))  # "unknown" is no style


def test_evaluate_migrates_an_unmigrated_database_first(monkeypatch, tmp_path, capsys):
    """A fresh clone after `make install` has no tables: the command runs `migrate` itself."""
    from django.core import management
    from django.db.migrations.executor import MigrationExecutor

    ran = []
    real_call_command = management.call_command

    def spy(name, *args, **kwargs):
        if name == "migrate":
            ran.append(kwargs)
            return None
        return real_call_command(name, *args, **kwargs)

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("stylerec", False)])
    monkeypatch.setattr(management, "call_command", spy)
    call_command(
        "stylerec_evaluate",
        **{**SMALL, "max_users": 20},
        quick=True,
        methods="popularity",
        output_dir=tmp_path,
    )
    assert ran == [{"interactive": False, "verbosity": 0}]
    assert "running `manage.py migrate` first" in capsys.readouterr().out


def test_peers_export_score_and_report_through_the_command(tmp_path, capsys):
    """`make peers` through the command: export the split, score a peer's lists (here made up:
    the unseen items in index order) into peers_movielens.json, and the report carries the peer
    with the paired bootstrap against it."""
    call_command("stylerec_evaluate", **SMALL, export_recbole=tmp_path / "peers")
    inter = tmp_path / "peers" / "stylerec-ml100k" / "stylerec-ml100k.inter"
    history: dict[str, list[str]] = {}
    for line in inter.read_text().splitlines()[1:]:
        user, item, _ = line.split("\t")
        history.setdefault(user, []).append(item)
    lists = {
        u: [str(i) for i in range(1682) if str(i) not in set(items[:-1])][:100]
        for u, items in history.items()
    }
    rankings = tmp_path / "rankings.json"
    rankings.write_text(
        json.dumps({"recbole": "1.2.1", "models": {"Pop": {"params": {}, "seconds": 1.0, "rankings": lists}}})
    )
    call_command("stylerec_evaluate", **SMALL, score_peers=rankings, output_dir=tmp_path)
    assert (
        json.loads((tmp_path / "peers_movielens.json").read_text())["models"]["MostPop (RecBole)"]["test"][
            "users"
        ]
        == 60
    )
    call_command("stylerec_evaluate", **SMALL, quick=True, output_dir=tmp_path)
    result = json.loads((tmp_path / "evaluation_movielens.json").read_text())
    assert result["methods"]["MostPop (RecBole)"]["peer"] is True
    comparison = result["peers"]
    assert comparison["available"] and comparison["best_peer"] == "MostPop (RecBole)"
    ci = comparison["learned_minus_peer"]["MostPop (RecBole)"]["ndcg@10"]
    assert ci["low"] <= ci["mean"] <= ci["high"] and ci["resamples"] == 1000
    assert "RecBole peers" in (tmp_path / "evaluation_movielens.html").read_text()
    # another split (more customers) does not reuse that peers file
    call_command("stylerec_evaluate", **{**SMALL, "max_users": 61}, quick=True, output_dir=tmp_path)
    assert json.loads((tmp_path / "evaluation_movielens.json").read_text())["peers"] == {"available": False}
