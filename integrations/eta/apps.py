from django.apps import AppConfig


class EtaConfig(AppConfig):
    name = "integrations.eta"
    label = "eta"
    verbose_name = "Predictive ETA"
