"""Personalities (characters) and where and by whom they are chosen."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .validators import validate_https_url, validate_slug, validate_webhook_name


class MemoryScope(models.TextChoices):
    PRIVATE = "private", "Private to this character and user"
    SHARED = "shared", "Shared by all characters for this user"


class Personality(models.Model):
    slug = models.SlugField(max_length=64, unique=True, validators=[validate_slug])
    name = models.CharField(
        max_length=80, validators=[validate_webhook_name], help_text="Name used to address it."
    )
    display_name = models.CharField(
        max_length=80,
        blank=True,
        validators=[validate_webhook_name],
        help_text="Name shown on its Discord messages; the name when empty.",
    )
    aliases = models.JSONField(default=list, blank=True, help_text="Other names it answers to (a list).")
    avatar_url = models.URLField(
        max_length=500, blank=True, validators=[validate_https_url], help_text="An https:// image URL."
    )
    avatar_image = models.ImageField(
        upload_to="avatars/", blank=True, help_text="Or upload an image; served under PUBLIC_BASE_URL."
    )

    system_prompt = models.TextField(blank=True)
    character_info = models.TextField(blank=True, help_text="Who the character is: description, appearance.")
    traits = models.TextField(blank=True)
    tone = models.TextField(blank=True)
    scenario = models.TextField(blank=True, help_text="Scenario or background.")
    example_dialogue = models.TextField(blank=True)
    likes = models.TextField(blank=True)
    dislikes = models.TextField(blank=True)
    greeting = models.TextField(blank=True)
    error_message = models.CharField(
        max_length=500, blank=True, help_text="What the character says when a generation fails."
    )

    model = models.CharField(max_length=200, blank=True, help_text="LLM model; DEFAULT_MODEL when empty.")
    temperature = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    max_output_tokens = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(32768)]
    )

    memory_enabled = models.BooleanField(default=True)
    memory_scope = models.CharField(max_length=16, choices=MemoryScope.choices, default=MemoryScope.PRIVATE)
    memory_top_k = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    memory_threshold = models.FloatField(
        default=0.3,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Similarity floor (0-1) for recalled memories.",
    )

    # Card fields we do not model (Character Card V2 `extensions` and the like),
    # kept so an export gives back what was imported.
    extensions = models.JSONField(default=dict, blank=True)

    is_active = models.BooleanField(default=True)
    is_public = models.BooleanField(default=True)
    owner_user_id = models.CharField(
        max_length=32, blank=True, help_text="Discord user id of its owner, if a user owns it."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "personalities"

    def __str__(self) -> str:
        return self.name

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
