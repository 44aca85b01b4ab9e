"""The origin's validators kept with each indexed page, for the crawl's conditional refresh.

Nullable columns without a default: SQLite adds them with ALTER TABLE (no table rebuild), so the FTS5
triggers of 0003 stay in place.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("docs_proxy", "0003_indexedpage_fulltext")]

    operations = [
        migrations.AddField(
            model_name="indexedpage",
            name="etag",
            field=models.CharField(blank=True, max_length=1024, null=True),
        ),
        migrations.AddField(
            model_name="indexedpage",
            name="last_modified",
            field=models.CharField(blank=True, max_length=128, null=True),
        ),
    ]
