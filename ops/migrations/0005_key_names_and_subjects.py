"""API key names without ":" (OAuth principals are "oauth:<subject>"); the connections' key column holds either."""

from django.db import migrations, models

import ops.models


class Migration(migrations.Migration):
    dependencies = [
        ("ops", "0004_session_scopes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="apikey",
            name="name",
            field=models.CharField(max_length=100, unique=True, validators=[ops.models.validate_key_name]),
        ),
        migrations.AlterField(
            model_name="connection",
            name="key_name",
            field=models.CharField(blank=True, max_length=255, verbose_name="key or subject"),
        ),
    ]
