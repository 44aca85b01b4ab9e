"""Rules that cap live Streamable HTTP sessions per IP and per API key, and a default cap per IP."""

from django.db import migrations, models

import ops.models

# A client past it has its own oldest idle session ended (mcp_gateway.quota); one host can no longer fill a
# process with sessions it never closes.
DEFAULTS = [("sessions-per-ip", "sessions_per_ip", "*", "1000/h")]


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    rule = apps.get_model("ops", "RateLimitRule")
    for name, scope, endpoint, rate in DEFAULTS:
        rule.objects.get_or_create(name=name, defaults={"scope": scope, "endpoint": endpoint, "rate": rate})


def remove(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("ops", "RateLimitRule").objects.filter(name__in=[name for name, *_ in DEFAULTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("ops", "0003_connection_process_index")]

    operations = [
        migrations.AlterField(
            model_name="ratelimitrule",
            name="rate",
            field=models.CharField(
                help_text=(
                    "Requests per period, like 1000/h or 5/m. For concurrent streams and live sessions, the count "
                    "alone counts (100/h = 100)."
                ),
                max_length=20,
                validators=[ops.models.validate_rate],
            ),
        ),
        migrations.AlterField(
            model_name="ratelimitrule",
            name="scope",
            field=models.CharField(
                choices=[
                    ("ip", "per IP"),
                    ("key", "per API key"),
                    ("global", "global (all clients together)"),
                    ("streams_per_ip", "concurrent streams per IP"),
                    ("sessions_per_ip", "live sessions per IP"),
                    ("sessions_per_key", "live sessions per API key"),
                ],
                default="ip",
                max_length=20,
            ),
        ),
        migrations.RunPython(create, remove),
    ]
