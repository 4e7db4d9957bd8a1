from django.apps import AppConfig


class ExceptionsConfig(AppConfig):
    name = "integrations.exceptions"
    label = "exceptions"
    verbose_name = "Exceptions"
