"""The bot's HTTP client of the Tzurot API (``botclient.api``), against the loopback fake API.

The profile test runs against the fake AND the real API (uvicorn), so that the
fake the bot's command tests use cannot drift from what the API answers.
"""

from __future__ import annotations

import logging

import pytest

from botclient.api import BackendUnavailable, Job, RetryPolicy, TzurotApi, TzurotApiError
from gateway.services import token_create
from personalities_app.models import Personality
from tests.fakes.tzurot_api import FakeTzurotApi, JobPlan, personality
from tzurot_project.embedded import free_port

pytestmark = pytest.mark.asyncio

CONTEXT = {
    "user_id": "1",
    "user_name": "Alice",
    "channel_id": "2",
    "guild_id": "3",
    "thread_id": None,
    "message_id": "5",
    "referenced_message": None,
    "history": [],
    "attachments": [],
}


class RecordingSleep:
    """An injected ``sleep`` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client(api: FakeTzurotApi, sleep: RecordingSleep | None = None, **kwargs: object) -> TzurotApi:
    return TzurotApi(api.base_url, api.token, sleep=sleep or RecordingSleep(), rng=lambda: 1.0, **kwargs)  # type: ignore[arg-type]


async def test_sends_the_service_token_and_parses_personalities(fake_tzurot_api: FakeTzurotApi) -> None:
    fake_tzurot_api.personalities = [personality("alice", "Alice", aliases=["Ali"])]
    async with client(fake_tzurot_api) as api:
        (alice,) = await api.list_personalities()
    assert (alice.slug, alice.name, alice.aliases) == ("alice", "Alice", ("Ali",))
    (call,) = fake_tzurot_api.calls("GET", "/personalities/")
    assert call.headers["Authorization"] == f"Bearer {fake_tzurot_api.token}"


async def test_generate_then_long_poll_until_the_job_finishes(fake_tzurot_api: FakeTzurotApi) -> None:
    fake_tzurot_api.personalities = [personality("alice", "Alice")]
    fake_tzurot_api.plan = lambda body: JobPlan(content="Hi!", delay=0.3)
    async with client(fake_tzurot_api, poll_wait=1) as api:
        job = await api.generate(personality="alice", message="hello", context=CONTEXT)
        assert job.status == "queued"
        done = await api.wait_for_job(job)
    assert (done.status, done.content) == ("succeeded", "Hi!")
    polls = fake_tzurot_api.calls("GET", "/ai/jobs/")
    assert polls and all(p.query["wait"] == "1" for p in polls)


async def test_a_failed_job_carries_its_error_code(fake_tzurot_api: FakeTzurotApi) -> None:
    fake_tzurot_api.personalities = [personality("alice", "Alice")]
    fake_tzurot_api.plan = lambda body: JobPlan(error_code="invalid_api_key", error_message="Bad key.")
    async with client(fake_tzurot_api) as api:
        done = await api.wait_for_job(await api.generate(personality="alice", message="x", context=CONTEXT))
    assert (done.status, done.error_code, done.error_message) == ("failed", "invalid_api_key", "Bad key.")


async def test_503s_are_retried_with_growing_backoff(fake_tzurot_api: FakeTzurotApi) -> None:
    fake_tzurot_api.personalities = [personality("alice", "Alice")]
    fake_tzurot_api.fail_next("/personalities/", count=3, status=503)
    sleep = RecordingSleep()
    async with client(fake_tzurot_api, sleep, retry=RetryPolicy(attempts=4, base=0.5, cap=8)) as api:
        people = await api.list_personalities()
    assert [p.slug for p in people] == ["alice"]
    assert sleep.delays == [0.5, 1.0, 2.0]  # rng=1.0: the top of each jitter range
    assert len(fake_tzurot_api.calls("GET", "/personalities/")) == 4


async def test_jitter_stays_within_half_to_full_delay() -> None:
    policy = RetryPolicy(base=1.0, cap=5.0)
    assert policy.delay(0, lambda: 0.0) == 0.5
    assert policy.delay(3, lambda: 1.0) == 5.0  # capped
    assert 1.0 <= policy.delay(1, lambda: 0.5) <= 2.0


async def test_unreachable_backend_raises_after_every_retry() -> None:
    sleep = RecordingSleep()
    api = TzurotApi(
        f"http://127.0.0.1:{free_port()}", "tok", sleep=sleep, rng=lambda: 0.0, retry=RetryPolicy(attempts=3)
    )
    async with api:
        with pytest.raises(BackendUnavailable):
            await api.list_personalities()
    assert sleep.delays == [0.25, 0.5]


async def test_client_errors_are_not_retried_and_keep_the_readable_message(
    fake_tzurot_api: FakeTzurotApi,
) -> None:
    sleep = RecordingSleep()
    async with client(fake_tzurot_api, sleep) as api:
        with pytest.raises(TzurotApiError) as raised:
            await api.generate(personality="ghost", message="x", context=CONTEXT)
    assert (raised.value.status, raised.value.code) == (404, "not_found")
    assert "ghost" in raised.value.message
    assert sleep.delays == []


async def test_wrong_token_is_a_401_error(fake_tzurot_api: FakeTzurotApi) -> None:
    async with TzurotApi(fake_tzurot_api.base_url, "wrong") as api:
        with pytest.raises(TzurotApiError) as raised:
            await api.list_personalities()
    assert raised.value.status == 401


async def test_job_deadline_gives_up_on_a_job_that_never_ends(fake_tzurot_api: FakeTzurotApi) -> None:
    now = [0.0]
    fake_tzurot_api.personalities = [personality("alice", "Alice")]
    fake_tzurot_api.plan = lambda body: JobPlan(content="late", delay=3600)

    async with client(fake_tzurot_api, poll_wait=0, job_deadline=60, clock=lambda: now[0]) as api:
        job = await api.generate(personality="alice", message="x", context=CONTEXT)
        original_get_job = api.get_job

        async def get_job_advancing_time(job_id: str, *, wait: int = 0) -> Job:
            now[0] += 25  # each long poll takes its full wait
            return await original_get_job(job_id, wait=wait)

        api.get_job = get_job_advancing_time  # type: ignore[method-assign]
        with pytest.raises(BackendUnavailable):
            await api.wait_for_job(job)
    assert len(fake_tzurot_api.calls("GET", "/ai/jobs/")) == 3


async def test_keys_and_the_token_never_reach_the_log(
    fake_tzurot_api: FakeTzurotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_tzurot_api.fail_next("/users/", count=1, status=503)
    async with client(fake_tzurot_api) as api:
        stored = await api.set_credential("42", "openai", api_key="sk-secret-value-1234")
        assert repr(api).count(fake_tzurot_api.token) == 0
    assert stored["hint"] == "…1234"
    assert "retry" in caplog.text  # the 503 was logged...
    assert "sk-secret-value-1234" not in caplog.text  # ...without the key
    assert fake_tzurot_api.token not in caplog.text


async def test_activation_selection_credentials_and_memories(fake_tzurot_api: FakeTzurotApi) -> None:
    fake_tzurot_api.personalities = [personality("alice", "Alice")]
    fake_tzurot_api.memories[("7", "alice")] = 3
    async with client(fake_tzurot_api) as api:
        assert await api.get_activation(10) is None
        await api.set_activation(10, personality="alice", guild_id=3, activated_by=7)
        assert await api.get_activation(10) == "alice"
        assert await api.delete_activation(10) is True
        assert await api.delete_activation(10) is False
        assert await api.get_selection(7) is None
        await api.set_selection(7, personality="alice")
        assert await api.get_selection(7, channel_id=99) == "alice"
        assert await api.list_credentials(7) == []
        assert await api.delete_credential(7, "openai") is False
        assert await api.delete_memories(7, personality="alice") == 3


@pytest.fixture(
    params=[
        "fake",
        pytest.param("real", marks=[pytest.mark.django_db(transaction=True), pytest.mark.slow]),
    ]
)
def profile_api(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(base URL, service token) of an API that knows the personality ``alice``."""
    if request.param == "fake":
        fake: FakeTzurotApi = request.getfixturevalue("fake_tzurot_api")
        fake.personalities = [personality("alice", "Alice")]
        return fake.base_url, fake.token
    url: str = request.getfixturevalue("live_api")
    Personality.objects.create(slug="alice", name="Alice", memory_enabled=False)
    _, raw = token_create(name="discord-bot", is_service=True)
    return url, raw


async def test_profiles_are_read_changed_refused_and_deleted_as_the_api_does(
    profile_api: tuple[str, str],
) -> None:
    url, token = profile_api
    async with TzurotApi(url, token, sleep=RecordingSleep()) as api:
        assert await api.get_profile(7, personality="alice") is None
        created = await api.patch_profile(
            7,
            personality="alice",
            preferred_name="  Ally   B ",
            notable_facts=["Flies gliders.", " flies  GLIDERS. ", "Hates fog."],
        )
        assert {k: created[k] for k in ("personality", "user_id", "preferred_name", "pronouns")} == {
            "personality": "alice",
            "user_id": "7",
            "preferred_name": "Ally B",
            "pronouns": "",
        }
        assert created["notable_facts"] == ["Flies gliders.", "Hates fog."]
        changed = await api.patch_profile(7, personality="alice", pronouns="she/her", backstory=" Met.\n ")
        assert (changed["preferred_name"], changed["pronouns"], changed["backstory"]) == (
            "Ally B",
            "she/her",
            "Met.",
        )
        refusals = [
            (
                {"preferred_name": "x" * 81},
                "preferred_name: Ensure this field has no more than 80 characters.",
            ),
            ({"pronouns": "she\nher"}, "pronouns: Pronouns are one line."),
            ({"backstory": "x" * 4001}, "backstory: Ensure this field has no more than 4000 characters."),
            (
                {"notable_facts": ["fine", "x" * 301]},
                "notable_facts: 1: Ensure this field has no more than 300 characters.",
            ),
            (
                {"notable_facts": [f"fact {n}" for n in range(31)]},
                "notable_facts: Ensure this field has no more than 30 elements.",
            ),
            ({"notable_facts": ["fine", "  "]}, "notable_facts: 1: This field may not be blank."),
        ]
        for fields, message in refusals:
            with pytest.raises(TzurotApiError) as refused:
                await api.patch_profile(7, personality="alice", **fields)
            assert (refused.value.status, refused.value.code, refused.value.message) == (
                400,
                "invalid_request",
                message,
            )
            assert set(refused.value.details["fields"]) == set(fields)
        with pytest.raises(TypeError):
            await api.patch_profile(7, personality="alice", age=30)
        # What the client refuses itself, the API refuses too; a PATCH that changes nothing is no write.
        fields = "preferred_name, pronouns, backstory, notable_facts"
        for body, message in (
            ({"age": 30, "pronouns": "they/them"}, f"age: Not a profile field (the fields are {fields})."),
            ({}, f"Give at least one of: {fields}."),
        ):
            with pytest.raises(TzurotApiError) as refused:
                await api.request("PATCH", "/users/9/profiles/alice", json=body)
            assert (refused.value.status, refused.value.code, refused.value.message) == (
                400,
                "invalid_request",
                message,
            )
        assert await api.get_profile(9, personality="alice") is None  # nothing was created
        kept = await api.get_profile(7, personality="alice")
        assert kept is not None
        assert {k: kept[k] for k in ("preferred_name", "pronouns", "backstory", "notable_facts")} == {
            "preferred_name": "Ally B",
            "pronouns": "she/her",
            "backstory": "Met.",
            "notable_facts": ["Flies gliders.", "Hates fog."],
        }
        with pytest.raises(TzurotApiError) as unknown:
            await api.patch_profile(7, personality="ghost", pronouns="they/them")
        assert (unknown.value.status, unknown.value.message) == (
            404,
            "There is no active personality called 'ghost'.",
        )
        assert await api.get_profile(8, personality="alice") is None  # another user's is not theirs
        assert await api.delete_profile(8, personality="alice") is False
        assert await api.delete_profile(7, personality="alice") is True
        assert await api.delete_profile(7, personality="alice") is False
        assert await api.get_profile(7, personality="alice") is None
