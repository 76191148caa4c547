"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs here).

The structure the stack relies on is checked with PyYAML: every service has an image or a build
target that the Dockerfile defines, the web image installs stylerec without the model stack and
the workers with it, dependencies and their conditions hold, the GPU worker is the only service
behind a profile and the only one with a device reservation, the CPU worker can be scaled. Where
a compose CLI is installed (``docker compose`` v2, or Debian's ``docker-compose`` 1.29, which
validates against the compose specification's schema), ``config`` must accept the file too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from stylerec.conf import DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = {"version", "name", "services", "networks", "volumes", "configs", "secrets", "include"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SERVICES = {"db", "redis", "migrate", "web", "beat", "worker-cpu", "worker-gpu"}
APP_SERVICES = SERVICES - {"db", "redis"}
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
INTERPOLATION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+])[^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def stages() -> dict[str, str]:
    """{stage name: its instructions, continuation lines joined} of the Dockerfile."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    found: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line.strip(), re.IGNORECASE)
        if match:
            current = match.group(2)
            found[current] = line + "\n"
        elif current and not line.lstrip().startswith("#"):
            found[current] += line + "\n"
    return found


def _depends(service: dict) -> dict[str, dict]:
    depends = service.get("depends_on") or {}
    return (
        {name: {"condition": "service_started"} for name in depends} if isinstance(depends, list) else depends
    )


def test_top_level_keys_and_services(compose):
    assert set(compose) - TOP_LEVEL <= {key for key in compose if key.startswith("x-")}
    assert set(compose["services"]) == SERVICES


def test_every_service_has_an_image_or_a_build_target_of_the_dockerfile(compose, stages):
    for name, service in compose["services"].items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            assert service["build"]["context"] == "."
            assert service["build"]["target"] in stages, (name, service["build"])
    assert compose["services"]["db"]["image"] == "pgvector/pgvector:pg16"
    assert compose["services"]["redis"]["image"].startswith("redis:")


def test_web_image_has_no_model_stack_and_workers_have_it(compose, stages):
    installs = {name: re.findall(r"pip install ([^&\n]*)", body) for name, body in stages.items()}
    web = " ".join(installs["web"] + installs["base"])
    assert "." in web.split() and "[ml" not in web and "torch" not in web, installs["web"]
    assert any('".[ml]"' in line for line in installs["worker"]), installs["worker"]
    assert "FROM base AS web" in stages["web"] and "FROM base AS worker" in stages["worker"]
    targets = {name: s["build"]["target"] for name, s in compose["services"].items() if "build" in s}
    assert {targets[name] for name in ("web", "beat", "migrate")} == {"web"}
    assert {targets[name] for name in ("worker-cpu", "worker-gpu")} == {"worker"}


def test_cpu_worker_needs_no_nvidia_toolkit_and_gpu_worker_reserves_a_gpu_under_a_profile(compose):
    services = compose["services"]
    cpu, gpu = services["worker-cpu"], services["worker-gpu"]
    assert cpu["build"]["args"]["TORCH_INDEX_URL"].endswith("/cpu")
    assert "deploy" not in cpu and "profiles" not in cpu and "runtime" not in cpu
    assert gpu["profiles"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and device["count"] == 1
    assert gpu["build"]["args"]["ONNXRUNTIME"] == "onnxruntime-gpu"
    assert [name for name, s in services.items() if "profiles" in s] == ["worker-gpu"]
    assert [name for name, s in services.items() if "deploy" in s] == ["worker-gpu"]


def test_queues_match_the_settings_and_a_cpu_only_host_consumes_every_queue(compose):
    gpu_queue, cpu_queue = DEFAULTS["GPU_QUEUE"], DEFAULTS["CPU_QUEUE"]
    cpu_command = compose["services"]["worker-cpu"]["command"]
    default_queues = re.search(r"\$\{WORKER_CPU_QUEUES:-([^}]*)\}", cpu_command).group(1).split(",")
    assert {gpu_queue, cpu_queue} <= set(default_queues)
    assert f"-Q {gpu_queue} " in compose["services"]["worker-gpu"]["command"]


def test_dependencies_exist_and_their_conditions_can_be_met(compose):
    services = compose["services"]
    for name, service in services.items():
        for other, spec in _depends(service).items():
            assert other in services and other != name, (name, other)
            assert spec["condition"] in CONDITIONS, (name, other)
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[other], (name, other)
            if spec["condition"] == "service_completed_successfully":
                assert services[other].get("restart") == "no", (name, other)  # a one-shot
            # a service that runs without a profile never waits for one behind a profile
            if "profiles" not in service:
                assert "profiles" not in services[other], (name, other)


def test_app_services_share_the_environment_and_volumes(compose):
    services = compose["services"]
    declared = set(compose["volumes"])
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert all(isinstance(value, str) for value in env.values()), name
        assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
        assert "@db:5432/" in env["DATABASE_URL"] and env["REDIS_URL"].startswith("redis://redis:")
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")
        assert (ROOT / "config" / "settings" / "production.py").exists()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in declared or source.startswith((".", "/")), (name, volume)


def test_cpu_workers_scale(compose):
    worker = compose["services"]["worker-cpu"]
    assert "container_name" not in worker and "ports" not in worker
    assert "%h" in worker["command"]  # one Celery node name per container


def test_interpolations_are_well_formed():
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for start in [m.start() for m in re.finditer(r"\$\{", text)]:
        assert INTERPOLATION.match(text, start), text[start : start + 60]


def test_the_build_context_leaves_out_environments_and_data():
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git/", ".venv/", "var/"} <= set(ignored)


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_cli_accepts_the_file_where_one_is_installed():
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no compose CLI here (docker compose v2 or docker-compose)")
    env = {**os.environ, "SECRET_KEY": "x" * 40}
    for args in ([], ["--profile", "gpu"]):
        result = subprocess.run(
            [*cli, *args, "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
    missing = {k: v for k, v in env.items() if k != "SECRET_KEY"}
    result = subprocess.run([*cli, "config", "-q"], cwd=ROOT, env=missing, capture_output=True, text=True)
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr
