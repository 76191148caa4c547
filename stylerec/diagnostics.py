"""Why is the block empty? What ``python manage.py stylerec_doctor`` looks at, in the order a new
store meets it: migrations, products that may be shown, vectors, the ranking profile, styles,
signals, and who runs the tasks (the host's Celery workers, or this process).

Every finding says what is wrong and what to run or change. Reads only: nothing here writes, and
the only thing that leaves the process is the worker ping, sent through the host's own Celery app
to the broker it configured (never Celery's default one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q

from stylerec.conf import stylerec_settings
from stylerec.models import (
    ArtifactState,
    ArtifactStatus,
    Interaction,
    RankingProfile,
    Style,
    get_product_model,
)

OK, INFO, WARNING, PROBLEM = "ok", "info", "warning", "problem"
PING_TIMEOUT_S = 1.0
SYNC = "python manage.py stylerec_sync"


@dataclass(frozen=True)
class Finding:
    level: str  # OK, INFO, WARNING or PROBLEM (a reason for an empty or poor block)
    topic: str
    message: str
    hint: str = ""


def diagnose(*, app: Any = None, ping_timeout: float = PING_TIMEOUT_S) -> list[Finding]:
    """Every finding, problems included. ``app``: the Celery app to ask (default: the host's)."""
    return [
        *migration_findings(),
        *catalog_findings(),
        *vector_findings(),
        *review_findings(),
        *profile_findings(),
        *style_findings(),
        *signal_findings(),
        *worker_findings(app=app, ping_timeout=ping_timeout),
    ]


def migration_findings() -> list[Finding]:
    from django.db.migrations.executor import MigrationExecutor

    from stylerec.checks import check_product_migrations

    findings = [
        Finding(PROBLEM, "migrations", error.msg, error.hint or "") for error in check_product_migrations()
    ]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan[:5]) + (", …" if len(plan) > 5 else "")
        findings.append(
            Finding(PROBLEM, "migrations", f"{len(plan)} not applied: {names}.", "python manage.py migrate")
        )
    if not findings:
        findings.append(Finding(OK, "migrations", "All applied; the product table has its vector columns."))
    return findings


def _shown(queryset: Any) -> Any:
    return queryset.filter(Q(stock__isnull=True) | Q(stock__gt=0))


def catalog_findings() -> list[Finding]:
    from stylerec.ranking.profiles import profile_active

    products = get_product_model().objects.filter(is_active=True)
    total = products.count()
    if not total:
        return [
            Finding(
                PROBLEM,
                "products",
                "No active product: there is nothing to recommend.",
                "Add products (or python manage.py stylerec_import_catalog FILE); is_active must be True.",
            )
        ]
    profile = profile_active()
    shown = _shown(products).count()
    if profile.in_stock_only and not shown:
        return [
            Finding(
                PROBLEM,
                "products",
                f"All {total} active products have stock 0, and the ranking profile "
                f"{profile.name!r} shows only products in stock: every block is empty.",
                "Set the real stock, or None where the store does not track it (None is shown), e.g. "
                "Product.objects.filter(stock=0).update(stock=None); or untick 'in stock only' on the "
                "ranking profile.",
            )
        ]
    hidden = total - shown
    note = f"; {hidden} sold out (stock 0) are not recommended" if hidden and profile.in_stock_only else ""
    return [Finding(OK, "products", f"{total} active products{note}.")]


def vector_findings() -> list[Finding]:
    products = get_product_model().objects.filter(is_active=True)
    total = products.count()
    if not total:
        return []
    findings = []
    with_image = products.exclude(image="")
    missing_text = products.filter(text_embedding__isnull=True).count()
    missing_image = with_image.filter(image_embedding__isnull=True).count()
    if missing_text == total:
        findings.append(
            Finding(
                PROBLEM,
                "vectors",
                f"None of the {total} products has a text vector yet: blocks fall back to trending "
                "products, without 'similar' or 'because you liked' reasons.",
                f"{SYNC}   (computes vectors, style scores and profiles, with progress and ETA)",
            )
        )
    elif missing_text or missing_image:
        findings.append(
            Finding(
                WARNING,
                "vectors",
                f"{missing_text} of {total} products have no text vector, {missing_image} of "
                f"{with_image.count()} with a photo no image vector.",
                f"{SYNC}, or let the workers finish (the tasks finding below says whether they run).",
            )
        )
    else:
        findings.append(Finding(OK, "vectors", f"All {total} products have their vectors."))
    failed = ArtifactState.objects.filter(status=ArtifactStatus.FAILED).count()
    if failed:
        kinds = sorted(
            set(ArtifactState.objects.filter(status=ArtifactStatus.FAILED).values_list("kind", flat=True))
        )
        findings.append(
            Finding(
                WARNING,
                "vectors",
                f"{failed} artifacts failed ({', '.join(kinds)}); their errors are in the admin "
                "(stylerec › Artifact states). Review sentiment fails until the sentiment model is trained.",
                "Fix the cause, then python manage.py stylerec_backfill --force --kind <kind> "
                "(python manage.py stylerec_train_sentiment trains the sentiment model, lab app).",
            )
        )
    return findings


def review_findings() -> list[Finding]:
    from stylerec.models import Review

    total = Review.objects.count()
    if not total:
        return []
    unread = Review.objects.filter(sentiment_score__isnull=True).count()
    if not unread:
        return [Finding(OK, "reviews", f"All {total} reviews are read (sentiment, preferences).")]
    return [
        Finding(
            WARNING,
            "reviews",
            f"{unread} of {total} reviews have no sentiment yet: ratings stand in for them, and "
            "'4.7★ from 120 reviews' reasons lean on the stars alone.",
            "Train the sentiment model once (lab app: python manage.py stylerec_fetch_datasets, then "
            f"python manage.py stylerec_train_sentiment), then {SYNC}.",
        )
    ]


def profile_findings() -> list[Finding]:
    active = RankingProfile.objects.filter(is_active=True).first()
    if active is None:
        return [
            Finding(
                INFO,
                "ranking profile",
                "No active ranking profile: the built-in default weights are used (only products in "
                "stock, at most 4 per category).",
                "To tune or A/B test the ranking, create one in the admin (stylerec › Ranking profiles).",
            )
        ]
    return [Finding(OK, "ranking profile", f"{active.name!r} is active.")]


def style_findings() -> list[Finding]:
    if Style.objects.filter(is_active=True).exists():
        return [Finding(OK, "styles", f"{Style.objects.filter(is_active=True).count()} active styles.")]
    return [
        Finding(
            INFO,
            "styles",
            "No styles: the 'in your style' block stays empty and no item gets a style reason.",
            f"Add styles (name, keywords) in the admin (stylerec › Styles), then {SYNC}.",
        )
    ]


def signal_findings() -> list[Finding]:
    if not Interaction.objects.filter(product__isnull=False).exists():
        return [
            Finding(
                INFO,
                "signals",
                "No interactions recorded yet: popularity and 'customers also viewed' start with the "
                "first views, clicks and purchases.",
                "Import past orders as purchase interactions to start warm (docs/operations.md).",
            )
        ]
    if not get_product_model().objects.filter(popularity__gt=0).exists():
        return [
            Finding(
                WARNING,
                "signals",
                "Interactions exist but popularity was never computed.",
                "python manage.py stylerec_refresh_signals (Celery beat runs it every 10 minutes; "
                f"without Celery, run {SYNC} from cron).",
            )
        ]
    return [Finding(OK, "signals", "Popularity is computed.")]


def worker_findings(*, app: Any = None, ping_timeout: float = PING_TIMEOUT_S) -> list[Finding]:
    from stylerec.services import queue

    app = app if app is not None else queue.celery_app()
    if app is None:
        unread = getattr(settings, "CELERY_BROKER_URL", None)
        return [
            Finding(
                WARNING if unread else INFO,
                "tasks",
                (
                    "CELERY_BROKER_URL is set but no Celery app reads it, so stylerec runs its tasks "
                    "in the process that saves (web requests included)."
                    if unread
                    else "No Celery app is configured: stylerec runs its tasks in the process that saves "
                    "(web requests included). Fine for development and small stores."
                ),
                "For workers, create the Celery app (docs/install.md, step 4). Meanwhile run "
                f"{SYNC} from cron: nothing else refreshes popularity.",
            )
        ]
    if app.conf.task_always_eager:
        return [
            Finding(
                INFO,
                "tasks",
                f"Celery app {app.main!r} runs tasks eagerly (task_always_eager): in the process "
                "that sends them.",
            )
        ]
    if not app.conf.broker_url:  # Celery would fall back to amqp://guest@localhost//: not asked here
        return [
            Finding(
                PROBLEM,
                "tasks",
                f"Celery app {app.main!r} names no broker, so Celery's default one "
                "(amqp://guest@localhost:5672//) gets stylerec's tasks.",
                "Set CELERY_BROKER_URL (read by app.config_from_object('django.conf:settings', "
                "namespace='CELERY')), or CELERY_TASK_ALWAYS_EAGER = True in development.",
            )
        ]
    return _ping(app, ping_timeout)


def _ping(app: Any, timeout: float) -> list[Finding]:
    wanted = {stylerec_settings.GPU_QUEUE, stylerec_settings.CPU_QUEUE}
    wanted |= {
        r if isinstance(r, str) else r["queue"] for r in (stylerec_settings.TASK_ROUTES or {}).values()
    }
    with app.connection_for_write() as conn:
        broker = conn.as_uri()  # the password masked
        try:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            replies = app.control.ping(timeout=timeout, connection=conn) or []
            consumed = _queues_consumed(app, conn, timeout) if replies else set()
        except Exception as exc:  # noqa: BLE001 - any failure to reach the broker is the finding
            return [
                Finding(
                    PROBLEM,
                    "tasks",
                    f"The broker {broker} cannot be reached ({type(exc).__name__}: {exc}): saved work "
                    "waits in the database.",
                    "Start the broker, or fix CELERY_BROKER_URL.",
                )
            ]
    queues = ",".join(sorted(wanted))
    if not replies:
        return [
            Finding(
                PROBLEM,
                "tasks",
                f"No Celery worker answered a ping within {timeout:g} s on {broker}: vectors, style "
                "scores and profiles are queued but nobody computes them.",
                f"Start a worker: celery -A <your project> worker -Q {queues} (docs/operations.md).",
            )
        ]
    missing = sorted(wanted - consumed) if consumed is not None else []
    if missing:
        return [
            Finding(
                PROBLEM,
                "tasks",
                f"{len(replies)} worker(s) answered, but none consumes {', '.join(missing)}: that work "
                "waits in the broker.",
                f"Start workers with -Q {queues} (docs/operations.md, 'Workers and queues').",
            )
        ]
    return [Finding(OK, "tasks", f"{len(replies)} worker(s) answered on {broker}.")]


def _queues_consumed(app: Any, conn: Any, timeout: float) -> set[str] | None:
    """Names of the queues the answering workers consume; None when they do not say."""
    active = app.control.inspect(timeout=timeout, connection=conn).active_queues()
    if not active:
        return None
    return {queue["name"] for queues in active.values() for queue in queues or []}
