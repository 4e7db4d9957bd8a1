from django.apps import AppConfig


class WorkflowConfig(AppConfig):
    name = "integrations.workflow"
    label = "workflow"
    verbose_name = "Workflow rules and tasks"
