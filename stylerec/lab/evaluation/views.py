"""The admin page showing the latest offline evaluation report (the store's own data by
default; ?dataset=demo or movielens for the others). Reads the JSON that
``manage.py stylerec_evaluate`` wrote; computes nothing."""

from __future__ import annotations

import json

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.safestring import mark_safe

from stylerec.lab.evaluation.datasets import DATASETS
from stylerec.lab.evaluation.report import report_html_body, report_paths


def evaluation_report_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    dataset = request.GET.get("dataset", "store")
    if dataset not in DATASETS:
        dataset = "store"
    json_path, _ = report_paths(dataset)
    result = json.loads(json_path.read_text(encoding="utf-8")) if json_path.exists() else None
    # report_html_body escapes every value it writes, so its output is safe to mark so.
    body = mark_safe(report_html_body(result, sentiment=result.get("sentiment"))) if result else ""  # noqa: S308
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Offline evaluation — {dataset}",
        "dataset": dataset,
        "datasets": DATASETS,
        "result": result,
        "report_html": body,
        "command": f"python manage.py stylerec_evaluate --dataset {dataset}",
    }
    return TemplateResponse(request, "stylerec/evaluation_report.html", context)
