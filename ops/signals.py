"""Admin edits of rules and keys bump the rules generation (ops.rulebook); every process reloads on it."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from ops.models import ApiKey, RateLimitRule
from ops.rulebook import bump_generation


@receiver([post_save, post_delete], sender=RateLimitRule)
@receiver([post_save, post_delete], sender=ApiKey)
def rules_changed(sender: Any, **kwargs: Any) -> None:
    bump_generation()
