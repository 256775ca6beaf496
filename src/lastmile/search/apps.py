from django.apps import AppConfig


class SearchConfig(AppConfig):
    name = "lastmile.search"
    label = "search"
    verbose_name = "Search"
