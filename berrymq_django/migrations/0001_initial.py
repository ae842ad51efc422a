"""The durable outbox's table (berrymq_django.outbox)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = ()

    operations = (
        migrations.CreateModel(
            name="OutboxMessage",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("destination", models.CharField(max_length=255)),
                ("identifier", models.TextField()),
                ("uid", models.CharField(max_length=64)),
                ("payload", models.TextField()),
                ("created", models.FloatField()),
                ("state", models.SmallIntegerField(default=0)),
                ("error", models.TextField(blank=True, default="")),
                ("finished", models.FloatField(blank=True, null=True)),
            ],
            options={
                "db_table": "berrymq_outbox",
                "indexes": [
                    models.Index(
                        fields=["state", "destination", "id"], name="berrymq_outbox_pending"
                    ),
                ],
            },
        ),
    )
