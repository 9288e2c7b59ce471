"""One generation, from a claimed job to its stored result.

Called by the ``gateway.generate`` task with a job this worker has claimed.
Steps: resolve the API key (the user's own, else the operator's), recall
memories, the character's knowledge entries the conversation calls for and the
user's relationship profile, prepare attachments, build the prompt, call the
provider through the one door (``gateway.providers``), store the outcome (only
if this worker still holds the job) and announce it, then schedule the memory
write. Recalling memories, knowledge or the profile may fail (an embedder
down, say): the reply then goes without them, never fails because of them.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.db import close_old_connections, connection

from credentials.services import NoCredential, credential_mark_invalid, credential_resolve
from memory.selectors import memory_recall
from memory.tasks import memory_store_exchange
from personalities_app.selectors import knowledge_recall, profile_get

from . import providers
from .models import GenerationJob
from .prompting import HistoryItem, PromptInput, UserProfile, build_prompt
from .services import job_fail, job_succeed

log = logging.getLogger(__name__)


def _history(context: dict[str, Any]) -> list[HistoryItem]:
    return [
        HistoryItem(item["author"], item["content"], bool(item.get("is_personality")))
        for item in context.get("history") or []
    ]


def _referenced(context: dict[str, Any]) -> HistoryItem | None:
    ref = context.get("referenced_message")
    if not ref:
        return None
    return HistoryItem(ref["author"], ref["content"], bool(ref.get("is_personality")))


def recall_memories(job: GenerationJob, history: list[HistoryItem]) -> list[str]:
    """Texts of the memories relevant to this message, best first.

    A memory failure (the embedder down, say) costs the reply its memories,
    not the reply itself.
    """
    try:
        hits = memory_recall(
            personality=job.personality,
            user_id=job.user_id,
            query=job.message,
            exclude_texts=[item.content for item in history],
        )
    except Exception as exc:
        log.warning("job %s: memories not recalled (%s)", job.id, type(exc).__name__)
        return []
    return [hit.memory.text for hit in hits]


def recall_knowledge(job: GenerationJob, history: list[HistoryItem]) -> list[str]:
    """Prompt texts of the knowledge entries this moment calls for, most relevant first.

    Keywords are looked for in the current message and the recent history;
    similarity is to the current message. A failure costs the reply its
    knowledge, not the reply itself.
    """
    if not getattr(job, "has_knowledge_entries", True):  # known at the claim
        return []
    try:
        hits = knowledge_recall(
            personality=job.personality, message=job.message, recent=[item.content for item in history]
        )
    except Exception as exc:
        log.warning("job %s: knowledge not recalled (%s)", job.id, type(exc).__name__)
        return []
    return [hit.entry.prompt_text() for hit in hits]


def recall_profile(job: GenerationJob) -> UserProfile | None:
    """The user's relationship profile with the character, if any (None also on failure)."""
    if not getattr(job, "has_profile", True):  # known at the claim
        return None
    try:
        profile = profile_get(personality=job.personality, user_id=job.user_id)
    except Exception as exc:
        log.warning("job %s: profile not read (%s)", job.id, type(exc).__name__)
        return None
    if profile is None or profile.is_empty():
        return None
    return UserProfile(
        preferred_name=profile.preferred_name,
        pronouns=profile.pronouns,
        backstory=profile.backstory,
        facts=list(profile.notable_facts),
    )


def _attachments(job: GenerationJob, base_url: str, api_key: str) -> tuple[list[str], list[str]]:
    images: list[str] = []
    transcripts: list[str] = []
    for attachment in job.context.get("attachments") or []:
        kind = attachment.get("content_type", "")
        if kind.startswith("image/"):
            images.append(attachment["url"])
        elif kind.startswith("audio/"):
            try:
                data = providers.fetch_attachment(attachment["url"])
                transcripts.append(
                    providers.transcribe(
                        base_url=base_url,
                        api_key=api_key,
                        filename=attachment.get("filename") or "audio",
                        data=data,
                        content_type=kind,
                    )
                )
            except Exception as exc:  # a voice note that cannot be read must not sink the reply
                log.info("job %s: audio attachment not transcribed (%s)", job.id, type(exc).__name__)
                transcripts.append("(a voice message that could not be transcribed)")
    return images, transcripts


def run(job: GenerationJob, worker: str) -> None:
    try:
        try:
            credential = credential_resolve(
                user_id=job.user_id, user_has_keys=getattr(job, "user_has_keys", True)
            )
        except NoCredential as exc:
            job_fail(job=job, worker=worker, code="no_api_key", message=exc.message)
            return
        job.credential_source = credential.source
        job.credential_id = credential.credential_id

        personality = job.personality
        model = job.model_override or personality.effective_model
        history = _history(job.context)
        memories = recall_memories(job, history)
        knowledge = recall_knowledge(job, history)
        profile = recall_profile(job)
        # Nothing below needs the database until the result is stored: give the
        # connection back rather than hold it through a call of many seconds.
        connection.close()
        images, transcripts = _attachments(job, credential.base_url, credential.api_key)
        prompt = build_prompt(
            PromptInput(
                personality=personality,
                model=model,
                user_name=job.user_name or "someone",
                message=job.message,
                history=history,
                referenced=_referenced(job.context),
                memories=memories,
                image_urls=images,
                transcripts=transcripts,
                knowledge=knowledge,
                profile=profile,
            )
        )
        try:
            completion = providers.chat_complete(
                base_url=credential.base_url,
                api_key=credential.api_key,
                model=model,
                messages=prompt.messages,
                temperature=personality.temperature,
                max_tokens=prompt.max_output_tokens,
            )
        except providers.ProviderError as error:
            close_old_connections()
            if error.code == "invalid_api_key" and credential.credential_id is not None:
                credential_mark_invalid(credential_id=credential.credential_id)
            job_fail(job=job, worker=worker, code=error.code, message=error.message, attempts=error.attempts)
            return
        close_old_connections()
        if job_succeed(
            job=job,
            worker=worker,
            content=completion.content,
            model=completion.model,
            usage=completion.usage,
            attempts=completion.attempts,
        ):
            schedule_memory_write(job)
    except SoftTimeLimitExceeded:
        job_fail(job=job, worker=worker, code="timeout", message="The reply took too long and was abandoned.")
    except Exception:
        log.exception("job %s failed unexpectedly", job.id)
        job_fail(job=job, worker=worker, code="internal_error", message="Something went wrong on our side.")


def schedule_memory_write(job: GenerationJob) -> None:
    """After a success: the exchange goes to long-term memory (a task of its own).

    The source id is the Discord message id when there is one, else the job id,
    so a retried write is recognised as the same exchange.
    """
    if not job.personality.memory_enabled:
        return
    try:
        memory_store_exchange.delay(
            job.personality_id,
            job.user_id,
            job.user_name or "User",
            job.message,
            job.personality.shown_name,
            job.result_content,
            job.message_id or str(job.id),
            job.channel_id or None,
            job.guild_id or None,
        )
    except Exception as exc:  # the reply is delivered either way
        log.warning("job %s: memory write not scheduled (%s)", job.id, type(exc).__name__)
