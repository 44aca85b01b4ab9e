from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("docs_proxy", "0001_docs_cache_table")]

    operations = [
        migrations.CreateModel(
            name="IndexedPage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("url", models.CharField(max_length=2048, unique=True)),
                ("partition", models.CharField(db_index=True, max_length=16)),
                ("guide", models.CharField(db_index=True, max_length=2048)),
                ("title", models.TextField()),
                ("headings", models.TextField(blank=True)),
                ("body", models.TextField(blank=True)),
                ("indexed_at", models.DateTimeField(auto_now=True, db_index=True)),
            ],
            options={"verbose_name": "indexed page"},
        ),
    ]
