"""Existing API keys whose name has ":" are renamed (":" becomes "-", a "-2", "-3"... suffix keeping names unique),
so no key made before names were checked can pose as an OAuth principal ("oauth:<subject>")."""

from typing import Any

from django.db import migrations

NAME_LENGTH = 100


def rename_keys(apps: Any, schema_editor: Any) -> None:
    key_model = apps.get_model("ops", "ApiKey")
    taken = set(key_model.objects.values_list("name", flat=True))
    for key in key_model.objects.filter(name__contains=":").order_by("pk"):
        base = key.name.replace(":", "-")[:NAME_LENGTH]
        name, n = base, 2
        while name in taken:
            suffix = f"-{n}"
            name, n = base[: NAME_LENGTH - len(suffix)] + suffix, n + 1
        taken.discard(key.name)
        taken.add(name)
        key_model.objects.filter(pk=key.pk).update(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0005_key_names_and_subjects"),
    ]

    operations = [migrations.RunPython(rename_keys, migrations.RunPython.noop)]
