"""A shop owner installs stylerec into an existing store, following docs/install.md, and it just
works (issue #14).

The test builds stylerec's wheel, creates a throwaway project with ``django-admin startproject``
whose own ``catalog.Product`` table already holds rows, and then runs the code blocks of
docs/install.md that are marked as steps (``<!-- step: KIND ARGS -->`` above a fenced block), in
the page's order: the page and this test are one list of steps, so they cannot drift apart. A step
kind this test does not know fails it.

The project runs on the CI environment's Python (``.venv``) with ``PYTHONPATH`` pointing at the
wheel installed with ``pip install --no-deps --target`` (the registry is not asked for anything),
on its own database of the test server, without a Celery app and without network: the last
check proves nothing was sent to a broker (RabbitMQ listens on 127.0.0.1:5672 in CI).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL_MD = ROOT / "docs" / "install.md"
STEP = re.compile(
    r"<!-- step: (?P<kind>[\w-]+)(?P<args>[^>]*?) -->\n```(?P<lang>\w*)\n(?P<code>.*?)\n```", re.S
)
KINDS = {"pip", "append", "inherit", "run", "depend", "template", "check-schema"}
PLACEHOLDER = "<!-- stylerec block -->"
PRODUCTS = [
    ("Linen shirt, white", "A breathable white linen shirt for hot summer days."),
    ("Linen shirt, sand", "Relaxed sand-coloured linen shirt, light and breathable."),
    ("Linen shirt, navy", "Navy linen shirt with a camp collar, cool in summer."),
    ("Linen trousers", "Wide linen trousers, breathable summer wear."),
    ("Linen dress", "A flowing linen summer dress."),
    ("Linen shorts", "Light linen shorts for the beach."),
    ("Leather boots, brown", "Sturdy brown leather boots with a lug sole for winter."),
    ("Leather boots, black", "Black leather ankle boots, waterproof, for cold wet days."),
    ("Chelsea boots", "Suede chelsea boots with elastic sides."),
    ("Hiking boots", "Waterproof leather hiking boots with ankle support."),
    ("Wool socks", "Thick merino wool socks for boots in winter."),
    ("Leather belt", "A brown full-grain leather belt."),
]
K = 8  # the docs' block: {% recommendations "for_you" product=product k=8 %}


@dataclass
class Step:
    kind: str
    args: list[str]
    code: str


def doc_steps() -> list[Step]:
    text = INSTALL_MD.read_text(encoding="utf-8")
    steps = [Step(m["kind"], m["args"].split(), m["code"]) for m in STEP.finditer(text)]
    assert text.count("<!-- step:") == len(steps), "a step marker is not directly above a fenced block"
    return steps


def test_the_install_page_is_a_list_of_steps_this_test_runs():
    steps = doc_steps()
    assert {step.kind for step in steps} <= KINDS
    kinds = [step.kind for step in steps]
    # The order a shop owner meets them: packages, settings, URLs, model, migrations, data, page.
    assert kinds.index("pip") < kinds.index("append") < kinds.index("inherit") < kinds.index("depend")
    assert kinds.index("depend") < kinds.index("template") < kinds.index("check-schema")
    commands = [line for step in steps if step.kind == "run" for line in _commands(step.code)]
    essential = [
        "python manage.py makemigrations catalog",
        "python manage.py migrate",
        "python manage.py stylerec_sync",
        "python manage.py stylerec_doctor",
    ]
    assert [c for c in commands if c in essential] == essential  # all of them, in this order
    assert all(c.startswith("python manage.py ") for c in commands)


def _commands(code: str) -> list[str]:
    return [line.split("#")[0].strip() for line in code.splitlines() if line.split("#")[0].strip()]


# --- the store ------------------------------------------------------------------------------


class Host:
    """The throwaway store: its project folder, its Python, its environment."""

    def __init__(self, base: Path, database: dict[str, str]):
        self.base = base
        self.project = base / "hoststore"
        self.site = base / "site"  # where the wheel is installed
        self.home = base / "home"
        self.database = database
        self.outputs: dict[str, str] = {}
        self.home.mkdir(parents=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "PYTHONPATH": str(self.site),
            "PYTHONDONTWRITEBYTECODE": "1",
            "DJANGO_SETTINGS_MODULE": "hoststore.settings",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", str(base / "run")),
        }

    def run(
        self, *args: str, check: bool = True, timeout: int = 900, settings: bool = True
    ) -> subprocess.CompletedProcess:
        """``python ARGS`` in the project folder; stdin is closed, so a question would be EOFError."""
        env = self.env if settings else {k: v for k, v in self.env.items() if k != "DJANGO_SETTINGS_MODULE"}
        result = subprocess.run(
            [sys.executable, *args],
            cwd=self.project if self.project.exists() else self.base,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            said = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            assert result.returncode == 0, f"python {' '.join(args)} failed ({result.returncode}):\n{said}"
        return result

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("manage.py", *args, check=check)

    def file(self, relative: str) -> Path:
        return self.project / relative


def _existing_store(host: Host) -> None:
    """A store as it is before stylerec: its own product model, page and rows."""
    host.project.mkdir()
    host.run("-m", "django", "startproject", "hoststore", str(host.project), settings=False)
    host.manage("startapp", "catalog")
    host.file("catalog/models.py").write_text(
        "from django.db import models\n\n\n"
        "class Product(models.Model):\n"
        "    title = models.CharField(max_length=200)\n"
        "    description = models.TextField(blank=True)\n"
        "    price = models.DecimalField(max_digits=8, decimal_places=2)\n"
        "    warehouse_code = models.CharField(max_length=20, blank=True)\n\n"
        "    def __str__(self):\n"
        "        return self.title\n"
    )
    host.file("catalog/views.py").write_text(
        "from django.shortcuts import get_object_or_404, render\n\n"
        "from catalog.models import Product\n\n\n"
        "def product_detail(request, pk):\n"
        "    product = get_object_or_404(Product, pk=pk)\n"
        '    return render(request, "catalog/product_detail.html", {"product": product})\n'
    )
    host.file("catalog/urls.py").write_text(
        "from django.urls import path\n\nfrom catalog import views\n\n"
        'app_name = "catalog"\n'
        'urlpatterns = [path("products/<int:pk>/", views.product_detail, name="product")]\n'
    )
    template = host.file("catalog/templates/catalog/product_detail.html")
    template.parent.mkdir(parents=True)
    template.write_text(
        f"<!doctype html>\n<html><body>\n<h1>{{{{ product.title }}}}</h1>\n{PLACEHOLDER}\n</body></html>\n"
    )
    with host.file("hoststore/settings.py").open("a") as settings:
        settings.write(
            '\nINSTALLED_APPS += ["catalog"]\n'
            'ALLOWED_HOSTS = ["testserver", "localhost"]\n'
            f"DATABASES = {{'default': {host.database!r}}}\n"
        )
    with host.file("hoststore/urls.py").open("a") as urls:
        urls.write(
            '\nfrom django.urls import include\n\nurlpatterns += [path("", include("catalog.urls"))]\n'
        )
    host.manage("makemigrations", "catalog")
    host.manage("migrate")
    rows = ", ".join(f"Product(title={t!r}, description={d!r}, price='49.00')" for t, d in PRODUCTS)
    host.manage("shell", "-c", f"from catalog.models import Product; Product.objects.bulk_create([{rows}])")


# --- the steps ------------------------------------------------------------------------------


def step_pip(host: Host, step: Step, wheel: Path) -> None:
    assert "pip install" in step.code and "stylerec" in step.code
    # The same package, from the wheel just built rather than from an index.
    host.run("-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(host.site), str(wheel))


def step_append(host: Host, step: Step) -> None:
    (name,) = step.args
    target = {"settings.py": "hoststore/settings.py", "urls.py": "hoststore/urls.py"}[name]
    with host.file(target).open("a") as fh:
        fh.write("\n" + step.code + "\n")


def step_inherit(host: Host, step: Step) -> None:
    path, model = step.args
    imports = [line for line in step.code.splitlines() if line.startswith("from stylerec")]
    assert imports and f"class {model}(AbstractProduct)" in step.code
    source = host.file(path).read_text()
    assert f"class {model}(models.Model):" in source
    source = source.replace(f"class {model}(models.Model):", f"class {model}(AbstractProduct):")
    host.file(path).write_text(
        source.replace(
            "from django.db import models\n", "from django.db import models\n" + "\n".join(imports) + "\n", 1
        )
    )


def step_run(host: Host, step: Step) -> None:
    for command in _commands(step.code):
        assert command.startswith("python manage.py "), command
        args = shlex.split(command)[2:]
        result = host.manage(*args)
        host.outputs[args[0]] = result.stdout + result.stderr


def step_depend(host: Host, step: Step) -> None:
    (app,) = step.args
    # Without the line, the check names the migration (it said nothing before issue #14).
    before = host.manage("check", check=False)
    assert before.returncode != 0 and "stylerec.E018" in before.stdout + before.stderr
    (line,) = [line for line in step.code.splitlines() if '("stylerec", "0001_vector_extension")' in line]
    newest = sorted(host.file(f"{app}/migrations").glob("0*.py"))[-1]
    source = newest.read_text()
    assert "dependencies = [\n" in source
    newest.write_text(source.replace("dependencies = [\n", "dependencies = [\n" + line + "\n", 1))
    host.manage("check")


def step_template(host: Host, step: Step) -> None:
    template = host.file("catalog/templates/catalog/product_detail.html")
    template.write_text(template.read_text().replace(PLACEHOLDER, step.code))


CHECK = r"""
import json, logging, re, socket, sys

attempts = []
for name in ("connect", "connect_ex"):
    real = getattr(socket.socket, name)
    def guard(sock, address, real=real):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(repr(address))
            raise ConnectionRefusedError(f"no network in this test: {address!r}")
        return real(sock, address)
    setattr(socket.socket, name, guard)

import django
django.setup()
said = []
class Keep(logging.Handler):
    def emit(self, record):
        said.append(record.getMessage())
logging.getLogger("stylerec").addHandler(Keep())

import stylerec
from django.test import Client
from django.test.utils import setup_test_environment
from catalog.models import Product

setup_test_environment()
client = Client()
product = Product.objects.order_by("pk").first()
page = client.get(f"/products/{product.pk}/")
html = page.content.decode()
clicks = re.findall(r'class="stylerec-item__link" href="([^"]+)"', html)
landing = client.get(clicks[0]) if clicks else None
# A product added after the install: computed at once, in this process (no Celery app).
added = Product.objects.create(title="Linen overshirt", description="A linen overshirt.", price="59.00")
added.refresh_from_db()
paths = json.loads(sys.argv[1])
print("RESULT " + json.dumps({
    "stylerec": stylerec.__file__,
    "status": page.status_code,
    "items": html.count('class="stylerec-item"'),
    "reasons": re.findall(r'class="stylerec-item__reason">([^<]+)<', html),
    "landing": [landing.status_code, landing.get("Location", "")] if landing else None,
    "first": product.pk,
    "added_has_vector": added.text_embedding is not None,
    "said": said,
    "attempts": attempts,
    "api": {path: client.get(path).status_code for path in paths},
}))
"""


# --- the test -------------------------------------------------------------------------------


@pytest.fixture
def wheel(tmp_path) -> Path:
    """stylerec's wheel, built from a copy of the sources (no build folder in the checkout)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "stylerec", source / "stylerec", ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = dist.glob("stylerec-*.whl")
    return built


@pytest.fixture
def database():
    """A database of its own on the test server, dropped afterwards."""
    import psycopg
    from django.db import connection

    server = {key: connection.settings_dict.get(key) or "" for key in ("HOST", "PORT", "USER", "PASSWORD")}
    name = f"stylerec_host_{uuid.uuid4().hex[:10]}"
    params = {
        "host": server["HOST"],
        "user": server["USER"] or "postgres",
        "dbname": "postgres",
        "autocommit": True,
    }
    if server["PORT"]:
        params["port"] = server["PORT"]
    if server["PASSWORD"]:
        params["password"] = server["PASSWORD"]
    with psycopg.connect(**params) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        **{k: str(v) for k, v in server.items() if v},
    }
    with psycopg.connect(**params) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_a_store_with_rows_follows_the_install_page_and_shows_a_block(tmp_path, wheel, database):
    host = Host(tmp_path / "store", database)
    _existing_store(host)

    api_paths: list[str] = []
    for step in doc_steps():
        if step.kind == "pip":
            step_pip(host, step, wheel)
        elif step.kind == "check-schema":
            api_paths = [line.split()[1] for line in step.code.splitlines() if line.startswith("GET ")]
        else:
            {
                "append": step_append,
                "inherit": step_inherit,
                "run": step_run,
                "depend": step_depend,
                "template": step_template,
            }[step.kind](host, step)

    # makemigrations added stylerec's columns to the rows without asking (stdin was closed).
    assert "Add field category to product" in host.outputs["makemigrations"]
    assert "[2/2]" in host.outputs["stylerec_sync"]
    assert "No problem found." in host.outputs["stylerec_doctor"]

    result = host.run("-c", CHECK, json.dumps(api_paths))
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    seen = json.loads(line.removeprefix("RESULT "))
    assert seen["stylerec"].startswith(str(host.site)), "the project ran the checkout, not the wheel"
    assert seen["status"] == 200
    assert seen["items"] == K and len(seen["reasons"]) == K, seen
    assert seen["landing"] is not None and seen["landing"][0] == 302
    assert re.match(r"/products/\d+/(\?|$)", seen["landing"][1]), seen["landing"]  # PRODUCT_URL_NAME
    assert seen["api"] == {"/api/stylerec/schema/": 200, "/api/stylerec/docs/": 200}
    # No Celery app: the new product's vector was computed in-process, said once, nothing sent.
    assert seen["added_has_vector"]
    assert sum("runs its tasks here, in-process" in message for message in seen["said"]) == 1
    assert seen["attempts"] == []
