"""Migration 0006 on real rows: API keys named with ":" before names were checked can no longer pose as
"oauth:<subject>"; every name stays unique and keys without ":" are untouched."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from ops.models import ApiKey

migration = importlib.import_module("ops.migrations.0006_key_names_without_colons")


def make_key(name: str) -> ApiKey:
    key = ApiKey(name=name)
    key.issue_token()
    key.save()  # save() runs no validators: rows as an older release could have left them
    return key


@pytest.mark.django_db
def test_keys_named_with_a_colon_are_renamed_uniquely() -> None:
    posing = make_key("oauth:bob")
    taken = make_key("oauth-bob")
    twice = make_key("oauth::bob")
    also = make_key("oauth:-bob")
    plain = make_key("ci")
    long = make_key("x" * 98 + ":y")
    make_key("x" * 98 + "-y")
    migration.rename_keys(apps, None)
    names = {key.pk: key.name for key in ApiKey.objects.all()}
    assert names[taken.pk] == "oauth-bob" and names[plain.pk] == "ci"
    assert names[posing.pk] == "oauth-bob-2"
    assert names[twice.pk] == "oauth--bob"
    assert names[also.pk] == "oauth--bob-2"
    assert names[long.pk] == "x" * 98 + "-2" and len(names[long.pk]) <= 100
    assert not any(":" in name for name in names.values())
    assert len(set(names.values())) == len(names)
