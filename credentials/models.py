"""Users' own LLM provider keys (bring your own key), stored encrypted."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Case, IntegerField, Q, Value, When
from django.utils import timezone

from .crypto import EncryptedSecretField

validate_discord_id = RegexValidator(r"^[0-9]{1,32}\Z", "A Discord id is a string of digits.")


class Provider(models.TextChoices):
    OPENROUTER = "openrouter", "OpenRouter"
    OPENAI = "openai", "OpenAI"
    CUSTOM = "custom", "OpenAI-compatible endpoint"


# When a user has keys for several providers and asks for none in particular.
PROVIDER_PREFERENCE = (Provider.OPENROUTER, Provider.OPENAI, Provider.CUSTOM)


def provider_preference() -> Case:
    """An ordering expression: providers in PROVIDER_PREFERENCE order."""
    return Case(
        *(When(provider=p, then=Value(i)) for i, p in enumerate(PROVIDER_PREFERENCE)),
        output_field=IntegerField(),
    )


class UserCredential(models.Model):
    """One user's key for one provider.

    ``api_key`` reads as the key itself, or as a ``crypto.Ciphertext`` when the
    stored bytes cannot be decrypted with the configured FIELD_ENCRYPTION_KEY.
    Listings defer it; only ``services`` reads it.
    """

    user_id = models.CharField(max_length=32, validators=[validate_discord_id], help_text="Discord user id.")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    api_key = EncryptedSecretField()
    base_url = models.CharField(
        max_length=500, blank=True, help_text="Endpoint of a custom provider; empty for the others."
    )
    hint = models.CharField(max_length=8, editable=False, help_text="The key's last characters.")
    created_at = models.DateTimeField(default=timezone.now, help_text="When this key was set.")
    last_used_at = models.DateTimeField(null=True, blank=True)
    is_valid = models.BooleanField(
        default=True, help_text="False once the provider has rejected the key; such keys are not used."
    )

    class Meta:
        verbose_name = "user API key"
        ordering = ["user_id", "provider"]
        constraints = [
            models.UniqueConstraint(fields=["user_id", "provider"], name="credential_one_per_provider"),
            models.CheckConstraint(
                condition=(Q(provider="custom") & ~Q(base_url=""))
                | (Q(provider__in=["openrouter", "openai"]) & Q(base_url="")),
                name="credential_base_url_only_for_custom",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} key of user {self.user_id} ({self.hint})"
