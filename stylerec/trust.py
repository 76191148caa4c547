"""How much a customer's behaviour may move what *other* customers see: the trust weight.

One number per customer (a signed-in user, else an anonymous session), in ``[TRUST_FLOOR, 1]``,
computed in SQL from what stylerec already stores, so it is always current and needs no job:

* **age**: days since the customer's first recorded interaction, ``age / TRUST_AGE_DAYS``;
* **verified orders**: each distinct order recorded by the store's order hook
  (``services.orders.order_record``) adds ``ORDER_TRUST``; client events cannot make one;
* a brand-new account or session starts at ``TRUST_FLOOR``.

``trust = min(1, TRUST_FLOOR + age_days / TRUST_AGE_DAYS + ORDER_TRUST · verified_orders)``

Where it is applied (a customer's own recommendations never depend on it):

* **popularity** (``ranking.collaborative.popularity_refresh``): each customer's decayed,
  kind-weighted interactions with a product count × their trust, and what *new* customers (trust
  below ``LOW_TRUST``) add to a product together is capped at what established customers gave it:
  new accounts can at most double a product's popularity, and give none to a product that only
  they took up, however many they are;
* **co-occurrence** (``ranking.collaborative.cooccurrence_compute``): the customers two products
  share count × their trust, new ones together at most as much as the established ones (a pair
  only new accounts share is no pair), and the normalisation counts every customer;
* **review aggregates** (``services.aggregates``): a signed-in author's review weighs × their
  trust, and new authors' reviews together at most as much as the others (none on their own).

Bursts (many new customers on one product within hours: ``bursts_find``) are listed for staff in
the admin (Interactions → "Suspicious bursts"), who can purge them (``services.bursts``).

This module is read by the ranker, the services and the admin alike, so it imports neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stylerec.customers import INTERACTION_WEIGHTS, Owner
from stylerec.db import product_table, rows_fetch
from stylerec.models import Interaction, Review

TRUST_FLOOR = 0.01  # a customer seen for the first time just now
TRUST_AGE_DAYS = 30.0  # days of history that earn full trust on their own
ORDER_TRUST = 0.1  # per distinct verified order (ten orders earn full trust on their own)
LOW_TRUST = 0.5  # below this a customer is "new"

BURST_HOURS = 72
BURST_MIN_CUSTOMERS = 10
BURST_MIN_SHARE = 0.5  # new customers' share of the product's customers in the window


def _table() -> str:
    return Interaction._meta.db_table


# The weight of a customer, over all of their interaction rows (an aggregate expression).
TRUST_EXPR = (
    f"least(1.0, {TRUST_FLOOR!r}"
    " + greatest(extract(epoch FROM now() - min(created_at)), 0) / 86400.0"
    f" / {TRUST_AGE_DAYS!r}"
    f" + {ORDER_TRUST!r} * count(DISTINCT order_id) FILTER (WHERE kind = 'purchase' AND order_id <> '')"
    ")::float8"
)


def owner_key_sql(alias: str) -> str:
    """The SQL of ``Owner.key`` for rows of ``alias`` ("u<user id>", else "s<session key>")."""
    return f"coalesce('u' || {alias}.user_id::text, 's' || {alias}.session_key)"


def trust_cte(*, owners: str, name: str = "trust") -> str:
    """A CTE ``<name>(owner, trust)`` (one row per customer, ``owner`` as ``owner_key_sql``) for
    the customers listed by ``owners``: a CTE or subquery with ``user_id`` and ``session_key``
    columns. Join it with ``LEFT JOIN`` and read ``coalesce(<name>.trust, TRUST_FLOOR)``."""
    table = _table()
    return f"""{name} AS (
        SELECT 'u' || user_id::text AS owner, {TRUST_EXPR} AS trust FROM {table}
        WHERE user_id IN (SELECT user_id FROM {owners})
        GROUP BY user_id
        UNION ALL
        SELECT 's' || session_key, {TRUST_EXPR} FROM {table}
        WHERE user_id IS NULL AND session_key <> ''
          AND session_key IN (SELECT session_key FROM {owners} WHERE user_id IS NULL)
        GROUP BY session_key
    )"""


def trust_of(name: str = "trust") -> str:
    """The trust of a joined ``trust_cte`` row, the floor for a customer without one."""
    return f"coalesce({name}.trust, {TRUST_FLOOR!r})"


def users_trust(*, user_ids: Iterable[int]) -> dict[int, float]:
    """{user id: trust} of signed-in customers (``TRUST_FLOOR`` for one with no history)."""
    ids = sorted({int(pk) for pk in user_ids})
    if not ids:
        return {}
    rows = rows_fetch(
        f"WITH owners AS (SELECT unnest(%s::bigint[]) AS user_id, ''::text AS session_key), "
        f"{trust_cte(owners='owners')} SELECT owner, trust FROM trust",
        [ids],
    )
    found = {int(owner[1:]): float(trust) for owner, trust in rows}
    return {pk: found.get(pk, TRUST_FLOOR) for pk in ids}


def owner_trust(owner: Owner) -> float:
    """One customer's trust."""
    if not owner.known:
        return TRUST_FLOOR
    rows = rows_fetch(
        f"WITH owners AS (SELECT %s::bigint AS user_id, %s::text AS session_key), "
        f"{trust_cte(owners='owners')} SELECT trust FROM trust",
        [owner.user_id, "" if owner.user_id else owner.session_key],
    )
    return float(rows[0][0]) if rows else TRUST_FLOOR


# --- bursts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Burst:
    """Many new customers on one product within the window."""

    product_id: int
    title: str
    new_customers: int  # customers below LOW_TRUST who interacted with or reviewed it
    customers: int  # every customer who did, in the window
    reviews: int  # reviews by the new customers in the window
    first_at: datetime
    last_at: datetime

    @property
    def share(self) -> float:
        return self.new_customers / self.customers if self.customers else 0.0


def _recent_activity_cte(*, hours: float) -> tuple[str, dict[str, Any]]:
    """``recent(product_id, user_id, session_key, created_at, is_review)``: interactions naming a
    product and reviews by signed-in authors, within the last ``hours``; then the customers' trust."""
    sql = f"""
        recent AS (
            SELECT product_id, user_id, CASE WHEN user_id IS NULL THEN session_key ELSE '' END AS session_key,
                   created_at, false AS is_review
            FROM {_table()}
            WHERE product_id IS NOT NULL AND kind = ANY(%(kinds)s)
              AND (user_id IS NOT NULL OR session_key <> '')
              AND created_at > now() - make_interval(secs => %(seconds)s)
            UNION ALL
            SELECT product_id, user_id, '', created_at, true FROM {Review._meta.db_table}
            WHERE user_id IS NOT NULL AND created_at > now() - make_interval(secs => %(seconds)s)
        ), owners AS (SELECT DISTINCT user_id, session_key FROM recent),
        {trust_cte(owners="owners")},
        per_owner AS (
            SELECT r.product_id, {owner_key_sql("r")} AS owner, min(r.user_id) AS user_id,
                   min(r.session_key) AS session_key, {trust_of()} AS trust,
                   count(*) FILTER (WHERE r.is_review) AS reviews,
                   min(r.created_at) AS first_at, max(r.created_at) AS last_at
            FROM recent r LEFT JOIN trust ON trust.owner = {owner_key_sql("r")}
            GROUP BY r.product_id, {owner_key_sql("r")}, trust.trust
        )"""
    return sql, {"kinds": list(INTERACTION_WEIGHTS), "seconds": float(hours) * 3600.0}


def bursts_find(
    *,
    hours: float = BURST_HOURS,
    min_customers: int = BURST_MIN_CUSTOMERS,
    min_share: float = BURST_MIN_SHARE,
    limit: int = 50,
) -> list[Burst]:
    """Products that at least ``min_customers`` new customers (trust below ``LOW_TRUST``) viewed,
    clicked, carted or reviewed within the last ``hours``, making up at least ``min_share`` of the
    product's customers in that window; the largest bursts first."""
    cte, params = _recent_activity_cte(hours=hours)
    table, pk = product_table()
    rows = rows_fetch(
        f"""
        WITH {cte}
        SELECT b.product_id, p.title, b.new_customers, b.customers, b.reviews, b.first_at, b.last_at
        FROM (
            SELECT product_id,
                   count(*) FILTER (WHERE trust < %(low)s) AS new_customers, count(*) AS customers,
                   coalesce(sum(reviews) FILTER (WHERE trust < %(low)s), 0) AS reviews,
                   min(first_at) FILTER (WHERE trust < %(low)s) AS first_at,
                   max(last_at) FILTER (WHERE trust < %(low)s) AS last_at
            FROM per_owner GROUP BY product_id
        ) b JOIN {table} p ON p.{pk} = b.product_id
        WHERE b.new_customers >= %(min_customers)s
          AND b.new_customers::float8 / b.customers >= %(min_share)s
        ORDER BY b.new_customers DESC, b.product_id
        LIMIT %(limit)s
        """,
        {
            **params,
            "low": LOW_TRUST,
            "min_customers": int(min_customers),
            "min_share": float(min_share),
            "limit": int(limit),
        },
    )
    return [
        Burst(
            product_id=int(row[0]),
            title=row[1],
            new_customers=int(row[2]),
            customers=int(row[3]),
            reviews=int(row[4]),
            first_at=row[5],
            last_at=row[6],
        )
        for row in rows
    ]


def burst_owners(*, product_id: int, hours: float = BURST_HOURS) -> list[Owner]:
    """The new customers (trust below ``LOW_TRUST``) behind the burst on ``product_id``."""
    cte, params = _recent_activity_cte(hours=hours)
    rows = rows_fetch(
        f"WITH {cte} SELECT user_id, session_key FROM per_owner "
        "WHERE product_id = %(product_id)s AND trust < %(low)s ORDER BY owner",
        {**params, "product_id": int(product_id), "low": LOW_TRUST},
    )
    return [
        Owner(user_id=int(user_id)) if user_id is not None else Owner(session_key=session_key)
        for user_id, session_key in rows
    ]
