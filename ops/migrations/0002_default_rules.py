"""The limits the server starts with (README, "Security and limits"), as rules staff can edit."""

from django.db import migrations

DEFAULTS = [
    ("per-ip", "ip", "*", "1000/h"),
    ("global", "global", "*", "100000/s"),
    ("streams-per-ip", "streams_per_ip", "*", "100/h"),
]


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    rule = apps.get_model("ops", "RateLimitRule")
    for name, scope, endpoint, rate in DEFAULTS:
        rule.objects.get_or_create(name=name, defaults={"scope": scope, "endpoint": endpoint, "rate": rate})


class Migration(migrations.Migration):
    dependencies = [("ops", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
