"""Personalities (characters) and where and by whom they are chosen."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    FileExtensionValidator,
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
)
from django.db import models
from pgvector.django import VectorField

from .validators import (
    AVATAR_EXTENSIONS,
    MAX_BACKSTORY_CHARS,
    MAX_KNOWLEDGE_CHARS,
    validate_aliases,
    validate_avatar_size,
    validate_discord_id,
    validate_facts,
    validate_https_url,
    validate_keywords,
    validate_slug,
    validate_webhook_name,
)


class MemoryScope(models.TextChoices):
    PRIVATE = "private", "Private to this character and user"
    SHARED = "shared", "Shared by all characters for this user"


class Personality(models.Model):
    slug = models.SlugField(
        max_length=64,
        unique=True,
        validators=[validate_slug],
        help_text="Its permanent id in the API and in files: lowercase letters, digits, hyphens.",
    )
    name = models.CharField(
        max_length=80,
        validators=[validate_webhook_name],
        help_text="Name used to address it (1-80 characters; Discord forbids 'discord' and 'clyde').",
    )
    display_name = models.CharField(
        max_length=80,
        blank=True,
        validators=[validate_webhook_name],
        help_text="Name shown on its Discord messages; the name when empty.",
    )
    aliases = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_aliases],
        help_text="Other names it answers to (a list of names).",
    )
    avatar_url = models.URLField(
        max_length=500, blank=True, validators=[validate_https_url], help_text="An https:// image URL."
    )
    avatar_image = models.ImageField(
        upload_to="avatars/",
        blank=True,
        validators=[FileExtensionValidator(AVATAR_EXTENSIONS), validate_avatar_size],
        help_text="Or upload an image (PNG, JPEG, GIF or WebP, up to 4 MB); served under PUBLIC_BASE_URL.",
    )

    system_prompt = models.TextField(
        blank=True, help_text="Instructions that open the system prompt, before the character sections."
    )
    character_info = models.TextField(blank=True, help_text="Who the character is: description, appearance.")
    traits = models.TextField(blank=True, help_text="Personality traits.")
    tone = models.TextField(blank=True, help_text="How it speaks: voice, register, quirks.")
    scenario = models.TextField(blank=True, help_text="Scenario or background.")
    example_dialogue = models.TextField(blank=True, help_text="A few exchanges showing its voice.")
    likes = models.TextField(blank=True)
    dislikes = models.TextField(blank=True)
    greeting = models.TextField(blank=True, help_text="Its first message when someone starts talking to it.")
    error_message = models.CharField(
        max_length=500, blank=True, help_text="What the character says when a generation fails."
    )

    model = models.CharField(max_length=200, blank=True, help_text="LLM model; DEFAULT_MODEL when empty.")
    temperature = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.0), MaxValueValidator(2.0)],
        help_text="0-2; the provider's default when empty.",
    )
    max_output_tokens = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(32768)],
        help_text="Longest answer in tokens; the provider's default when empty.",
    )

    memory_enabled = models.BooleanField(default=True, help_text="Remember conversations with each user.")
    memory_scope = models.CharField(max_length=16, choices=MemoryScope.choices, default=MemoryScope.PRIVATE)
    memory_top_k = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="How many memories to recall per message (1-50).",
    )
    memory_threshold = models.FloatField(
        default=0.2,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Similarity floor (0-1) for recalled memories.",
    )

    # Card fields we do not model (Character Card V2 `extensions` and the like),
    # kept so an export gives back what was imported.
    extensions = models.JSONField(
        default=dict,
        blank=True,
        help_text="Data from imported cards with no field of its own, kept for export (a JSON object).",
    )

    is_active = models.BooleanField(default=True, help_text="Inactive characters never answer.")
    is_public = models.BooleanField(
        default=True, help_text="Listed for everyone; a private one is usable only by its owner."
    )
    owner_user_id = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_discord_id],
        help_text="Discord user id of its owner, if a user owns it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "personalities"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.avatar_url and self.avatar_image:
            raise ValidationError(
                {"avatar_url": "Give either an avatar URL or an uploaded image, not both."},
                code="two_avatars",
            )
        if not isinstance(self.extensions, dict):
            raise ValidationError({"extensions": "Extensions must be a JSON object."}, code="not_object")

    @property
    def shown_name(self) -> str:
        return self.display_name or self.name

    @property
    def avatar(self) -> str:
        """Public URL of the avatar ('' when there is none)."""
        if self.avatar_image:
            return f"{settings.PUBLIC_BASE_URL}{self.avatar_image.url}"
        return self.avatar_url

    @property
    def effective_model(self) -> str:
        return self.model or settings.DEFAULT_MODEL


class ChannelActivation(models.Model):
    """The personality that answers every message in a channel (and its threads)."""

    channel_id = models.CharField(max_length=32, unique=True, validators=[validate_discord_id])
    personality = models.ForeignKey(Personality, on_delete=models.CASCADE, related_name="activations")
    guild_id = models.CharField(max_length=32, blank=True, validators=[validate_discord_id])
    activated_by = models.CharField(
        max_length=32, blank=True, validators=[validate_discord_id], help_text="Discord user id."
    )
    created_at = models.DateTimeField(auto_now_add=True, help_text="When it was (last) activated.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.channel_id} → {self.personality.slug}"


class UserSelection(models.Model):
    """A user's chosen personality: in one channel, or everywhere (``channel_id`` empty)."""

    user_id = models.CharField(max_length=32, validators=[validate_discord_id])
    # "" rather than NULL for the global selection: NULLs are distinct in a
    # unique constraint, "" is not, so one plain constraint covers both cases.
    channel_id = models.CharField(
        max_length=32,
        blank=True,
        default="",
        validators=[validate_discord_id],
        help_text="Empty: the user's global selection.",
    )
    personality = models.ForeignKey(Personality, on_delete=models.CASCADE, related_name="selections")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user_id", "channel_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user_id", "channel_id"], name="unique_selection_per_user_channel"
            )
        ]

    def __str__(self) -> str:
        where = f"#{self.channel_id}" if self.channel_id else "everywhere"
        return f"user {self.user_id} {where} → {self.personality.slug}"


class EmbeddingStatus(models.TextChoices):
    READY = "ready", "Embedded"
    PENDING = "pending", "Waiting for its embedding"


class KnowledgeEntry(models.Model):
    """One entry of a character's lorebook: what it knows, shown when the conversation calls for it.

    An entry is put in the prompt when the conversation mentions one of its
    ``keywords`` (case-insensitive, whole words) or when the message is
    semantically close to it (``embedding``; see ``selectors.knowledge_recall``).
    """

    personality = models.ForeignKey(Personality, on_delete=models.CASCADE, related_name="knowledge")
    title = models.CharField(max_length=200, blank=True, help_text="A short name for the entry.")
    keywords = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_keywords],
        help_text="Words or phrases that bring the entry into the prompt (whole words, any case).",
    )
    content = models.TextField(
        validators=[MaxLengthValidator(MAX_KNOWLEDGE_CHARS)], help_text="What the character knows."
    )
    enabled = models.BooleanField(default=True, help_text="Disabled entries are never used.")
    source = models.CharField(
        max_length=32, default="admin", help_text="Where it came from: admin, shapes, …"
    )
    source_id = models.CharField(
        max_length=255, blank=True, default="", help_text="Its id where it came from (imports)."
    )
    metadata = models.JSONField(
        default=dict, blank=True, help_text="Data of the source with no field of its own (a JSON object)."
    )
    # NULL while pending (the embedder failed, or the entry changed and awaits its new vector).
    embedding = VectorField(dimensions=settings.EMBEDDING_DIMENSIONS, null=True, blank=True, editable=False)
    embedding_status = models.CharField(
        max_length=16, choices=EmbeddingStatus.choices, default=EmbeddingStatus.PENDING, editable=False
    )
    # SHA-256 of the text the vector was made from: a save that changes it re-embeds.
    embedded_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    embedding_error = models.CharField(max_length=300, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["personality", "title", "id"]
        verbose_name_plural = "knowledge entries"
        constraints = [
            models.UniqueConstraint(
                fields=["personality", "source", "source_id"],
                condition=~models.Q(source_id=""),
                name="knowledge_unique_source_id",
            )
        ]
        indexes = [models.Index(fields=["personality", "enabled"], name="knowledge_personality_idx")]

    def __str__(self) -> str:
        return self.title or self.content[:60]

    def embedding_text(self) -> str:
        """The text whose vector is stored: the title, then the content."""
        return f"{self.title.strip()}\n{self.content.strip()}".strip()

    def prompt_text(self) -> str:
        """How the entry reads in the prompt."""
        title = self.title.strip()
        return f"### {title}\n{self.content.strip()}" if title else self.content.strip()


class RelationshipProfile(models.Model):
    """What a character knows of one user: how to address them, and what matters about them."""

    personality = models.ForeignKey(Personality, on_delete=models.CASCADE, related_name="profiles")
    user_id = models.CharField(max_length=32, validators=[validate_discord_id], help_text="Discord user id.")
    preferred_name = models.CharField(
        max_length=80,
        blank=True,
        help_text="What the character calls the user (instead of their Discord name).",
    )
    pronouns = models.CharField(max_length=40, blank=True)
    backstory = models.TextField(
        blank=True,
        validators=[MaxLengthValidator(MAX_BACKSTORY_CHARS)],
        help_text="The user's story with this character, in their words.",
    )
    notable_facts = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_facts],
        help_text="Short facts the character should always keep in mind (a list of text).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["personality", "user_id"]
        constraints = [
            models.UniqueConstraint(fields=["personality", "user_id"], name="unique_profile_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.personality.slug} ↔ user {self.user_id}"

    def is_empty(self) -> bool:
        return not (self.preferred_name or self.pronouns or self.backstory or self.notable_facts)
