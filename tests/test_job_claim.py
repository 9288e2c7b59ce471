"""The worker's claim: one statement that starts a queued job and loads it with its personality."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from credentials.services import credential_mark_invalid, credential_set
from gateway.models import GenerationJob, JobStatus
from gateway.services import job_claim
from personalities_app.models import KnowledgeEntry, Personality, RelationshipProfile
from personalities_app.services import profile_set

from .gateway_helpers import make_personality

pytestmark = pytest.mark.django_db


def _queued_job(**fields: object) -> GenerationJob:
    personality = make_personality(aliases=["Novy", "N"], temperature=0.4, extensions={"tone": {"dry": True}})
    return GenerationJob.objects.create(
        fingerprint="f" * 64,
        personality=personality,
        user_id="111",
        message="Where are we?",
        context={"history": [{"author": "Bob", "content": "Hi", "is_personality": False}]},
        **fields,
    )


def test_claim_starts_a_queued_job_and_loads_it_as_the_orm_would() -> None:
    queued = _queued_job()

    job = job_claim(job_id=str(queued.id), worker="w1@host")

    assert job is not None
    stored = GenerationJob.objects.select_related("personality").get(id=queued.id)
    assert (stored.status, stored.worker) == (JobStatus.RUNNING, "w1@host")
    assert stored.started_at is not None
    # Every column comes back converted exactly as a normal ORM read gives it.
    for field in GenerationJob._meta.concrete_fields:
        assert getattr(job, field.attname) == getattr(stored, field.attname), field.name
    for field in job.personality._meta.concrete_fields:
        name = field.attname
        assert getattr(job.personality, name) == getattr(stored.personality, name), field.name
    assert job.context["history"][0]["author"] == "Bob"
    assert job.personality.aliases == ["Novy", "N"]
    assert isinstance(job.created_at, datetime.datetime) and timezone.is_aware(job.created_at)
    assert job._state.adding is False  # saving it later updates, never inserts


def test_a_job_is_claimed_once() -> None:
    queued = _queued_job()

    assert job_claim(job_id=str(queued.id), worker="w1@host") is not None
    assert job_claim(job_id=str(queued.id), worker="w2@host") is None
    assert GenerationJob.objects.get(id=queued.id).worker == "w1@host"


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.SUCCEEDED, JobStatus.FAILED])
def test_only_a_queued_job_can_be_claimed(status: str) -> None:
    job = _queued_job(status=status)

    assert job_claim(job_id=str(job.id), worker="w1@host") is None
    assert GenerationJob.objects.get(id=job.id).status == status


def test_claiming_an_unknown_job_finds_nothing() -> None:
    assert job_claim(job_id="00000000-0000-0000-0000-000000000000", worker="w1@host") is None


def _hints(job: GenerationJob) -> tuple[bool, bool, bool]:
    claimed = job_claim(job_id=str(job.id), worker="w1@host")
    assert claimed is not None
    return claimed.has_knowledge_entries, claimed.has_profile, claimed.user_has_keys


def test_claim_says_whether_the_lorebook_the_users_profile_and_keys_exist() -> None:
    bare = _queued_job()
    assert _hints(bare) == (False, False, False)

    personality = bare.personality
    KnowledgeEntry.objects.create(personality=personality, title="Off", content="Hidden.", enabled=False)
    RelationshipProfile.objects.create(personality=personality, user_id="someone-else", preferred_name="X")
    credential_set(user_id="222", provider="openai", api_key="sk-someone-elses-key-0000", verify=False)
    invalid = credential_set(
        user_id="111", provider="openrouter", api_key="sk-or-revoked-key-0000", verify=False
    )
    credential_mark_invalid(credential_id=invalid.pk)
    # A disabled entry, another user's profile or key, and an invalid key do not count.
    assert _hints(_job_for(personality)) == (False, False, False)

    KnowledgeEntry.objects.create(personality=personality, title="Ship", content="The Wanderer.")
    profile_set(personality=personality, user_id="111", preferred_name="Ally")
    credential_set(user_id="111", provider="openai", api_key="sk-users-own-key-0000", verify=False)
    assert _hints(_job_for(personality)) == (True, True, True)


def _job_for(personality: Personality) -> GenerationJob:
    return GenerationJob.objects.create(
        fingerprint="g" * 64, personality=personality, user_id="111", message="And now?", context={}
    )


def test_claim_is_prepared_once_per_connection() -> None:
    from django.db import connection

    first = _queued_job()
    second = GenerationJob.objects.create(
        fingerprint="e" * 64, personality=first.personality, user_id="111", message="And now?"
    )
    job_claim(job_id=str(first.id), worker="w1@host")
    job_claim(job_id=str(second.id), worker="w1@host")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s AND statement LIKE %s",
            ["UPDATE%", "%RETURNING%"],
        )
        (prepared,) = cursor.fetchone()
    # PostgreSQL parsed and planned the claim once for this connection, not per job.
    assert prepared == 1
