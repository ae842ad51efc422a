"""The proxy and multi-table child of the shop's Order that the model event tests use."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = (("shop", "0001_initial"),)

    operations = (
        migrations.CreateModel(
            name="GiftOrder",
            fields=[
                (
                    "order_ptr",
                    models.OneToOneField(
                        auto_created=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        parent_link=True,
                        primary_key=True,
                        serialize=False,
                        to="shop.order",
                    ),
                ),
                ("note", models.CharField(default="", max_length=100)),
            ],
            bases=("shop.order",),
        ),
        migrations.CreateModel(
            name="RushOrder",
            fields=[],
            options={
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("shop.order",),
        ),
        migrations.CreateModel(
            name="RushGiftOrder",
            fields=[],
            options={
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("berrymq_testapp.giftorder",),
        ),
    )
