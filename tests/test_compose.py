"""docker-compose.yml: no Docker engine here, so its structure is checked instead."""

from __future__ import annotations

import yaml

from .conftest import ROOT


def load() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_every_service_with_a_health_check() -> None:
    services = load()["services"]
    assert {"postgres", "redis", "web", "worker", "beat", "bot"} <= set(services)
    for name in ("postgres", "redis", "web", "worker", "beat", "bot"):
        assert "healthcheck" in services[name], f"{name} has no health check"
        assert services[name]["healthcheck"]["test"], name


def test_compose_uses_pgvector_and_redis_images() -> None:
    services = load()["services"]
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
    assert services["redis"]["image"].startswith("redis:")


def test_app_services_run_in_production_mode_against_the_compose_servers() -> None:
    services = load()["services"]
    for name in ("web", "worker", "beat", "bot", "migrate"):
        env = services[name]["environment"]
        assert env["TZUROT_MODE"] == "production", name
        assert "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["REDIS_URL"].startswith("redis://redis:6379"), name
        for secret in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY"):
            assert env[secret].startswith("${"), f"{name}: {secret} must come from the environment"
        depends = services[name]["depends_on"]
        assert depends.get("redis", {}).get("condition") == "service_healthy" or "web" in depends, name
    assert services["bot"]["environment"]["DISCORD_TOKEN"].startswith("${DISCORD_TOKEN")
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["worker"]["command"][:4] == ["celery", "-A", "tzurot_project", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "tzurot_project", "beat"]
    assert services["bot"]["command"] == ["python", "manage.py", "runbot"]


def test_compose_builds_from_the_projects_dockerfile() -> None:
    services = load()["services"]
    assert services["web"]["build"] == "."
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.txt" in dockerfile and "python:3.11" in dockerfile
