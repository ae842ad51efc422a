"""The packed status, and which worker process did each step of an order."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = (("shop", "0002_seed_products"),)

    operations = (
        migrations.AlterField(
            model_name="order",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "pending"),
                    ("reserved", "reserved"),
                    ("backordered", "backordered"),
                    ("packed", "packed"),
                    ("shipped", "shipped"),
                    ("cancelled", "cancelled"),
                ],
                default="pending",
                max_length=12,
            ),
        ),
        migrations.AddField(
            model_name="order",
            name="reserved_by",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="order",
            name="packed_by",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="order",
            name="shipped_by",
            field=models.CharField(blank=True, max_length=40),
        ),
    )
