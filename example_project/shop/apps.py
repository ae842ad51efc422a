"""App config of the shop: starts the StockKeeper service."""

from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    """Create the shop's follower service once the models are ready."""

    name = "example_project.shop"
    label = "shop"
    verbose_name = "berryMQ shop demo"

    def ready(self) -> None:
        """Create the StockKeeper and import the views, so both follow from start-up."""
        from example_project.shop import views  # noqa: F401  (ActivityView's class followers)
        from example_project.shop.services import StockKeeper

        # Held here for the life of the process: a FollowerMixin instance receives
        # only while something references it.
        self.stock_keeper = StockKeeper()
