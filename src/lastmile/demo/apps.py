from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo: no tables of its own, only the ``seed_demo`` command and what it seeds."""

    name = "lastmile.demo"
    label = "demo"
    verbose_name = "Demo data"
