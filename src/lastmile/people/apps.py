from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "lastmile.people"
    label = "people"
    verbose_name = "People"
