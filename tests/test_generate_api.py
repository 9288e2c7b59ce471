"""POST /ai/generate and GET /ai/jobs: validation, auth, ownership (no worker needed)."""

from __future__ import annotations

import json
import time

import pytest
from django.test import override_settings

from gateway.models import GenerationJob
from gateway.services import token_create
from tzurot_project.embedded import free_port

from .gateway_helpers import api_client, generate_body, make_personality, service_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def nova() -> None:
    make_personality()


def error_of(response) -> dict:  # type: ignore[no-untyped-def,type-arg]
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def test_generate_queues_a_job_and_answers_202() -> None:
    response = service_client().post("/ai/generate", generate_body(), format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["deduplicated"] is False
    job = GenerationJob.objects.get(id=body["job_id"])
    assert str(job.request_id) == body["request_id"]
    assert job.user_id == "111" and job.channel_id == "222" and job.message == "Hello there"


def test_unknown_personality_is_404() -> None:
    response = service_client().post("/ai/generate", generate_body(personality="nobody"), format="json")
    assert response.status_code == 404
    assert error_of(response)["code"] == "unknown_personality"


def _personality_queries(client, body: dict) -> int:  # type: ignore[no-untyped-def,type-arg]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.post("/ai/generate", body, format="json").status_code == 202
    return sum('FROM "personalities_app_personality"' in q["sql"] for q in queries.captured_queries)


def test_the_personality_is_looked_up_once_then_cached_until_it_changes() -> None:
    from personalities_app.models import Personality

    client = service_client()
    assert _personality_queries(client, generate_body("one")) == 1
    assert _personality_queries(client, generate_body("two")) == 0
    # Saving a personality (the admin, the loader) clears this process's cache at once.
    Personality.objects.get(slug="nova").save()
    assert _personality_queries(client, generate_body("three")) == 1
    nova = Personality.objects.get(slug="nova")
    nova.is_active = False
    nova.save()
    response = client.post("/ai/generate", generate_body("four"), format="json")
    assert response.status_code == 404
    assert error_of(response)["code"] == "unknown_personality"


@pytest.mark.django_db(transaction=True)
def test_a_personality_deleted_or_replaced_behind_the_cache_is_looked_up_again() -> None:
    import time as _time

    from django.db import connection

    from gateway import services
    from personalities_app.models import Personality

    client = service_client()
    stale = services.personality_for_job("nova")

    def delete_elsewhere() -> None:  # as another process would: no signal reaches this cache
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM personalities_app_personality WHERE slug = 'nova'")
        services._personalities["nova"] = (stale, _time.monotonic() + 60)

    delete_elsewhere()
    response = client.post("/ai/generate", generate_body("gone"), format="json")
    assert response.status_code == 404, response.content
    assert error_of(response)["code"] == "unknown_personality"

    replacement = make_personality()
    services._personalities["nova"] = (stale, _time.monotonic() + 60)
    response = client.post("/ai/generate", generate_body("back"), format="json")
    assert response.status_code == 202, response.content
    assert GenerationJob.objects.get(id=response.json()["job_id"]).personality_id == replacement.pk
    assert replacement.pk != stale.pk
    assert not Personality.objects.filter(pk=stale.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_token_deleted_behind_its_cache_is_refused_with_401_and_nothing_queued() -> None:
    from django.db import connection

    token, raw = token_create(name="short-lived", is_service=True)
    client = api_client(raw)
    # A refused body still authenticates: the token is now in this process's cache.
    assert client.post("/ai/generate", {"personality": "nova"}, format="json").status_code == 400
    with connection.cursor() as cursor:  # deleted as another process would: the cache does not know
        cursor.execute("DELETE FROM gateway_apitoken WHERE id = %s", [token.pk])

    response = client.post("/ai/generate", generate_body("still me?"), format="json")

    assert response.status_code == 401, response.content
    assert error_of(response) == {
        "code": "unauthenticated",
        "message": "The token is not valid, or it has been revoked.",
        "details": {},
    }
    assert not GenerationJob.objects.filter(message="still me?").exists()
    assert client.post("/ai/generate", generate_body("and now?"), format="json").status_code == 401


@pytest.mark.parametrize("message", ["", "   ", "x" * 8001])
def test_empty_or_over_long_message_is_400_naming_the_field(message: str) -> None:
    response = service_client().post("/ai/generate", generate_body(message=message), format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_request"
    assert error["message"].startswith("message:")
    assert "message" in error["details"]["fields"]


def test_bad_context_fields_are_named() -> None:
    body = generate_body()
    body["context"]["user_id"] = "not-an-id"
    body["context"]["history"] = [{"author": "Bob"}]
    response = service_client().post("/ai/generate", body, format="json")
    assert response.status_code == 400
    fields = error_of(response)["details"]["fields"]["context"]
    assert "user_id" in fields and "history" in fields


def test_malformed_json_is_400() -> None:
    response = service_client().post("/ai/generate", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert error_of(response)["code"] == "malformed_request"


@pytest.mark.parametrize("token", [None, "tzr_wrong"])
def test_missing_or_wrong_token_is_401(token: str | None) -> None:
    response = api_client(token).post("/ai/generate", generate_body(), format="json")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthenticated"


def test_user_token_may_not_act_for_another_user() -> None:
    _, raw = token_create(name="alice", user_id="111")
    assert (
        api_client(raw).post("/ai/generate", generate_body(user_id="999"), format="json").status_code == 403
    )
    assert (
        api_client(raw).post("/ai/generate", generate_body(user_id="111"), format="json").status_code == 202
    )


def test_another_users_job_is_404_and_the_service_token_sees_all() -> None:
    _, alice = token_create(name="alice", user_id="111")
    _, bob = token_create(name="bob", user_id="222")
    job_id = api_client(alice).post("/ai/generate", generate_body(), format="json").json()["job_id"]
    assert api_client(alice).get(f"/ai/jobs/{job_id}").status_code == 200
    response = api_client(bob).get(f"/ai/jobs/{job_id}")
    assert response.status_code == 404
    assert error_of(response)["code"] == "unknown_job"
    assert service_client().get(f"/ai/jobs/{job_id}").json()["status"] == "queued"


@pytest.mark.parametrize("wait", ["-1", "31", "soon"])
def test_wait_out_of_range_is_400(wait: str) -> None:
    client = service_client()
    job_id = client.post("/ai/generate", generate_body(), format="json").json()["job_id"]
    response = client.get(f"/ai/jobs/{job_id}?wait={wait}")
    assert response.status_code == 400
    assert "wait" in error_of(response)["message"]


def test_duplicate_request_within_the_window_returns_the_same_job() -> None:
    client = service_client()
    first = client.post("/ai/generate", generate_body(), format="json").json()
    second = client.post("/ai/generate", generate_body(), format="json").json()
    assert second["job_id"] == first["job_id"]
    assert second["deduplicated"] is True
    assert GenerationJob.objects.count() == 1
    other = client.post("/ai/generate", generate_body(message="Something else"), format="json").json()
    assert other["job_id"] != first["job_id"]


def test_redis_down_refuses_with_503_quickly_and_queues_nothing() -> None:
    client = service_client()
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
        started = time.monotonic()
        response = client.post("/ai/generate", generate_body(), format="json")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert error_of(response)["code"] == "service_unavailable"
    assert elapsed < 2.0
    assert GenerationJob.objects.count() == 0


def test_openapi_schema_documents_the_generation_api_and_its_errors() -> None:
    response = service_client().get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    post = schema["paths"]["/ai/generate"]["post"]
    assert {"202", "400", "401", "403", "404", "503"} <= set(post["responses"])
    get = schema["paths"]["/ai/jobs/{job_id}"]["get"]
    assert {"200", "400", "401", "404"} <= set(get["responses"])
