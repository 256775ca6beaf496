from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "lastmile.knowledge"
    label = "knowledge"
    verbose_name = "Knowledge base"
