"""Learn RankingProfile weights by logistic regression on logged interactions and save them as
a new, *inactive* profile for a merchandiser to review and activate.

    python manage.py stylerec_learn_weights                 # the store's own interactions
    python manage.py stylerec_learn_weights --dataset demo  # simulated histories (labelled so)

Positives are each customer's validation-stage item (their next view/click/cart/purchase after
the history the signals are built from), negatives are sampled from what they never met. The
profile's ``metrics`` holds held-out (test-stage) metrics of the base profile ("before") and of the
learned one ("after").
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from stylerec.lab.evaluation import learn
from stylerec.lab.evaluation.datasets import DatasetUnavailable, dataset_load
from stylerec.lab.evaluation.runner import DEFAULT_METHOD, LEARNED_METHOD, evaluation_run
from stylerec.lab.management.commands.stylerec_evaluate import (
    base_profile_load,
    database_migrate,
    dataset_arguments,
)

KEPT_METRICS = (
    "hr@10",
    "ndcg@10",
    "precision@10",
    "recall@10",
    "mrr",
    "coverage@10",
    "diversity@10",
    "users",
)


def profile_name_free(stem: str) -> str:
    from stylerec.models import RankingProfile

    name, n = stem, 2
    while RankingProfile.objects.filter(name=name).exists():
        name, n = f"{stem}-{n}", n + 1
    return name


class Command(BaseCommand):
    help = "Fit profile weights by logistic regression and save them as an inactive RankingProfile."

    def add_arguments(self, parser):
        dataset_arguments(parser, default="store")
        parser.add_argument("--name", default=None, help="default: learned-<today>")
        parser.add_argument("--dry-run", action="store_true", help="print the weights, save nothing")

    def handle(self, *args, **options):
        from stylerec.models import RankingProfile

        database_migrate(self.stdout)
        try:
            dataset = dataset_load(
                name=options["dataset"], max_users=options["max_users"] or None, encoder=options["encoder"]
            )
            base = base_profile_load(options["profile"])
            result = evaluation_run(dataset=dataset, base_profile=base, methods=())
        except (DatasetUnavailable, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        learned = result["learned_profile"]
        before = result["methods"][DEFAULT_METHOD]["test"]
        after = result["methods"][LEARNED_METHOD]["test"]
        name = profile_name_free(options["name"] or f"learned-{dt.date.today().isoformat()}")
        profile = learn.profile_with_weights(
            base=base,
            weights=learned["weights"],
            bias=learned["bias"],
            name=name,
            mmr_lambda=learned["mmr_lambda"],
            max_per_category=learned["max_per_category"],
        )
        profile.description = (
            f"Learned by logistic regression on {dataset.name} ({dataset.label}) data from base profile "
            f"{base.name!r}. Inactive until a merchandiser activates it."
        )
        profile.metrics = {
            "method": "logistic regression on the signal matrix of fuse",
            "dataset": dataset.name,
            "label": dataset.label,
            "base_profile": base.name,
            "trained_on": result["methods"][LEARNED_METHOD]["training_rows"],
            "evaluated_customers": result["data"]["evaluated_customers"],
            "held_out": "test stage of temporal leave-one-out (each customer's last interaction)",
            "before": {key: before[key] for key in KEPT_METRICS if key in before},
            "after": {key: after[key] for key in KEPT_METRICS if key in after},
            "ablation": {row["signal"]: row.get("delta_ndcg@10") for row in result["ablation"]},
            "generated_at": result["generated_at"],
        }
        if dataset.label == "simulated":
            self.stdout.write(self.style.WARNING("SIMULATED data: the demo's generated histories."))
        for signal, weight in learned["weights"].items():
            self.stdout.write(f"  w_{signal:<14} {weight:+.4f}")
        self.stdout.write(f"  bias            {learned['bias']:+.4f}")
        self.stdout.write(
            f"held-out NDCG@10 {before['ndcg@10']:.4f} ({base.name}) -> {after['ndcg@10']:.4f} (learned); "
            f"HR@10 {before['hr@10']:.4f} -> {after['hr@10']:.4f}"
        )
        if options["dry_run"]:
            return
        profile.save()
        assert not RankingProfile.objects.get(pk=profile.pk).is_active
        self.stdout.write(self.style.SUCCESS(f"saved inactive profile {profile.name!r} (id {profile.pk})"))
